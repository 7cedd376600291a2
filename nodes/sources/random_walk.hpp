// RandomWalk — the price process behind source.synthetic_bars. Header-only so that a benchmark
// can generate in memory exactly the bars the node emits, at a few nanoseconds per bar.
//
// Per bar, two draws of xoshiro256** (seeded through splitmix64, as its authors advise):
//   z      the sum of the four 16-bit lanes of the first draw, centred and scaled to unit
//          variance (Irwin-Hall with four terms: approximately normal, |z| <= 3.465)
//   close  = open * (1 + drift + volatility * z); the factor is floored at 0.01 and the price at
//          1e-12 so that prices stay positive whatever the parameters
//   open   = the previous close; the first open is start_price
//   high   = max(open, close) * (1 + volatility * u1 / 2)
//   low    = min(open, close) * (1 - volatility * u2 / 2)   (> 0 because volatility <= 1)
//   volume = 1000 * (0.5 + u3)
// with u1, u2, u3 uniform in [0, 1) from the second draw (21, 21 and 22 bits). So, while the
// floors do not bind, the per-bar return close/open - 1 has mean `drift` and standard deviation
// `volatility`; 0 < low <= min(open, close) <= max(open, close) <= high always holds.
#pragma once

#include <qflow/abi.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace qflow::nodes {

class RandomWalk {
 public:
  // Everything that changes from bar to bar: the generator and the last close.
  struct State {
    uint64_t s[4];
    double price;
  };

  RandomWalk(double start_price, double volatility, double drift, uint64_t seed)
      : drift_(drift), volatility_(volatility), half_volatility_(volatility / 2) {
    if (!(start_price > 0) || !std::isfinite(start_price))
      throw std::invalid_argument("random walk: start_price must be positive and finite");
    if (!(volatility >= 0 && volatility <= 1))
      throw std::invalid_argument("random walk: volatility must be in [0, 1]");
    if (!std::isfinite(drift)) throw std::invalid_argument("random walk: drift must be finite");
    uint64_t x = seed;
    for (uint64_t& w : state_.s) w = splitmix64(x);
    state_.price = start_price;
  }

  // Fills open, high, low, close and volume of the next bar; interval_ns is left alone.
  void next(qf_bar& bar) {
    const uint64_t r = draw();
    const uint64_t lanes = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
    const double z = (to_double(lanes) - kLaneSumMean) * kLaneSumInvStd;
    // std::max/min on doubles compile to branch-free maxsd/minsd: the direction of a random
    // bar is unpredictable, and a mispredicted branch would cost more than the whole bar.
    const double factor = std::max(1.0 + drift_ + volatility_ * z, kMinFactor);
    const double open = state_.price;
    const double close = std::max(open * factor, kMinPrice);

    const uint64_t w = draw();
    const double u1 = to_double(w >> 43) * 0x1p-21;
    const double u2 = to_double((w >> 22) & 0x1fffff) * 0x1p-21;
    const double u3 = to_double(w & 0x3fffff) * 0x1p-22;
    bar.open = open;
    bar.close = close;
    bar.high = std::max(open, close) * (1.0 + half_volatility_ * u1);
    bar.low = std::min(open, close) * (1.0 - half_volatility_ * u2);
    bar.volume = 1000.0 * (0.5 + u3);
    state_.price = close;
  }

  qf_bar next() {
    qf_bar bar{};
    next(bar);
    return bar;
  }

  const State& state() const { return state_; }
  void restore(const State& s) { state_ = s; }

 private:
  // The sum of four uniform 16-bit integers: mean 4 * 65535 / 2, variance 4 * (65536^2 - 1) / 12.
  static constexpr double kLaneSumMean = 131070.0;
  static constexpr double kLaneSumInvStd = 2.6428997921303014e-05;  // 1 / sqrt(1431655765)
  static constexpr double kMinFactor = 0.01;
  static constexpr double kMinPrice = 1e-12;

  // Every value converted is below 2^18 or 2^22: the signed conversion is one instruction, the
  // unsigned 64-bit one is several.
  static double to_double(uint64_t v) { return static_cast<double>(static_cast<int64_t>(v)); }

  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // xoshiro256** 1.0 (Blackman and Vigna).
  uint64_t draw() {
    uint64_t* s = state_.s;
    const uint64_t result = std::rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = std::rotl(s[3], 45);
    return result;
  }

  double drift_, volatility_, half_volatility_;
  State state_{};
};

}  // namespace qflow::nodes
