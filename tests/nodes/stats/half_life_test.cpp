// stats.half_life against exact AR(1) series, a simulated AR(1) of known lambda and the
// textbook two-pass regression of the changes on the previous level.
#include "stats_test_support.hpp"

#include <numbers>

using namespace stats_test;

namespace {

std::vector<std::vector<double>> run_hl(NodeHarness& h, const std::vector<double>& s) {
  std::vector<std::vector<double>> out;
  for (const auto& e : values(1, s)) {
    const auto o = h.push(0, e);
    if (o.empty()) continue;
    REQUIRE(o.size() == 3);
    out.push_back(flat(o));
  }
  return out;
}

}  // namespace

TEST_CASE("stats.half_life: exact AR(1) series, and what is emitted without mean reversion") {
  // s = 16 8 4 2 1: ds = -8 -4 -2 -1 = -0.5 s_{t-1} exactly: lambda = -0.5, half-life
  // -ln 2 / ln 0.5 = 1 step.
  auto h = node("stats.half_life", {{"window", "5"}});
  auto r = run_hl(*h, {16, 8, 4, 2, 1});
  REQUIRE(r.size() == 1);
  CHECK(r[0][0] == Approx(1.0).epsilon(1e-14));
  CHECK(r[0][1] == Approx(-0.5).epsilon(1e-14));
  CHECK(r[0][2] == 1.0);
  // s_t = 0.9 s_{t-1} + 1 (mean 10): lambda = -0.1, half-life -ln 2 / ln 0.9 = 6.5788.
  std::vector<double> s{0};
  for (int i = 0; i < 9; ++i) s.push_back(0.9 * s.back() + 1);
  r = run_hl(*node("stats.half_life", {{"window", "10"}}), s);
  REQUIRE(r.size() == 1);
  CHECK(r[0][1] == Approx(-0.1).epsilon(1e-12));
  CHECK(r[0][0] == Approx(-std::numbers::ln2 / std::log(0.9)).epsilon(1e-12));
  // Growth (lambda = 1) and a flat series (lambda = 0): not mean reverting, half-life 0.
  r = run_hl(*node("stats.half_life", {{"window", "5"}}), {1, 2, 4, 8, 16});
  CHECK(r.at(0)[0] == 0.0);
  CHECK(r.at(0)[1] == Approx(1.0).epsilon(1e-14));
  CHECK(r.at(0)[2] == 0.0);
  r = run_hl(*node("stats.half_life", {{"window", "5"}}), {3, 3, 3, 3, 3});
  CHECK(r.at(0) == std::vector<double>{0.0, 0.0, 0.0});
  // Overshooting: s = 16 -8 4 -2 1, ds = -1.5 s_{t-1}: reverting within a step, half-life 0.
  r = run_hl(*node("stats.half_life", {{"window", "5"}}), {16, -8, 4, -2, 1});
  CHECK(r.at(0)[0] == 0.0);
  CHECK(r.at(0)[1] == Approx(-1.5).epsilon(1e-14));
  CHECK(r.at(0)[2] == 1.0);
  // Explosive oscillation: ds = -2.5 s_{t-1}.
  r = run_hl(*node("stats.half_life", {{"window", "5"}}), {1, -1.5, 2.25, -3.375, 5.0625});
  CHECK(r.at(0)[2] == 0.0);
  CHECK(r.at(0)[0] == 0.0);
}

TEST_CASE("stats.half_life: a simulated AR(1) of known lambda, and the textbook regression") {
  // lambda = -0.05: s_t = 0.95 s_{t-1} + e_t, half-life -ln 2 / ln 0.95 = 13.51 steps.
  const auto s = ar1(noise(40000, 77), 0.95);
  auto whole = node("stats.half_life", {{"window", "40000"}});
  const auto r = run_hl(*whole, s);
  REQUIRE(r.size() == 1);
  const double want = -std::numbers::ln2 / std::log(0.95);
  INFO("estimated lambda " << r[0][1] << ", half-life " << r[0][0] << " against " << want);
  CHECK(r[0][1] == Approx(-0.05).margin(0.005));
  CHECK(r[0][0] == Approx(want).epsilon(0.1));
  // Rolling over 500 values: every window's lambda equals the two-pass OLS of ds on s_{t-1}.
  auto rolling = node("stats.half_life", {{"window", "500"}});
  const auto got = run_hl(*rolling, std::vector<double>(s.begin(), s.begin() + 20000));
  std::vector<double> prev, ds;
  for (size_t i = 1; i < 20000; ++i) prev.push_back(s[i - 1]), ds.push_back(s[i] - s[i - 1]);
  REQUIRE(got.size() == ds.size() - 499 + 1);
  double worst = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const Moments m = two_pass(prev, ds, k + 499, 499);
    const double lambda = static_cast<double>(m.sxy / m.sxx);
    const double hl = lambda < 0 && lambda > -1 ? -std::numbers::ln2 / std::log1p(lambda) : 0.0;
    worst = std::max({worst, std::abs(got[k][1] - lambda) / std::max(1.0, std::abs(lambda)),
                      std::abs(got[k][0] - hl) / std::max(1.0, hl)});
  }
  INFO("worst relative error " << worst);
  CHECK(worst <= 1e-9);
}

TEST_CASE("stats.half_life: batches equal cycles, save and restore continue identically, symbol filter") {
  const auto s = ar1(noise(600, 3), 0.8);
  const auto events = values(1, s);
  auto make = [] { return node("stats.half_life", {{"window", "50"}}); };
  const auto all = run_all(make, events);
  REQUIRE(all.size() == 3 * 551);
  CHECK(flat(make()->push_batch(0, events)) == all);
  for (size_t cut : {1u, 30u, 50u, 444u}) CHECK(run_with_restore(make, events, cut) == all);
  auto filtered = node("stats.half_life", {{"window", "50"}, {"symbol", "S"}});
  const uint32_t id = filtered->intern("S"), other = filtered->intern("T");
  std::vector<double> got;
  for (size_t i = 0; i < s.size(); ++i) {
    filtered->push(0, value(other, static_cast<int64_t>(i + 1), -1e9));
    for (double v : flat(filtered->push(0, value(id, static_cast<int64_t>(i + 1), s[i])))) got.push_back(v);
  }
  CHECK(got == all);
}
