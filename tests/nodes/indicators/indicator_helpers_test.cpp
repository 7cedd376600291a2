// The shared helpers of nodes/indicators/indicators.hpp. RollingMax / RollingMin against a scan
// of the window at every push, in both of their ways: the rescanned ring (periods up to
// kScanUpTo) and the monotonic deque (longer), on ties, monotone runs, plateaus and real highs
// and lows, and continuing bit for bit after save and restore. log_return_of against ln in long
// double on both sides of its switch from the atanh series to log1p.
#include "indicator_test_support.hpp"

#include "../../../nodes/indicators/indicators.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace indicator_test;
using qflow::nodes::log_return_of;
using qflow::nodes::RollingMax;
using qflow::nodes::RollingMin;

namespace {

template <class Extreme, class Better>
void check_against_scan(const std::vector<double>& x, size_t period, Better better) {
  Extreme e(period);
  size_t wrong = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e.push(x[i]);
    CHECK(e.full() == (i + 1 >= period));
    double want = x[i];
    for (size_t j = i + 1 - std::min(i + 1, period); j <= i; ++j) want = better(x[j], want) ? x[j] : want;
    wrong += e.value() != want;
  }
  CHECK(wrong == 0);
}

std::vector<std::pair<std::string, std::vector<double>>> data_sets() {
  std::vector<std::pair<std::string, std::vector<double>>> sets;
  std::vector<double> ties;  // values 1, 2 or 3: ties everywhere
  uint64_t s = 7;
  for (int i = 0; i < 5'000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    ties.push_back(static_cast<double>(1 + (s >> 33) % 3));
  }
  sets.emplace_back("ties", ties);
  std::vector<double> runs;  // up 300, a plateau of 100, down 300, up again: every extreme leaves
  for (int i = 0; i < 300; ++i) runs.push_back(i);
  for (int i = 0; i < 100; ++i) runs.push_back(300);
  for (int i = 300; i > 0; --i) runs.push_back(i);
  for (int i = 0; i < 300; ++i) runs.push_back(i);
  sets.emplace_back("monotone runs and a plateau", runs);
  const auto bars = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 20'000);
  std::vector<double> highs, lows;
  for (const auto& b : bars) highs.push_back(b.u.bar.high), lows.push_back(b.u.bar.low);
  sets.emplace_back("BTC minute highs", highs);
  sets.emplace_back("BTC minute lows", lows);
  return sets;
}

template <class Extreme>
std::vector<unsigned char> saved(const Extreme& e) {
  std::vector<unsigned char> bytes;
  qf_state_writer sink{&bytes, [](qf_state_writer* self, const void* data, size_t n) {
                         auto* out = static_cast<std::vector<unsigned char>*>(self->opaque);
                         out->insert(out->end(), static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + n);
                       }};
  qflow::StateWriter writer(&sink);
  e.save(writer);
  return bytes;
}

}  // namespace

TEST_CASE("RollingMax and RollingMin equal a scan of the window, rescanned ring and deque alike") {
  static_assert(RollingMax::kScanUpTo == 32, "the periods below straddle the switch");
  for (const auto& [what, x] : data_sets())
    for (size_t period : {1u, 2u, 3u, 14u, 20u, 31u, 32u, 33u, 200u}) {
      INFO(what << " period " << period);
      check_against_scan<RollingMax>(x, period, [](double a, double b) { return a > b; });
      check_against_scan<RollingMin>(x, period, [](double a, double b) { return a < b; });
    }
}

TEST_CASE("RollingMax and RollingMin continue identically after save and restore") {
  const auto sets = data_sets();
  const std::vector<double>& x = sets[0].second;
  for (size_t period : {1u, 14u, 32u, 33u, 200u})
    for (size_t cut : {0u, 1u, 13u, 14u, 15u, 199u, 1'000u}) {
      INFO("period " << period << " cut " << cut);
      RollingMax a(period), b(period);
      for (size_t i = 0; i < cut; ++i) a.push(x[i]);
      const auto state = saved(a);
      qflow::StateReader reader(state.data(), state.size());
      b.restore(reader);
      CHECK(reader.at_end());
      size_t differ = 0;
      for (size_t i = cut; i < x.size(); ++i) {
        a.push(x[i]), b.push(x[i]);
        differ += a.value() != b.value() || a.full() != b.full();
      }
      CHECK(differ == 0);
    }
}

TEST_CASE("log_return_of: within 4 ulps of ln(x / base) for cent moves to doublings, exact 0, NaN for bad prices") {
  // Relative moves from 1e-12 to 1, around 70,000 and 0.003, both signs; 2^-10 is where the
  // series hands over to log1p.
  double worst = 0;
  for (double base : {70'000.0, 0.003, 1.0, 1e300})
    for (double move = 1e-12; move < 1.5; move *= 1.37)
      for (double sign : {1.0, -1.0}) {
        const double x = base * (1 + sign * move);
        const long double want = std::log1p((static_cast<long double>(x) - base) / base);  // x - base exact in long double
        worst = std::max(worst, static_cast<double>(std::abs(log_return_of(x, base) - want) / std::abs(want)));
      }
  for (double m : {0x1p-10, 0x1p-9}) {  // both sides of the switch, as ratios of the sum
    const double x = 70'000 * (1 + m), base = 70'000;
    const long double want = std::log1p((static_cast<long double>(x) - base) / base);
    worst = std::max(worst, static_cast<double>(std::abs(log_return_of(x, base) - want) / std::abs(want)));
  }
  CHECK(worst <= 4 * std::numeric_limits<double>::epsilon());
  CHECK(log_return_of(70'000.01, 70'000.01) == 0.0);
  CHECK(log_return_of(1.7e308, 1e308) == Approx(std::log(1.7)).epsilon(1e-15));  // x + base overflows
  for (const auto& [x, base] : {std::pair{0.0, 1.0}, {1.0, -1.0}, {NAN, 1.0}, {1.0, INFINITY}})
    CHECK(std::isnan(log_return_of(x, base)));
}
