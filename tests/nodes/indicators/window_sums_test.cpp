// nodes/common/window_sums.hpp against an exact two-pass computation in long double (the mean,
// then the sum of squared deviations from it: the mean's own rounding enters only squared), on
// real minute and daily closes, log returns, a trend and cent moves at 70,000; and the cases
// that break running sums: a spike leaving the window, a flat window after a jump (exactly 0),
// windows of one and two values, an input built to force a recount on every update, non-finite
// and overflowing values, save and restore.
#include "indicator_test_support.hpp"

#include "window_sums.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace indicator_test;
using qflow::nodes::PairWindowSums;
using qflow::nodes::WindowSums;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Exact {
  long double mean, m2;
  long double newest_deviation;  // x[end - 1] - mean
};
// The last n values ending at index `end` (exclusive), two passes in long double, every value
// taken as its offset from the newest one (exact for nearby prices), so that the deviations
// are good to ~1e-19 of themselves rather than of the prices (a long double mean of prices at
// 70,000 is only good to ~1e-14).
Exact two_pass(const std::vector<double>& x, size_t end, size_t n) {
  const long double x0 = x[end - 1];
  long double offsets = 0;
  for (size_t i = end - n; i < end; ++i) offsets += x[i] - x0;
  const long double mo = offsets / static_cast<long double>(n);  // mean - x0
  long double m2 = 0;
  for (size_t i = end - n; i < end; ++i) m2 += ((x[i] - x0) - mo) * ((x[i] - x0) - mo);
  return {x0 + mo, m2, -mo};
}

// Pushes x through a window of n and checks every full window against two_pass: the sum of
// squared deviations within `tol` relative (exactly 0 when the exact one is), the mean and the
// deviation of the newest value within `tol` standard deviations (and a few ulps of the mean).
void check_exact(const std::vector<double>& x, size_t n, double tol) {
  WindowSums w(n);
  double worst_m2 = 0, worst_mean = 0;
  size_t worst_at = 0, exact_zero_misses = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    w.push(x[i]);
    if (i + 1 < n) {
      REQUIRE(!w.full());
      continue;
    }
    REQUIRE(w.full());
    const Exact e = two_pass(x, i + 1, n);
    if (e.m2 == 0) {
      exact_zero_misses += w.m2() != 0.0;
      continue;
    }
    const double err = static_cast<double>(std::abs(w.m2() - e.m2) / e.m2);
    if (!(err <= worst_m2)) worst_m2 = err, worst_at = i;
    const long double sd = std::sqrt(e.m2 / n);
    const long double slack = 4 * std::numeric_limits<double>::epsilon() * std::abs(e.mean);
    const double mean_err = static_cast<double>((std::abs(w.mean() - e.mean) - slack) / sd);
    const double dev_err = static_cast<double>(std::abs(w.deviation(x[i]) - e.newest_deviation) / sd);
    worst_mean = std::max({worst_mean, mean_err, dev_err});
  }
  INFO("n=" << n << ": worst m2 error " << worst_m2 << " at " << worst_at << ", worst mean error " << worst_mean
            << " standard deviations, " << w.recounts() << " recounts");
  CHECK(worst_m2 <= tol);
  CHECK(worst_mean <= tol);
  CHECK(exact_zero_misses == 0);
}

// Prices from `level` moving by +-`step` (or not) at random.
std::vector<double> walk(double level, double step, size_t count, uint64_t seed) {
  std::vector<double> x;
  int64_t ticks = 0;
  for (size_t i = 0; i < count; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const uint64_t r = seed >> 62;
    ticks += r == 0 ? -1 : r == 3 ? 1 : 0;
    x.push_back(level + static_cast<double>(ticks) * step);
  }
  return x;
}

std::vector<double> log_returns(const std::vector<double>& p) {
  std::vector<double> r;
  for (size_t i = 1; i < p.size(); ++i) r.push_back(std::log1p((p[i] - p[i - 1]) / p[i - 1]));
  return r;
}

std::vector<double> btc_closes(size_t limit) {
  return closes(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, limit));
}

// A state written by save(), as bytes.
template <class Window>
std::vector<unsigned char> saved(const Window& w) {
  std::vector<unsigned char> bytes;
  qf_state_writer sink{&bytes, [](qf_state_writer* self, const void* data, size_t n) {
                         auto* out = static_cast<std::vector<unsigned char>*>(self->opaque);
                         out->insert(out->end(), static_cast<const unsigned char*>(data), static_cast<const unsigned char*>(data) + n);
                       }};
  qflow::StateWriter writer(&sink);
  w.save(writer);
  return bytes;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("WindowSums: hand-worked means and sums of squares, windows of one and two values") {
  // n = 3 on 2, 4, 4, 4, 5, 5, 7, 9:
  //   [2 4 4] mean 10/3, m2 = (4/3)^2 + 2 (2/3)^2 = 24/9 = 8/3
  //   [4 4 4] mean 4, m2 0 exactly
  //   [4 4 5] mean 13/3, m2 = 2 (1/3)^2 + (2/3)^2 = 6/9 = 2/3;  [4 5 5] likewise 2/3
  //   [5 5 7] mean 17/3, m2 = 2 (2/3)^2 + (4/3)^2 = 24/9 = 8/3
  //   [5 7 9] mean 7, m2 = 4 + 0 + 4 = 8
  WindowSums w(3);
  const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
  const double mean[] = {10.0 / 3, 4, 13.0 / 3, 14.0 / 3, 17.0 / 3, 7};
  const double m2[] = {8.0 / 3, 0, 2.0 / 3, 2.0 / 3, 8.0 / 3, 8};
  for (size_t i = 0; i < 8; ++i) {
    w.push(x[i]);
    CHECK(w.full() == (i >= 2));
    if (i < 2) continue;
    CHECK(w.mean() == Approx(mean[i - 2]).epsilon(1e-15));
    CHECK(w.m2() == Approx(m2[i - 2]).epsilon(1e-15).margin(0));
    CHECK(w.variance() == Approx(m2[i - 2] / 3).epsilon(1e-15).margin(0));
  }
  w.push(9);
  w.push(9);
  CHECK(w.m2() == 0.0);  // [9 9 9]
  CHECK(w.mean() == 9.0);

  // One value: no deviation at all, the mean is the value.
  WindowSums one(1);
  for (double v : {70'000.01, 1e-300, -5.0, 70'000.02, 3e250}) {
    one.push(v);
    CHECK(one.m2() == 0.0);
    CHECK(one.mean() == v);
    CHECK(one.deviation(v) == 0.0);
  }

  // Two values: m2 = (a - b)^2 / 2.
  WindowSums two(2);
  const std::vector<double> y = walk(70'000, 0.01, 2'000, 3);
  for (size_t i = 0; i < y.size(); ++i) {
    two.push(y[i]);
    if (i == 0) continue;
    const long double d = static_cast<long double>(y[i]) - y[i - 1];
    if (d == 0) {
      CHECK(two.m2() == 0.0);
      continue;
    }
    CHECK(std::abs(two.m2() - d * d / 2) <= 1e-14 * (d * d / 2));
  }
}

TEST_CASE("WindowSums: within 1e-12 of the exact two-pass computation on BTC minutes, returns, a trend and cents at 70,000") {
  const std::vector<double> btc = btc_closes(30'000);
  const std::vector<double> orcl = closes(load_bars(data("orcl_1995_2014_daily_yahoo.csv")));
  std::vector<double> trend;  // 0.37 a step up, with cent noise: the mean leaves any anchor behind
  const std::vector<double> noise = walk(0, 0.01, 20'000, 17);
  for (size_t i = 0; i < noise.size(); ++i) trend.push_back(60'000 + 0.37 * static_cast<double>(i) + noise[i]);
  const struct {
    const char* what;
    std::vector<double> x;
  } sets[] = {{"BTC minute closes", btc},
              {"BTC minute log returns", log_returns(btc)},
              {"ORCL daily closes", orcl},
              {"cents around 70,000", walk(70'000, 0.01, 20'000, 7)},
              {"0.0001 steps around 70,000", walk(69'999.5, 0.0001, 20'000, 11)},
              {"a trend with cent noise", trend}};
  for (const auto& s : sets)
    for (size_t n : {2u, 5u, 20u, 33u, 200u}) {
      INFO(s.what);
      check_exact(s.x, n, 2e-12);
    }
  INFO("long window");
  check_exact(walk(70'000, 0.01, 8'000, 5), 2'000, 2e-12);
}

TEST_CASE("WindowSums: a spike leaving the window leaves no rounding behind, a flat window after it is exactly 0") {
  for (double spike : {1e6, 1e9, 1e15, -7e12}) {
    std::vector<double> x = walk(70'000, 0.01, 3'000, 13);
    x[1'000] = spike;
    x[2'000] = spike;
    for (size_t i = 2'001; i < 2'400; ++i) x[i] = 70'000.37;  // flat after the second spike
    for (size_t n : {2u, 5u, 20u, 200u}) {
      INFO("spike " << spike << " n=" << n);
      check_exact(x, n, 2e-12);
      WindowSums w(n);
      for (size_t i = 0; i < 2'400; ++i) w.push(x[i]);
      CHECK(w.m2() == 0.0);
      CHECK(w.mean() == 70'000.37);
      CHECK(w.deviation(70'000.37) == 0.0);
    }
  }
}

TEST_CASE("WindowSums: a constant window is exactly 0 whatever came before it") {
  const std::vector<double> history = walk(70'000, 0.01, 1'000, 21);
  for (size_t n : {1u, 2u, 3u, 5u, 64u, 100u})
    for (double c : {70'000.01, 0.1, -3.3e-5, 1e300}) {
      INFO("n=" << n << " value " << c);
      WindowSums w(n);
      for (double v : history) w.push(v);
      for (size_t i = 0; i < n; ++i) w.push(c);
      CHECK(w.m2() == 0.0);
      CHECK(w.variance() == 0.0);
      CHECK(w.mean() == c);
      CHECK(w.deviation(c) == 0.0);
      w.push(c);  // and it stays so
      CHECK(w.m2() == 0.0);
    }
}

TEST_CASE("WindowSums: recounts are rare on market data, never more than one per update on input built to force them") {
  const std::vector<double> btc = btc_closes(50'000);
  // Measured: a recount every ~32 updates at n = 5, ~117 at 20, ~575 at 200 (BTC closes).
  for (const auto& [n, at_most] : {std::pair{size_t{5}, size_t{16}}, std::pair{size_t{20}, size_t{50}},
                                   std::pair{size_t{200}, size_t{250}}}) {
    WindowSums w(n);
    for (double v : btc) w.push(v);
    INFO("n=" << n << ": " << w.recounts() << " recounts");
    CHECK(w.recounts() > 0);
    CHECK(w.recounts() <= btc.size() / at_most);
  }
  // Each update removes a value 1000 times the next one: the window's deviation falls by 1000
  // each step, so nearly every update recounts (the documented worst case: O(n) per update;
  // not at the restart of each fall, 1e-132 to 1), and the results are still exact.
  std::vector<double> fall;
  for (int cycle = 0; cycle < 60; ++cycle)
    for (int k = 0; k < 45; ++k) fall.push_back(std::pow(1e-3, k) * (1 + 0.1 * ((k * 7 + cycle) % 5)));
  for (size_t n : {5u, 20u}) {
    WindowSums w(n);
    for (double v : fall) w.push(v);
    INFO("n=" << n << ": " << w.recounts() << " recounts in " << fall.size() << " updates");
    CHECK(w.recounts() >= fall.size() * (45 - n) / 45 * 9 / 10);
    CHECK(w.recounts() <= fall.size());
    check_exact(fall, n, 2e-12);
  }
}

TEST_CASE("WindowSums: a NaN or infinite value makes the moments NaN while in the window, an overflowing one too") {
  WindowSums w(3);
  const double x[] = {1, 2, kNaN, 4, 5, 6, kInf, 8, 9, 10};
  for (size_t i = 0; i < 10; ++i) {
    w.push(x[i]);
    const bool bad = (i >= 2 && i <= 4) || (i >= 6 && i <= 8);
    CHECK(w.finite() == !bad);
    if (bad) {
      CHECK(std::isnan(w.m2()));
      CHECK(std::isnan(w.mean()));
      CHECK(std::isnan(w.stddev()));
    }
  }
  CHECK(w.mean() == 9.0);  // [8 9 10]
  CHECK(w.m2() == Approx(2.0).epsilon(1e-15));

  // A window of non-finite values only, then finite ones.
  WindowSums all_bad(2);
  for (double v : {kNaN, -kInf, kNaN, 3.0, 4.0}) all_bad.push(v);
  CHECK(all_bad.finite());
  CHECK(all_bad.mean() == 3.5);
  CHECK(all_bad.m2() == 0.5);

  // A value whose square overflows: no finite variance while it is in the window, exact after.
  std::vector<double> big = walk(70'000, 0.01, 200, 2);
  big[50] = 1e200;
  for (size_t n : {3u, 40u}) {
    WindowSums b(n);
    for (size_t i = 0; i < big.size(); ++i) {
      b.push(big[i]);
      if (i >= 50 && i < 50 + n) CHECK(!std::isfinite(b.m2()));
    }
    const Exact e = two_pass(big, big.size(), n);
    CHECK(std::abs(b.m2() - e.m2) <= 2e-12 * e.m2);
  }
}

TEST_CASE("WindowSums and PairWindowSums: save and restore continue bit for bit") {
  const std::vector<double> btc = btc_closes(3'000);
  const std::vector<double> eth = closes(load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 3'000));
  for (size_t n : {1u, 5u, 40u, 200u})
    for (size_t cut : {0u, 3u, 199u, 1'234u}) {
      INFO("n=" << n << " cut " << cut);
      WindowSums a(n), b(n);
      PairWindowSums pa(n), pb(n);
      for (size_t i = 0; i < cut; ++i) a.push(btc[i]), pa.push(eth[i], btc[i]);
      const auto state = saved(a), pair_state = saved(pa);
      qflow::StateReader reader(state.data(), state.size()), pair_reader(pair_state.data(), pair_state.size());
      b.restore(reader);
      pb.restore(pair_reader);
      CHECK(reader.at_end());
      CHECK(pair_reader.at_end());
      bool same = true;
      for (size_t i = cut; i < btc.size(); ++i) {
        a.push(btc[i]), b.push(btc[i]);
        pa.push(eth[i], btc[i]), pb.push(eth[i], btc[i]);
        same = same && same_bits(a.m2(), b.m2()) && same_bits(a.mean(), b.mean()) && same_bits(pa.sxy(), pb.sxy()) &&
               same_bits(pa.sxx(), pb.sxx()) && same_bits(pa.syy(), pb.syy()) && same_bits(pa.mean_y(), pb.mean_y());
      }
      CHECK(same);
    }
}

TEST_CASE("PairWindowSums: co-moments within 1e-12 of the exact two-pass on BTC vs ETH, a flat leg gives exact zeros") {
  const std::vector<double> btc = btc_closes(20'000);
  const std::vector<double> eth = closes(load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 20'000));
  auto check_pairs = [](const std::vector<double>& x, const std::vector<double>& y, size_t n) {
    PairWindowSums w(n);
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      w.push(x[i], y[i]);
      if (i + 1 < n) continue;
      const Exact ex = two_pass(x, i + 1, n), ey = two_pass(y, i + 1, n);
      long double sxy = 0;
      for (size_t j = i + 1 - n; j <= i; ++j)
        sxy += ((x[j] - x[i]) + ex.newest_deviation) * ((y[j] - y[i]) + ey.newest_deviation);
      const long double scale = std::sqrt(ex.m2 * ey.m2);
      if (ex.m2 == 0 || ey.m2 == 0) {
        CHECK(w.sxy() == 0.0);
        if (ex.m2 == 0) CHECK(w.sxx() == 0.0);
        if (ey.m2 == 0) CHECK(w.syy() == 0.0);
        continue;
      }
      worst = std::max({worst, static_cast<double>(std::abs(w.sxx() - ex.m2) / ex.m2),
                        static_cast<double>(std::abs(w.syy() - ey.m2) / ey.m2),
                        static_cast<double>(std::abs(w.sxy() - sxy) / scale)});
    }
    INFO("n=" << n << ": worst error " << worst << ", " << w.recounts() << " recounts");
    CHECK(worst <= 2e-12);
  };
  for (size_t n : {2u, 30u, 60u, 500u}) check_pairs(eth, btc, n);

  // Cents at 70,000 against a spiking leg, and a leg that stops moving.
  std::vector<double> x = walk(70'000, 0.01, 4'000, 31), y = walk(3'000, 0.01, 4'000, 37);
  y[700] = 1e12;
  for (size_t i = 2'000; i < 2'500; ++i) x[i] = 70'000.5;
  for (size_t i = 3'000; i < 3'300; ++i) y[i] = 2'999.99;
  for (size_t n : {2u, 5u, 30u, 200u}) check_pairs(x, y, n);
}
