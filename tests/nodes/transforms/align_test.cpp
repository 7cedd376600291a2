// transform.align against hand-worked cases and against an independent join (plain loops over
// maps of time -> bar) of the real BTC and ETH minute files with rows removed.
#include "transform_test_support.hpp"

#include <map>
#include <memory>
#include <set>

using namespace transform_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness align(std::map<std::string, std::string> params, std::vector<qflow::testing::HarnessSlot> slots = {{"bars", "src"}}) {
  return NodeHarness(plugin_path("qflow_transforms"), "transform.align", params, std::move(slots));
}

constexpr int64_t T0 = *qflow::parse_time("2024-10-01T00:00:00Z");

// A minute bar with distinct columns around `close`.
qf_event bar(uint32_t symbol, int minute, double close) {
  return qflow::make_bar(symbol, T0 + minute * kMinute, close - 1, close + 2, close - 3, close, 10 + close, kMinute);
}
BarRow real(uint32_t symbol, int minute, double close) { return row_of(bar(symbol, minute, close)); }
BarRow carried(uint32_t symbol, int minute, double close) {
  return {symbol, T0 + minute * kMinute, close, close, close, close, 0.0, kMinute};
}
using Rows = std::vector<BarRow>;

// The join the textbook way: every time any leg has a bar, in order; each leg's bar at that
// time, or (ffill) its latest earlier bar's close when at most `max_stale` old; else no row.
Rows joined(const std::vector<std::map<int64_t, qf_event>>& legs, bool ffill, int64_t max_stale) {
  std::set<int64_t> times;
  for (const auto& leg : legs)
    for (const auto& [t, e] : leg) times.insert(t);
  Rows out;
  for (int64_t t : times) {
    Rows row;
    for (const auto& leg : legs) {
      if (auto it = leg.find(t); it != leg.end()) {
        row.push_back(row_of(it->second));
        continue;
      }
      const auto next = leg.lower_bound(t);
      const qf_event* before = next == leg.begin() ? nullptr : &std::prev(next)->second;
      if (!ffill || !before || t - before->time_ns > max_stale) break;
      const double c = before->u.bar.close;
      row.emplace_back(before->symbol, t, c, c, c, c, 0.0, before->u.bar.interval_ns);
    }
    if (row.size() == legs.size()) out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace

TEST_CASE("transform.align: inner join emits complete instants in the order of symbols and drops the others") {
  auto h = align({{"symbols", "A, B"}});
  const uint32_t a = h.intern("A"), b = h.intern("B");
  h.start();
  CHECK(h.push(0, bar(a, 1, 100)).empty());
  CHECK(rows_of(h.push(0, bar(b, 1, 50))) == Rows{real(a, 1, 100), real(b, 1, 50)});  // complete: at once
  CHECK(h.push(0, bar(a, 2, 101)).empty());
  CHECK(h.push(0, bar(a, 3, 102)).empty());  // minute 2 never got B: dropped, nothing emitted
  CHECK(rows_of(h.push(0, bar(b, 3, 52))) == Rows{real(a, 3, 102), real(b, 3, 52)});
  CHECK(h.push(0, bar(b, 4, 53)).empty());
  CHECK(rows_of(h.push(0, bar(a, 4, 103))) == Rows{real(a, 4, 103), real(b, 4, 53)});  // A first, as listed
  CHECK(h.push(0, bar(a, 4, 999)).empty());  // minute 4 again: late
  CHECK(h.push(0, bar(b, 2, 999)).empty());  // minute 2: late
  CHECK(h.push(0, bar(h.intern("C"), 5, 1)).empty());  // not a leg
  CHECK(h.push(0, bar(a, 5, 104)).empty());
  CHECK(h.stop().empty());  // minute 5 has no B
  CHECK(logged(h, "emitted 3 instants, dropped 2 with a missing leg"));
  CHECK(logged(h, "skipped 2 late or repeated bars"));
  CHECK(logged(h, "ignored 1 events not of a leg (first: bar of C)"));
}

TEST_CASE("transform.align: ffill carries a leg's close within max_stale and drops the instant beyond") {
  auto h = align({{"symbols", "A,B"}, {"mode", "ffill"}, {"max_stale", "2m"}});
  const uint32_t a = h.intern("A"), b = h.intern("B");
  h.start();
  CHECK(rows_of(h.push(0, bar(a, 1, 100))).empty());
  CHECK(rows_of(h.push(0, bar(b, 1, 50))) == Rows{real(a, 1, 100), real(b, 1, 50)});
  CHECK(h.push(0, bar(a, 2, 101)).empty());
  // Minute 2 is decided when minute 3 arrives: B's bar of minute 1 is 1m old, carried.
  CHECK(rows_of(h.push(0, bar(a, 3, 102))) == Rows{real(a, 2, 101), carried(b, 2, 50)});
  // 2m old: still carried (carrying does not renew it).
  CHECK(rows_of(h.push(0, bar(a, 4, 103))) == Rows{real(a, 3, 102), carried(b, 3, 50)});
  CHECK(h.push(0, bar(a, 5, 104)).empty());  // minute 4: B is 3m old, dropped
  CHECK(h.push(0, bar(b, 6, 56)).empty());   // minute 5: dropped too
  CHECK(rows_of(h.push(0, bar(a, 6, 106))) == Rows{real(a, 6, 106), real(b, 6, 56)});
  CHECK(h.push(0, bar(b, 7, 57)).empty());
  CHECK(rows_of(h.stop()) == Rows{carried(a, 7, 106), real(b, 7, 57)});  // the last instant, at stop
  CHECK(logged(h, "emitted 5 instants, dropped 2 with a missing leg, carried 3 legs forward"));

  // A leg never seen cannot be carried; max_stale 0 carries whatever the age.
  auto fresh = align({{"symbols", "A,B"}, {"mode", "ffill"}});
  const uint32_t fa = fresh.intern("A"), fb = fresh.intern("B");
  fresh.start();
  CHECK(fresh.push(0, bar(fa, 1, 100)).empty());
  CHECK(fresh.push(0, bar(fa, 2, 101)).empty());  // minute 1 dropped: no B yet
  CHECK(rows_of(fresh.push(0, bar(fb, 2, 50))) == Rows{real(fa, 2, 101), real(fb, 2, 50)});
  CHECK(fresh.push(0, bar(fa, 900, 102)).empty());
  CHECK(rows_of(fresh.stop()) == Rows{real(fa, 900, 102), carried(fb, 900, 50)});
}

TEST_CASE("transform.align: BTC and ETH minutes with rows removed equal an independent join") {
  auto btc = load_minutes("binance_spot_btcusdt_1m_2024q4.csv", 1, 6000);
  auto eth = load_minutes("binance_spot_ethusdt_1m_2024q4.csv", 2, 6000);
  std::vector<std::map<int64_t, qf_event>> legs(2);
  for (size_t i = 0; i < btc.size(); ++i) {
    const bool btc_gone = i % 97 == 5 || (i >= 1000 && i < 1010);
    const bool eth_gone = i % 89 == 7 || (i >= 2000 && i < 2030) || i == 5999;
    if (!btc_gone) legs[0].emplace(btc[i].time_ns, btc[i]);
    if (!eth_gone) legs[1].emplace(eth[i].time_ns, eth[i]);
  }
  REQUIRE(legs[0].size() < btc.size());
  REQUIRE(legs[1].size() < eth.size());

  // Two sources wired to the one input, merged in time order (BTC first on equal times).
  const auto run_join = [&](std::map<std::string, std::string> params) {
    auto h = align(params, {{"bars", "btc"}, {"bars", "eth"}});
    REQUIRE(h.intern("BTCUSDT") == 1);
    REQUIRE(h.intern("ETHUSDT") == 2);
    h.start();
    Rows out;
    for (size_t i = 0; i < btc.size(); ++i)
      for (uint32_t leg : {0u, 1u})
        if (auto it = legs[leg].find(btc[i].time_ns); it != legs[leg].end())
          for (const BarRow& r : rows_of(h.push(leg, it->second))) out.push_back(r);
    for (const BarRow& r : rows_of(h.stop())) out.push_back(r);
    return out;
  };

  const Rows inner = run_join({{"symbols", "BTCUSDT,ETHUSDT"}});
  CHECK(inner == joined(legs, false, 0));
  CHECK(inner.size() / 2 < legs[0].size());

  const Rows ffill = run_join({{"symbols", "BTCUSDT,ETHUSDT"}, {"mode", "ffill"}, {"max_stale", "5m"}});
  CHECK(ffill == joined(legs, true, 5 * kMinute));
  CHECK(ffill.size() > inner.size());
  CHECK(ffill.size() < 2 * btc.size());  // ETH's 30-minute hole is beyond 5m

  // The order of `symbols` is the order of the output.
  const Rows reversed = run_join({{"symbols", "ETHUSDT,BTCUSDT"}});
  REQUIRE(reversed.size() == inner.size());
  for (size_t i = 0; i < inner.size(); i += 2) {
    CHECK(reversed[i] == inner[i + 1]);
    CHECK(reversed[i + 1] == inner[i]);
  }
}

TEST_CASE("transform.align: save and restore continue identically") {
  std::vector<qf_event> events;  // A every minute, B with holes of 1 and 4 minutes
  for (int m = 0; m < 40; ++m) {
    events.push_back(bar(1, m, 100 + m));
    if (m % 7 != 3 && (m < 20 || m > 23)) events.push_back(bar(2, m, 50 + m));
  }
  const std::map<std::string, std::string> params{{"symbols", "A,B"}, {"mode", "ffill"}, {"max_stale", "2m"}};
  const auto fresh = [&] {
    auto h = std::make_unique<NodeHarness>(plugin_path("qflow_transforms"), "transform.align", params,
                                           std::vector<qflow::testing::HarnessSlot>{{"bars", "src"}});
    REQUIRE(h->intern("A") == 1);
    REQUIRE(h->intern("B") == 2);
    return h;
  };
  const auto whole = fresh();
  const Rows want = run(*whole, events);
  REQUIRE(want.size() > 40);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{2}, size_t{9}, size_t{40}, size_t{45}, events.size()}) {
    INFO("cut at " << cut);
    auto first = fresh();
    first->start();
    Rows got;
    for (size_t i = 0; i < cut; ++i)
      for (const BarRow& r : rows_of(first->push(0, events[i]))) got.push_back(r);
    auto second = fresh();
    second->restore_state(first->save_state());
    const Rows rest = run(*second, std::vector<qf_event>(events.begin() + static_cast<std::ptrdiff_t>(cut), events.end()));
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(got == want);
    CHECK(second->logs() == whole->logs());
  }
}

TEST_CASE("transform.align: an empty or repeated symbols list is refused") {
  REQUIRE_THROWS_WITH(align({{"symbols", ""}}), Catch::Contains("symbols must list the legs"));
  REQUIRE_THROWS_WITH(align({{"symbols", " "}}), Catch::Contains("symbols must list the legs"));
  REQUIRE_THROWS_WITH(align({{"symbols", "BTCUSDT,,ETHUSDT"}}), Catch::Contains("(an empty name)"));
  REQUIRE_THROWS_WITH(align({{"symbols", "BTCUSDT,ETHUSDT,BTCUSDT"}}), Catch::Contains("symbols lists 'BTCUSDT' twice"));
  REQUIRE_THROWS_AS(align({}), std::invalid_argument);  // required: the harness refuses it like the loader
}
