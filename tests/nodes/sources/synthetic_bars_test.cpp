#include "node_harness.hpp"
#include "random_walk.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using qflow::SourceStatus;
using qflow::testing::NodeError;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness synthetic(std::map<std::string, std::string> params) {
  return NodeHarness(plugin_path("qflow_sources"), "source.synthetic_bars", params);
}

// Runs the source to the end in calls of `chunk`, checking the per-call limit and the status.
std::vector<qf_event> drain(NodeHarness& h, uint32_t chunk) {
  std::vector<qf_event> out;
  for (;;) {
    SourceStatus st = SourceStatus::idle;
    const auto part = h.produce(chunk, &st);
    REQUIRE(part.size() <= chunk);
    for (const auto& o : part) out.push_back(o.ev);
    if (st == SourceStatus::done) break;
    REQUIRE(st == SourceStatus::more);
    REQUIRE(part.size() == chunk);
  }
  return out;
}

bool same_bars(const std::vector<qf_event>& a, const std::vector<qf_event>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].time_ns != b[i].time_ns || a[i].symbol != b[i].symbol ||
        std::memcmp(&a[i].u.bar, &b[i].u.bar, sizeof(qf_bar)) != 0)
      return false;
  return true;
}

}  // namespace

TEST_CASE("source.synthetic_bars: exact count, times start + i * interval, symbol") {
  auto h = synthetic({{"bars", "1000"}, {"interval", "5m"}, {"start", "2021-03-04T05:06:07Z"}});
  h.start();
  const auto got = drain(h, 333);
  REQUIRE(got.size() == 1000);
  const int64_t start = qflow::parse_time("2021-03-04T05:06:07Z").value();
  const int64_t five_minutes = 300'000'000'000;
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].kind == QF_KIND_BAR);
    REQUIRE(got[i].time_ns == start + static_cast<int64_t>(i) * five_minutes);
    REQUIRE(got[i].u.bar.interval_ns == five_minutes);
    REQUIRE(got[i].symbol == h.intern("SYN"));
  }
  CHECK(h.progress() == 1.0);
  SourceStatus st = SourceStatus::more;
  CHECK(h.produce(10, &st).empty());
  CHECK(st == SourceStatus::done);

  auto one = synthetic({{"bars", "1"}, {"symbol", "ABC"}});
  one.start();
  const auto single = drain(one, 5);
  REQUIRE(single.size() == 1);
  CHECK(one.lookup(single[0].symbol) == "ABC");
  CHECK(single[0].time_ns == qflow::parse_time("2020-01-01T00:00:00Z").value());
  CHECK(single[0].u.bar.interval_ns == 60'000'000'000);
  CHECK(single[0].u.bar.open == 100.0);
}

TEST_CASE("source.synthetic_bars: every bar is a valid OHLCV bar chained to the previous close") {
  for (const char* vol : {"0", "0.001", "0.05", "0.5", "1"}) {
    for (const char* drift : {"0", "0.001", "-0.3"}) {
      INFO("volatility " << vol << ", drift " << drift);
      auto h = synthetic({{"bars", "20000"}, {"volatility", vol}, {"drift", drift}, {"start_price", "3.5"}, {"seed", "11"}});
      h.start();
      const auto got = drain(h, 4096);
      REQUIRE(got.size() == 20000);
      CHECK(got[0].u.bar.open == 3.5);
      for (size_t i = 0; i < got.size(); ++i) {
        const qf_bar& b = got[i].u.bar;
        REQUIRE(std::isfinite(b.open));
        REQUIRE(std::isfinite(b.high));
        REQUIRE(b.low > 0);
        REQUIRE(b.low <= std::min(b.open, b.close));
        REQUIRE(b.high >= std::max(b.open, b.close));
        REQUIRE(b.volume > 0);
        if (i > 0) REQUIRE(b.open == got[i - 1].u.bar.close);
      }
      if (std::string(vol) == "0") {
        // No noise: every return is the drift, up to rounding, until the 1e-12 price floor.
        const double d = std::stod(drift);
        for (const auto& e : got)
          if (e.u.bar.open * (1 + d) > 1e-11) REQUIRE(std::abs(e.u.bar.close / e.u.bar.open - 1.0 - d) < 1e-15);
      }
    }
  }
}

TEST_CASE("source.synthetic_bars: deterministic for a seed, different for another") {
  const auto run = [](const std::map<std::string, std::string>& p) {
    auto h = synthetic(p);
    h.start();
    return drain(h, 1000);
  };
  const auto a = run({{"bars", "5000"}, {"seed", "7"}});
  const auto b = run({{"bars", "5000"}, {"seed", "7"}});
  const auto c = run({{"bars", "5000"}, {"seed", "8"}});
  CHECK(same_bars(a, b));
  CHECK_FALSE(same_bars(a, c));
  size_t equal_closes = 0;
  for (size_t i = 0; i < a.size(); ++i) equal_closes += a[i].u.bar.close == c[i].u.bar.close;
  CHECK(equal_closes < 10);
  // Chunking does not change the stream.
  auto h = synthetic({{"bars", "5000"}, {"seed", "7"}});
  h.start();
  CHECK(same_bars(a, drain(h, 1)));
  // seed 0 takes the pipeline seed, which the harness sets to 42.
  CHECK(same_bars(run({{"bars", "5000"}}), run({{"bars", "5000"}, {"seed", "42"}})));
  CHECK_FALSE(same_bars(run({{"bars", "5000"}}), a));
}

TEST_CASE("source.synthetic_bars: returns have the requested mean and standard deviation") {
  const double volatility = 0.001, drift = 0.0002;
  const int n = 1'000'000;
  auto h = synthetic({{"bars", std::to_string(n)}, {"volatility", "0.001"}, {"drift", "0.0002"}, {"seed", "2024"}});
  h.start();
  double sum = 0, sum_sq = 0, sum_4 = 0;
  int count = 0, within_one_sd = 0;
  SourceStatus st = SourceStatus::more;
  while (st != SourceStatus::done) {
    for (const auto& o : h.produce(65536, &st)) {
      const double r = o.ev.u.bar.close / o.ev.u.bar.open - 1.0;
      sum += r;
      sum_sq += r * r;
      const double z = (r - drift) / volatility;
      sum_4 += z * z * z * z;
      within_one_sd += std::abs(z) < 1.0;
      ++count;
    }
  }
  REQUIRE(count == n);
  const double mean = sum / n;
  const double sd = std::sqrt((sum_sq - n * mean * mean) / (n - 1));
  // Standard error of the mean: 0.001 / sqrt(1e6) = 1e-6; of the deviation about 7e-7.
  CHECK(std::abs(mean - drift) < 5e-6);
  CHECK(std::abs(sd / volatility - 1.0) < 0.005);
  // Bell-shaped, as four summed uniforms are: 66.9% within one deviation (normal 68.3%, a single
  // uniform 57.7%) and kurtosis 3 - 6/20 = 2.7 (normal 3, a uniform 1.8).
  CHECK(static_cast<double>(within_one_sd) / n == Approx(0.669).margin(0.004));
  CHECK(sum_4 / n == Approx(2.7).margin(0.05));
}

TEST_CASE("source.synthetic_bars: restore mid-stream equals never stopping") {
  const std::map<std::string, std::string> p{{"bars", "10000"}, {"seed", "99"}, {"volatility", "0.01"}};
  auto whole = synthetic(p);
  whole.start();
  const auto want = drain(whole, 1024);

  auto first = synthetic(p);
  first.start();
  std::vector<qf_event> got;
  for (const auto& o : first.produce(2500, nullptr)) got.push_back(o.ev);
  for (const auto& o : first.produce(1234, nullptr)) got.push_back(o.ev);
  const std::string state = first.save_state();

  auto second = synthetic(p);
  second.restore_state(state);
  second.start();
  for (const auto& e : drain(second, 1000)) got.push_back(e);
  CHECK(same_bars(got, want));
  CHECK_THROWS_WITH(second.restore_state(state.substr(0, 10)), "node state is truncated");

  auto shorter = synthetic({{"bars", "100"}, {"seed", "99"}});
  CHECK_THROWS_WITH(shorter.restore_state(state), Catch::Contains("past the configured number of bars"));
}

TEST_CASE("source.synthetic_bars: resumed before the first bar, mid-stream and after the last equals never stopping") {
  const std::map<std::string, std::string> p{{"bars", "300"}, {"seed", "5"}, {"volatility", "0.02"}, {"symbol", "SYN.X"}};
  auto whole = synthetic(p);
  whole.start();
  const auto want = drain(whole, 1);
  REQUIRE(want.size() == 300);
  for (const size_t cut : {0u, 1u, 150u, 299u, 300u}) {
    INFO("cut before bar " << cut);
    std::vector<qf_event> got;
    std::string state;
    {
      auto first = synthetic(p);
      first.start();
      for (size_t i = 0; i < cut; ++i)
        for (const auto& o : first.produce(1, nullptr)) got.push_back(o.ev);
      state = first.save_state();
    }
    auto second = synthetic(p);
    second.intern("a symbol only this process knows");  // the bars' symbol gets another id
    second.restore_state(state);
    second.start();
    for (qf_event e : drain(second, 7)) {
      CHECK(second.lookup(e.symbol) == "SYN.X");
      e.symbol = want[0].symbol;
      got.push_back(e);
    }
    CHECK(same_bars(got, want));
  }
}

TEST_CASE("source.synthetic_bars: RandomWalk generates in memory the node's bars") {
  auto h = synthetic({{"bars", "10000"}, {"seed", "7"}, {"start_price", "250"}, {"volatility", "0.02"}, {"drift", "0.0001"}});
  h.start();
  const auto got = drain(h, 4096);
  qflow::nodes::RandomWalk walk(250, 0.02, 0.0001, 7);
  REQUIRE(got.size() == 10000);
  for (const auto& e : got) {
    qf_bar b = walk.next();
    b.interval_ns = e.u.bar.interval_ns;
    REQUIRE(std::memcmp(&b, &e.u.bar, sizeof b) == 0);
  }
  // State round trip inside the header as well.
  qflow::nodes::RandomWalk copy(1, 0.02, 0.0001, 0);
  copy.restore(walk.state());
  for (int i = 0; i < 100; ++i) {
    const qf_bar x = walk.next(), y = copy.next();
    REQUIRE(std::memcmp(&x, &y, sizeof x) == 0);
  }
}

TEST_CASE("source.synthetic_bars: impossible parameters are refused at creation") {
  CHECK_THROWS_WITH(synthetic({{"bars", "0"}}), Catch::Contains("bars must be at least 1"));
  CHECK_THROWS_WITH(synthetic({{"bars", "10"}, {"volatility", "1.5"}}), Catch::Contains("volatility must be in [0, 1]"));
  CHECK_THROWS_WITH(synthetic({{"bars", "10"}, {"start_price", "0"}}), Catch::Contains("start_price must be positive"));
  CHECK_THROWS_WITH(synthetic({{"bars", "1000000000"}, {"interval", "1d"}}), Catch::Contains("beyond int64 nanoseconds"));
}
