// stats.half_life — half-life of mean reversion from an AR(1) fit of a series' changes.
//
// Over the last `window` values s of one series (a spread, typically: see stats.hpp for the
// input), the OLS with a constant of the window - 1 changes on the previous level,
//   ds_t = c + lambda s_{t-1} + e_t,
// gives lambda, and the half-life in input steps is -ln 2 / ln(1 + lambda).
// What is emitted:
//   -1 < lambda < 0:  half_life = -ln 2 / ln(1 + lambda), mean_reverting = 1.
//   -2 < lambda <= -1: half_life = 0 (the fitted process crosses its mean within one step),
//                      mean_reverting = 1.
//   lambda >= 0 (no pull back to the mean, also a constant series) or lambda <= -2
//   (explosive oscillation): half_life = 0, mean_reverting = 0.
// So a strategy tests `mean_reverting == 1` before reading the half-life.
// Warm-up: the window-th value. O(1) amortised per value: exact rolling co-moments of
// (s_{t-1}, ds_t) (window_sums.hpp).
#include "ols.hpp"
#include "stats.hpp"
#include "window_sums.hpp"

#include <array>
#include <cmath>
#include <numbers>

namespace qflow::nodes::stats {

class HalfLifeCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("stats.half_life", "stats")
        .summary("Half-life of mean reversion, -ln 2 / ln(1 + lambda), from an AR(1) fit of the changes")
        .doc("OLS of ds_t on [1, s_{t-1}] over the last `window` values gives lambda. half_life = "
             "-ln 2/ln(1 + lambda) for -1 < lambda < 0, 0 for lambda <= -1; mean_reverting = 1 when "
             "-2 < lambda < 0, else 0 (and half_life 0): test it before using half_life.")
        .warmup("the window-th value")
        .param(ParamSpec::integer("window").default_value("100").min(3).max(1'000'000).doc("values in the fit (window - 1 changes)"))
        .param(symbol_param())
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or values of the series, from one or more connections", QF_PORT_MULTIPLE)
        .output("half_life", Kind::value, "half-life in input steps (0 when not mean reverting: see mean_reverting)")
        .output("lambda", Kind::value, "the fitted lambda")
        .output("mean_reverting", Kind::value, "1 when -2 < lambda < 0, else 0");
  }

  explicit HalfLifeCore(const ParamView& p) : fit_(static_cast<size_t>(p.integer("window")) - 1) {}

  bool update(double s) {
    const bool first = !has_prev_;
    const double prev = prev_;
    prev_ = s;
    has_prev_ = true;
    if (first) return false;
    fit_.push(prev, s - prev);
    if (!fit_.full()) return false;
    const double lambda = SimpleOls(fit_).beta;
    const bool reverting = lambda < 0 && lambda > -2;
    const double hl = lambda < 0 && lambda > -1 ? -std::numbers::ln2 / std::log1p(lambda) : 0.0;
    out_ = {reverting ? hl : 0.0, lambda, reverting ? 1.0 : 0.0};
    return true;
  }
  double value(int k) const { return out_[static_cast<size_t>(k)]; }
  void save(StateWriter& w) const {
    fit_.save(w);
    w.put<uint8_t>(has_prev_);
    w.put<double>(prev_);
  }
  void restore(StateReader& r) {
    fit_.restore(r);
    has_prev_ = r.get<uint8_t>() != 0;
    prev_ = r.get<double>();
  }

 private:
  PairWindowSums fit_;  // (s_{t-1}, ds_t)
  bool has_prev_ = false;
  double prev_ = 0;
  std::array<double, kOutputs> out_{};
};

void register_half_life(Registrar& r) { r.add<SeriesNode<HalfLifeCore>>(); }

}  // namespace qflow::nodes::stats
