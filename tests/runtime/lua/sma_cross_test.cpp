// scripts/strategies/sma_cross.lua on a hand-made series: orders exactly at the crosses, found
// here independently from sign changes of fast - slow.
#include "lua_test_support.hpp"

#include <catch2/catch.hpp>

#include <optional>

using namespace qflow::testing;
using namespace qflow::testing::lua;

namespace {

const std::string kScript = std::string(QFLOW_SOURCE_DIR) + "/scripts/strategies/sma_cross.lua";

// Rises, falls, goes flat long enough for both averages to be equal (a zero diff that is not a
// cross), dips and comes back (the last non-zero diff decides), then zig-zags.
const std::vector<double> kCloses = {
    10, 11, 12, 13, 14, 15, 14, 13, 12, 11, 10, 9,  8,  8,  8,  8,  8,  8,  9,  10, 11, 12,
    12, 12, 12, 12, 12, 12, 11, 10, 10, 10, 10, 10, 10, 10, 11, 13, 15, 14, 12, 10, 9,  11,
    14, 16, 15, 13, 10, 8,  9,  12, 15, 17, 16, 14, 11, 9,  8,  8,  9,  10};
constexpr size_t kFast = 3, kSlow = 5;

std::optional<double> sma(size_t end, size_t n) {
  if (end + 1 < n) return std::nullopt;
  double s = 0;
  for (size_t i = end + 1 - n; i <= end; ++i) s += kCloses[i];
  return s / static_cast<double>(n);
}

struct Cross {
  size_t bar;
  int direction;  // +1 up, -1 down
};

// A cross is where the sign of fast - slow differs from the last non-zero sign seen before.
std::vector<Cross> crosses() {
  std::vector<Cross> out;
  int last_sign = 0;
  for (size_t t = 0; t < kCloses.size(); ++t) {
    const auto f = sma(t, kFast), s = sma(t, kSlow);
    if (!f || !s) continue;
    const int sign = (*f > *s) - (*f < *s);
    if (sign == 0) continue;
    if (last_sign != 0 && sign != last_sign) out.push_back({t, sign});
    last_sign = sign;
  }
  return out;
}

struct Placed {
  size_t bar;
  int32_t side;
  double quantity;
};

// Runs the script over the series. `respond(order, bar)` says what the executor sends back at
// the open of the next bar: a fill (true) or a rejection (false); nullopt sends nothing.
template <class Respond>
std::vector<Placed> run(const std::map<std::string, std::string>& params, Respond respond) {
  NodeHarness h = lua_node(kScript, params, {bar_slot("bars"), value_slot("fast"), value_slot("slow")});
  const uint32_t sym = h.intern("ORCL");
  h.start();
  std::vector<Placed> placed;
  std::vector<qf_order> waiting;
  for (size_t t = 0; t < kCloses.size(); ++t) {
    const auto time = static_cast<int64_t>(t + 1) * 60'000'000'000;
    for (const qf_order& o : waiting) {
      const std::optional<bool> filled = respond(o, t);
      if (!filled) continue;
      if (*filled) {
        h.feedback(fill(sym, o.order_id, o.side, o.quantity, kCloses[t], 0, time));
        h.feedback(order_update(sym, o.order_id, QF_ORDER_FILLED));
      } else {
        h.feedback(order_update(sym, o.order_id, QF_ORDER_REJECTED, QF_REJECT_INSUFFICIENT_CASH));
      }
    }
    waiting.clear();
    std::vector<std::pair<uint32_t, qf_event>> in{{0, bar(sym, time, kCloses[t])}};
    if (const auto f = sma(t, kFast)) in.push_back({1, qflow::make_value(sym, *f, time)});
    if (const auto s = sma(t, kSlow)) in.push_back({2, qflow::make_value(sym, *s, time)});
    for (const Output& o : h.cycle(in)) {
      REQUIRE(o.port_name == "orders");
      REQUIRE(o.ev.u.order.type == QF_ORDER_MARKET);
      REQUIRE(o.ev.symbol == sym);
      placed.push_back({t, o.ev.u.order.side, o.ev.u.order.quantity});
      waiting.push_back(o.ev.u.order);
    }
  }
  return placed;
}

bool operator==(const Placed& a, const Placed& b) {
  return a.bar == b.bar && a.side == b.side && a.quantity == b.quantity;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Placed> {
  static std::string convert(const Placed& p) {
    return "{bar " + std::to_string(p.bar) + (p.side > 0 ? " buy " : " sell ") + std::to_string(p.quantity) + "}";
  }
};
}  // namespace Catch

TEST_CASE("sma_cross.lua: the series has the crosses this test is about") {
  const std::vector<Cross> c = crosses();
  REQUIRE(c.size() >= 6);
  CHECK(c.front().direction == -1);  // the first cross is down, while flat: no order
  // A flat stretch with equal averages sits between two crosses somewhere in the series.
  bool zero_diff = false;
  for (size_t t = 0; t < kCloses.size(); ++t)
    if (sma(t, kFast) && sma(t, kSlow) && *sma(t, kFast) == *sma(t, kSlow)) zero_diff = true;
  CHECK(zero_diff);
}

TEST_CASE("sma_cross.lua: orders exactly at the crosses when every order fills") {
  std::vector<Placed> expected;
  double held = 0;
  for (const Cross& c : crosses()) {
    if (c.direction > 0 && held == 0) {
      expected.push_back({c.bar, QF_SIDE_BUY, 250});
      held = 250;
    } else if (c.direction < 0 && held > 0) {
      expected.push_back({c.bar, QF_SIDE_SELL, held});
      held = 0;
    }
  }
  REQUIRE(expected.size() >= 4);
  const auto placed = run({{"size", "250"}}, [](const qf_order&, size_t) { return std::optional<bool>(true); });
  CHECK(placed == expected);
}

TEST_CASE("sma_cross.lua: the default size is 100 and a rejected buy leaves it flat") {
  // The first buy is rejected: the next cross down finds it flat (nothing to sell) and the
  // following cross up buys again.
  std::vector<Cross> ups;
  for (const Cross& c : crosses())
    if (c.direction > 0) ups.push_back(c);
  REQUIRE(ups.size() >= 2);
  std::vector<Placed> expected{{ups[0].bar, QF_SIDE_BUY, 100}};
  double held = 0;
  for (const Cross& c : crosses()) {
    if (c.bar <= ups[0].bar) continue;
    if (c.direction > 0 && held == 0) {
      expected.push_back({c.bar, QF_SIDE_BUY, 100});
      held = 100;
    } else if (c.direction < 0 && held > 0) {
      expected.push_back({c.bar, QF_SIDE_SELL, held});
      held = 0;
    }
  }
  bool first = true;
  const auto placed = run({}, [&](const qf_order&, size_t) {
    const bool fill = !first;
    first = false;
    return std::optional<bool>(fill);
  });
  CHECK(placed == expected);
}

TEST_CASE("sma_cross.lua: while an order is pending, crosses place nothing") {
  const auto placed = run({}, [](const qf_order&, size_t) { return std::optional<bool>(); });  // no answer ever
  std::vector<Placed> expected;
  for (const Cross& c : crosses())
    if (c.direction > 0) {
      expected.push_back({c.bar, QF_SIDE_BUY, 100});
      break;
    }
  CHECK(placed == expected);
}
