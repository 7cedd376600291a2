// Shared by the transform tests: the real data sets of ../shared/data as events with their real
// UTC times, ticks, and running a transform node through the node harness up to its stop().
#pragma once

#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <qflow/events.hpp>
#include <qflow/time.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace transform_test {

inline constexpr int64_t kSecond = 1'000'000'000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

inline std::string data(const std::string& file) { return std::string(QFLOW_SHARED_DATA_DIR) + "/" + file; }

// An ISO 8601 UTC instant in ns.
inline int64_t at(const std::string& iso) {
  const auto t = qflow::parse_time(iso);
  REQUIRE(t.has_value());
  return *t;
}

// Bars of a Binance minute CSV (timestamp,open,high,low,close,volume) at their real open times.
inline std::vector<qf_event> load_minutes(const std::string& file, uint32_t symbol, size_t limit = SIZE_MAX) {
  std::ifstream in(data(file));
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<qf_event> out;
  while (out.size() < limit && std::getline(in, line)) {
    std::stringstream row(line);
    std::string time, cell;
    std::getline(row, time, ',');
    std::vector<double> v;
    while (std::getline(row, cell, ',')) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 5);
    out.push_back(qflow::make_bar(symbol, at(time), v[0], v[1], v[2], v[3], v[4], kMinute));
  }
  return out;
}

inline qf_event tick(uint32_t symbol, int64_t t, double price, double size) {
  qf_event ev = qflow::make_event(qflow::Kind::tick, symbol, t);
  ev.u.tick.price = price;
  ev.u.tick.size = size;
  return ev;
}

// The trade ticks of backtrader_ticksample.csv (Datetime,Open,High,Low,Close,Volume,OpenInterest;
// O = H = L = C is the trade price, Volume its size).
inline std::vector<qf_event> load_ticks(uint32_t symbol) {
  std::ifstream in(data("backtrader_ticksample.csv"));
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<qf_event> out;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string time, cell;
    std::getline(row, time, ',');
    std::vector<double> v;
    while (std::getline(row, cell, ',')) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 6);
    out.push_back(tick(symbol, at(time), v[3], v[4]));
  }
  return out;
}

// Trades derived from minute bars, for tick-level tests on real prices: each minute gives four
// ticks of a quarter of its volume, at :00 the open, at :15 and :30 the low then the high (the
// high then the low when the bar closes down), at :45 the close.
inline std::vector<qf_event> ticks_of_minutes(const std::vector<qf_event>& minutes) {
  std::vector<qf_event> out;
  for (const qf_event& m : minutes) {
    const qf_bar& b = m.u.bar;
    const bool up = b.close >= b.open;
    const double prices[] = {b.open, up ? b.low : b.high, up ? b.high : b.low, b.close};
    for (int k = 0; k < 4; ++k) out.push_back(tick(m.symbol, m.time_ns + k * 15 * kSecond, prices[k], b.volume / 4));
  }
  return out;
}

// The events of `symbol` only, in order.
inline std::vector<qf_event> events_of(const std::vector<qf_event>& events, uint32_t symbol) {
  std::vector<qf_event> out;
  for (const qf_event& e : events)
    if (e.symbol == symbol) out.push_back(e);
  return out;
}

// A bar as comparable fields: symbol, time, open, high, low, close, volume, interval.
using BarRow = std::tuple<uint32_t, int64_t, double, double, double, double, double, int64_t>;

inline BarRow row_of(const qf_event& e) {
  REQUIRE(e.kind == QF_KIND_BAR);
  const qf_bar& b = e.u.bar;
  return {e.symbol, e.time_ns, b.open, b.high, b.low, b.close, b.volume, b.interval_ns};
}

inline std::vector<BarRow> rows_of(const std::vector<qflow::testing::Output>& out) {
  std::vector<BarRow> rows;
  for (const auto& o : out) {
    REQUIRE(o.port == 0);
    rows.push_back(row_of(o.ev));
  }
  return rows;
}

// The bars of `symbol` only, in order.
inline std::vector<BarRow> bars_of(const std::vector<BarRow>& rows, uint32_t symbol) {
  std::vector<BarRow> out;
  for (const BarRow& r : rows)
    if (std::get<0>(r) == symbol) out.push_back(r);
  return out;
}

// Every event pushed on slot 0, one cycle each, then stop(): all bars emitted, in order.
inline std::vector<BarRow> run(qflow::testing::NodeHarness& h, const std::vector<qf_event>& events) {
  h.start();
  std::vector<BarRow> rows;
  for (const qf_event& e : events)
    for (const BarRow& r : rows_of(h.push(0, e))) rows.push_back(r);
  for (const BarRow& r : rows_of(h.stop())) rows.push_back(r);
  return rows;
}

// Bars by their symbol's name in `h`, symbol ids zeroed: runs whose hosts numbered the symbols
// differently compare equal when they made the same bars.
inline std::map<std::string, std::vector<BarRow>> by_name(const qflow::testing::NodeHarness& h,
                                                          const std::vector<BarRow>& rows) {
  std::map<std::string, std::vector<BarRow>> out;
  for (BarRow r : rows) {
    const std::string name(h.lookup(std::get<0>(r)));
    std::get<0>(r) = 0;
    out[name].push_back(r);
  }
  return out;
}

// A run interrupted after `cut` events: `make()` builds a node, which interns `names` in order
// (the ids `events` carry) and takes events[0, cut); its state goes into a second node whose host
// interned another symbol first and `names` in reverse order, so every symbol has another id
// there, and which takes the rest with their ids translated by name, then stops. Bars by name.
template <class Make>
std::map<std::string, std::vector<BarRow>> run_resumed(Make make, const std::vector<std::string>& names,
                                                       const std::vector<qf_event>& events, size_t cut) {
  qflow::testing::NodeHarness first = make();
  for (const std::string& n : names) first.intern(n);
  first.start();
  std::vector<BarRow> before;
  for (size_t i = 0; i < cut; ++i)
    for (const BarRow& r : rows_of(first.push(0, events[i]))) before.push_back(r);
  const std::string state = first.save_state();

  qflow::testing::NodeHarness second = make();
  second.intern("ANOTHER");
  for (auto n = names.rbegin(); n != names.rend(); ++n) second.intern(*n);
  second.restore_state(state);
  std::vector<qf_event> rest(events.begin() + static_cast<std::ptrdiff_t>(cut), events.end());
  for (qf_event& e : rest) e.symbol = second.intern(first.lookup(e.symbol));
  auto out = by_name(first, before);
  for (auto& [name, rows] : by_name(second, run(second, rest))) out[name].insert(out[name].end(), rows.begin(), rows.end());
  return out;
}

// Whether some log line holds `text`.
inline bool logged(const qflow::testing::NodeHarness& h, const std::string& text) {
  for (const std::string& l : h.logs())
    if (l.find(text) != std::string::npos) return true;
  return false;
}

// Equal bars: symbol, time, interval, open, high, low and close exactly; volume to 1e-12
// relative (a sum, whose last bits depend on the order of additions).
inline void check_bars(const std::vector<BarRow>& got, const std::vector<BarRow>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const auto& [gs, gt, go, gh, gl, gc, gv, gi] = got[i];
    const auto& [ws, wt, wo, wh, wl, wc, wv, wi] = want[i];
    INFO("bar " << i << " at " << qflow::format_time(wt));
    REQUIRE(gs == ws);
    REQUIRE(qflow::format_time(gt) == qflow::format_time(wt));
    REQUIRE(gi == wi);
    REQUIRE(go == wo);
    REQUIRE(gh == wh);
    REQUIRE(gl == wl);
    REQUIRE(gc == wc);
    REQUIRE(gv == Approx(wv).epsilon(1e-12).margin(1e-12));
  }
}

}  // namespace transform_test
