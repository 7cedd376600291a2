// Checks every streaming indicator owes its users, whatever it computes: two symbols
// interleaved give each symbol what it would get alone, the batch path emits exactly what one
// cycle per event emits, and a node saved at any point and restored into a fresh one continues
// exactly as if it had not stopped. Outputs are compared bit for bit (NaN equal to NaN).
#pragma once

#include "indicator_test_support.hpp"

#include <cstring>
#include <functional>
#include <utility>

namespace indicator_test {

using Emitted = std::vector<std::pair<uint32_t, double>>;  // (port, value) in emission order

inline Emitted emitted(const std::vector<qflow::testing::Output>& out) {
  Emitted e;
  for (const auto& o : out) e.emplace_back(o.port, o.ev.u.value.value);
  return e;
}

inline bool same_bits(const Emitted& a, const Emitted& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || std::memcmp(&a[i].second, &b[i].second, sizeof(double)) != 0) return false;
  return true;
}

// `make` builds a fresh node; `events` holds two or more symbols interleaved.
inline void check_streaming(const std::function<qflow::testing::NodeHarness*()>& make,
                            const std::vector<qf_event>& events, const std::vector<size_t>& cuts) {
  auto cycles = [&](qflow::testing::NodeHarness& h, const std::vector<qf_event>& evs) {
    Emitted all;
    for (const qf_event& e : evs)
      for (const auto& o : emitted(h.push(0, e))) all.push_back(o);
    return all;
  };
  std::unique_ptr<qflow::testing::NodeHarness> mixed(make());
  std::vector<std::pair<uint32_t, Emitted>> per_event;  // symbol, what that event produced
  Emitted from_cycles;
  for (const qf_event& e : events) {
    per_event.emplace_back(e.symbol, emitted(mixed->push(0, e)));
    for (const auto& o : per_event.back().second) from_cycles.push_back(o);
  }
  CHECK(!from_cycles.empty());

  // Each symbol alone.
  std::map<uint32_t, std::vector<qf_event>> by_symbol;
  for (const qf_event& e : events) by_symbol[e.symbol].push_back(e);
  CHECK(by_symbol.size() >= 2);
  for (const auto& [symbol, evs] : by_symbol) {
    INFO("symbol " << symbol);
    std::unique_ptr<qflow::testing::NodeHarness> alone(make());
    Emitted want;
    for (const auto& [s, out] : per_event)
      if (s == symbol) want.insert(want.end(), out.begin(), out.end());
    CHECK(same_bits(cycles(*alone, evs), want));
  }

  // The batch path.
  std::unique_ptr<qflow::testing::NodeHarness> batched(make());
  CHECK(same_bits(emitted(batched->push_batch(0, events)), from_cycles));

  // Saved, restored into a fresh node, continued.
  for (size_t cut : cuts) {
    INFO("cut at " << cut);
    REQUIRE(cut <= events.size());
    std::unique_ptr<qflow::testing::NodeHarness> first(make()), second(make());
    Emitted got = cycles(*first, std::vector<qf_event>(events.begin(), events.begin() + static_cast<long>(cut)));
    second->restore_state(first->save_state());
    const Emitted rest = cycles(*second, std::vector<qf_event>(events.begin() + static_cast<long>(cut), events.end()));
    got.insert(got.end(), rest.begin(), rest.end());
    CHECK(same_bits(got, from_cycles));
  }
}

// Two data sets as symbols 1 and 2, interleaved bar by bar.
inline std::vector<qf_event> interleave(const std::vector<qf_event>& a, const std::vector<qf_event>& b) {
  std::vector<qf_event> both;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size()) both.push_back(a[i]);
    if (i < b.size()) both.push_back(b[i]);
  }
  return both;
}

// |got - want| <= tol * |want| for every defined row's output k (a relative check that stays
// meaningful for small values such as returns); exact zeros must be exact.
inline void check_relative(const Rows& got, const Rows& want, size_t k, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].has_value() == want[i].has_value());
    if (!got[i]) continue;
    const double w = (*want[i])[k], g = (*got[i])[k];
    const double err = w == 0 ? std::abs(g) : std::abs(g - w) / std::abs(w);
    if (std::isnan(err) || err > worst) worst = std::isnan(err) ? INFINITY : err, worst_at = i;
  }
  INFO("worst relative error " << worst << " at input " << worst_at);
  CHECK(worst <= tol);
}

// ln(x / y) in long double, accurate to ~1e-19 relative even for a cent on 70,000: x - y of
// two doubles is exact in long double, where the rounded ratio x / y would leave an absolute
// error of ~5e-20, as large as the variation between such returns.
inline long double ln_ratio(double x, double y) {
  return std::log1p((static_cast<long double>(x) - static_cast<long double>(y)) / static_cast<long double>(y));
}

// Bars of a Binance minute CSV with their real UTC open times (load_bars numbers them 1..N).
inline std::vector<qf_event> load_minute_bars_timed(const std::string& path, uint32_t symbol, size_t limit) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  std::vector<qf_event> out;
  while (out.size() < limit && std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    std::getline(row, cell, ',');
    const auto t = qflow::parse_time(cell);
    REQUIRE(t.has_value());
    std::vector<double> v;
    while (std::getline(row, cell, ',')) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 5);
    out.push_back(qflow::make_bar(symbol, *t, v[0], v[1], v[2], v[3], v[4], 60'000'000'000));
  }
  return out;
}

}  // namespace indicator_test
