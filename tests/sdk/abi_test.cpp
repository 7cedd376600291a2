#include <qflow/sdk.hpp>

#include <catch2/catch.hpp>

#include <cstddef>

// The ABI is a promise about layout: these are the numbers a plugin compiled elsewhere relies on.
TEST_CASE("event layout is fixed") {
  STATIC_REQUIRE(sizeof(qf_event) == 80);
  STATIC_REQUIRE(offsetof(qf_event, time_ns) == 8);
  STATIC_REQUIRE(offsetof(qf_event, seq) == 16);
  STATIC_REQUIRE(offsetof(qf_event, origin) == 24);
  STATIC_REQUIRE(offsetof(qf_event, u) == 32);
  STATIC_REQUIRE(sizeof(qf_bar) == 48);
  STATIC_REQUIRE(sizeof(qf_order) == 48);
  STATIC_REQUIRE(sizeof(qf_fill) == 48);
  STATIC_REQUIRE(sizeof(qf_account) == 48);
}

TEST_CASE("kind masks") {
  const qflow::Kinds k = qflow::Kind::bar | qflow::Kind::value;
  CHECK(k.contains(qflow::Kind::bar));
  CHECK_FALSE(k.contains(qflow::Kind::order));
  CHECK(qflow::kinds_to_string(k.bits()) == "bar|value");
  CHECK(qflow::Kinds::market().contains(qflow::Kind::tick));
  CHECK(qflow::kinds_to_string(QF_KINDS_ANY) == "any");
}

TEST_CASE("state round trip and truncation") {
  std::string bytes;
  qf_state_writer w{&bytes, [](qf_state_writer* self, const void* d, size_t n) {
                      static_cast<std::string*>(self->opaque)->append(static_cast<const char*>(d), n);
                    }};
  qflow::StateWriter sw(&w);
  sw.put<double>(1.5);
  sw.put_vector(std::vector<int64_t>{1, 2, 3});
  sw.put_string("abc");
  qflow::StateReader r(bytes.data(), bytes.size());
  CHECK(r.get<double>() == 1.5);
  CHECK(r.get_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  CHECK(r.get_string() == "abc");
  CHECK(r.at_end());
  qflow::StateReader cut(bytes.data(), bytes.size() - 1);
  cut.get<double>();
  cut.get_vector<int64_t>();
  CHECK_THROWS_WITH(cut.get_string(), "node state is truncated");
}
