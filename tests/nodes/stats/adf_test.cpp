// stats.adf against an independent ADF (normal equations in long double, written in the test),
// a hand-worked Dickey-Fuller regression, MacKinnon's published critical values and statsmodels'
// published p-values, and the behaviour on a random walk versus a stationary AR(1).
#include "stats_test_support.hpp"

#include "../../../nodes/stats/adf.hpp"

using namespace stats_test;
namespace st = qflow::nodes::stats;

namespace {

struct Test {
  size_t at;  // input index
  double stat, pvalue, lag, crit1, crit5, crit10;
};

std::vector<Test> run_adf(NodeHarness& h, const std::vector<qf_event>& events) {
  std::vector<Test> out;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto o = h.push(0, events[i]);
    if (o.empty()) continue;
    REQUIRE(o.size() == 6);
    out.push_back(Test{i, o[0].ev.u.value.value, o[1].ev.u.value.value, o[2].ev.u.value.value, o[3].ev.u.value.value,
                       o[4].ev.u.value.value, o[5].ev.u.value.value});
  }
  return out;
}

// Every window's test against reference_adf: the statistic within `tol` relative, the same
// lag, the p-value and critical values of that statistic and nobs.
void check_against_reference(const std::vector<double>& x, size_t window, size_t every, int maxlag, bool autolag,
                             const Params& params, double tol) {
  auto h = node("stats.adf", params);
  const auto tests = run_adf(*h, values(1, x));
  REQUIRE(tests.size() == (x.size() - window) / every + 1);
  double worst = 0;
  for (const Test& t : tests) {
    INFO("window ending at " << t.at);
    REQUIRE((t.at + 1 - window) % every == 0);
    const std::vector<double> w(x.begin() + static_cast<long>(t.at + 1 - window), x.begin() + static_cast<long>(t.at + 1));
    const RefAdf ref = reference_adf(w, true, maxlag, autolag);
    REQUIRE(t.lag == ref.lag);
    worst = std::max(worst, std::abs(t.stat - ref.stat) / std::max(1.0, std::abs(ref.stat)));
    CHECK(t.pvalue == st::mackinnon_p(t.stat, 1));
    const auto crit = st::mackinnon_crit(1, static_cast<double>(ref.nobs));
    CHECK(t.crit1 == crit[0]);
    CHECK(t.crit5 == crit[1]);
    CHECK(t.crit10 == crit[2]);
  }
  INFO("worst relative error of the statistic " << worst);
  CHECK(worst <= tol);
}

}  // namespace

TEST_CASE("MacKinnon p-values at the published critical values and statsmodels' published values") {
  // MacKinnon (2010) asymptotic critical values (constant, N = 1: -3.43035, -2.86154, -2.56677;
  // N = 2: -3.89644, -3.33613, -3.04445) through the 1994 surface give the 1 %, 5 % and 10 %
  // levels back to within 0.5 % of the level (the two papers' fits differ by that much):
  // e.g. N = 1 at -3.43035: Phi(2.1659 + 1.4412 t + 0.038269 t^2) = Phi(-2.3276) = 0.00997.
  const double levels[] = {0.01, 0.05, 0.10};
  const double crit[2][3] = {{-3.43035, -2.86154, -2.56677}, {-3.89644, -3.33613, -3.04445}};
  for (int n = 1; n <= 2; ++n)
    for (int k = 0; k < 3; ++k) {
      INFO("N=" << n << " level " << levels[k]);
      CHECK(std::abs(st::mackinnon_p(crit[n - 1][k], n) - levels[k]) <= 0.005 * levels[k] + 1e-4);
      CHECK(st::mackinnon_crit(n, INFINITY)[static_cast<size_t>(k)] == crit[n - 1][k]);
    }
  // statsmodels' own test values (adfuller on macrodata, regression 'c'): statistic 0.97505319
  // has p 0.99399563 (large-p surface), -4.3346988 has p 0.00038661 (small-p surface).
  CHECK(st::mackinnon_p(0.97505319, 1) == Approx(0.99399563).epsilon(1e-6));
  CHECK(st::mackinnon_p(-4.3346988, 1) == Approx(0.00038661).epsilon(1e-4));
  // Outside [tau_min, tau_max] the p-value is 0 or 1; the two surfaces meet near tau*.
  CHECK(st::mackinnon_p(-19.0, 1) == 0.0);
  CHECK(st::mackinnon_p(-INFINITY, 2) == 0.0);
  CHECK(st::mackinnon_p(2.75, 1) == 1.0);
  CHECK(st::mackinnon_p(0.93, 2) == 1.0);
  CHECK(std::abs(st::mackinnon_p(-1.61, 1) - st::mackinnon_p(-1.6100001, 1)) < 0.002);
  CHECK(std::abs(st::mackinnon_p(-2.62, 2) - st::mackinnon_p(-2.6200001, 2)) < 0.002);
  // Finite samples: T = 100, 1 %: -3.43035 - 6.5393/100 - 16.786/100^2 - 79.433/100^3 = -3.4975.
  CHECK(st::mackinnon_crit(1, 100)[0] == Approx(-3.43035 - 0.065393 - 0.0016786 - 0.000079433).epsilon(1e-14));
  // The default maximum lag: ceil(12 (n/100)^(1/4)), at most n/2 - ntrend - 1.
  CHECK(st::adf_default_maxlag(100, st::AdfTrend::constant) == 12);
  CHECK(st::adf_default_maxlag(400, st::AdfTrend::constant) == 17);  // 12 * 4^(1/4) = 16.97
  CHECK(st::adf_default_maxlag(500, st::AdfTrend::constant) == 18);  // 12 * 5^(1/4) = 17.94
  CHECK(st::adf_default_maxlag(20, st::AdfTrend::constant) == 8);    // 12 * 0.2^(1/4) = 8.02 -> 9, capped at 8
  CHECK(st::adf_default_maxlag(20, st::AdfTrend::none) == 9);
  CHECK(st::adf_default_maxlag(10, st::AdfTrend::constant) == 3);
}

TEST_CASE("stats.adf: a hand-worked Dickey-Fuller regression with lag 0") {
  // x = 0 1 0 2 1 3 2 4 3 5; dx = 1 -1 2 -1 2 -1 2 -1 2 on the levels 0 1 0 2 1 3 2 4 3 (9 rows).
  // sums: levels 16, dx 5, levels*dx 2, levels^2 44, dx^2 21;
  // centred: Sxy = 2 - 16*5/9 = -62/9, Sxx = 44 - 256/9 = 140/9, Syy = 21 - 25/9 = 164/9;
  // gamma = -62/140 = -31/70; SSR = Syy - gamma Sxy = 531/35; s^2 = SSR/(9 - 2);
  // t = gamma / sqrt(s^2/Sxx) = -1.18643021548013.
  auto h = node("stats.adf", {{"window", "10"}, {"lags", "0"}});
  const auto tests = run_adf(*h, values(1, {0, 1, 0, 2, 1, 3, 2, 4, 3, 5}));
  REQUIRE(tests.size() == 1);
  CHECK(tests[0].at == 9);
  CHECK(tests[0].stat == Approx(-1.18643021548013).epsilon(1e-12));
  CHECK(tests[0].lag == 0);
  CHECK(tests[0].crit5 == st::mackinnon_crit(1, 9)[1]);
  // The independent implementation agrees.
  CHECK(reference_adf({0, 1, 0, 2, 1, 3, 2, 4, 3, 5}, true, 0, false).stat == Approx(-1.18643021548013).epsilon(1e-12));
}

TEST_CASE("stats.adf: equals the independent normal-equation ADF, AIC lag and fixed lags") {
  const auto e = noise(3000, 7);
  std::vector<double> walk(e.size());
  for (size_t i = 0; i < e.size(); ++i) walk[i] = (i ? walk[i - 1] : 100.0) + e[i];
  const auto ar = ar1(noise(3000, 8), 0.5);
  const auto btc = closes(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 6000));
  SECTION("random walk, default maxlag, several windows") {
    for (size_t w : {10u, 37u, 100u, 250u}) {
      INFO("window " << w);
      check_against_reference(walk, w, 23, st::adf_default_maxlag(w, st::AdfTrend::constant), true,
                              {{"window", std::to_string(w)}, {"every", "23"}}, 1e-9);
    }
  }
  SECTION("AR(1), fixed lags and a given maxlag") {
    check_against_reference(ar, 100, 29, 0, false, {{"window", "100"}, {"lags", "0"}, {"every", "29"}}, 1e-9);
    check_against_reference(ar, 100, 29, 5, false, {{"window", "100"}, {"lags", "5"}, {"every", "29"}}, 1e-9);
    check_against_reference(ar, 120, 31, 4, true, {{"window", "120"}, {"maxlag", "4"}, {"every", "31"}}, 1e-9);
  }
  SECTION("BTC minute closes, raw prices around 60,000 to 100,000") {
    check_against_reference(btc, 100, 17, 12, true, {{"window", "100"}, {"every", "17"}}, 1e-9);
    check_against_reference(btc, 400, 97, st::adf_default_maxlag(400, st::AdfTrend::constant), true, {{"window", "400"}, {"every", "97"}}, 1e-9);
  }
}

TEST_CASE("stats.adf: a random walk keeps its unit root, a stationary AR(1) rejects it") {
  const auto e = noise(500, 2024);
  std::vector<double> walk(e.size());
  for (size_t i = 0; i < e.size(); ++i) walk[i] = (i ? walk[i - 1] : 0.0) + e[i];
  const auto stationary = ar1(noise(500, 2025), 0.5);
  auto a = node("stats.adf", {{"window", "500"}}), b = node("stats.adf", {{"window", "500"}});
  const auto rw = run_adf(*a, values(1, walk)), st_ = run_adf(*b, values(1, stationary));
  REQUIRE(rw.size() == 1);
  REQUIRE(st_.size() == 1);
  INFO("random walk: stat " << rw[0].stat << " p " << rw[0].pvalue << " lag " << rw[0].lag);
  INFO("AR(1) 0.5: stat " << st_[0].stat << " p " << st_[0].pvalue << " lag " << st_[0].lag);
  CHECK(rw[0].pvalue > 0.2);
  CHECK(rw[0].stat > rw[0].crit10);
  CHECK(st_[0].pvalue < 1e-4);
  CHECK(st_[0].stat < st_[0].crit1);
  CHECK(rw[0].lag <= 18);
  CHECK(st_[0].lag <= 18);
}

TEST_CASE("stats.adf: every k-th value, symbol filter, flat windows and non-finite values") {
  const auto x = ar1(noise(400, 5), 0.9);
  auto all = node("stats.adf", {{"window", "50"}}), sparse = node("stats.adf", {{"window", "50"}, {"every", "10"}});
  const auto every_one = run_adf(*all, values(1, x)), every_ten = run_adf(*sparse, values(1, x));
  REQUIRE(every_one.size() == 351);
  REQUIRE(every_ten.size() == 36);  // values 50, 60, ..., 400
  for (size_t i = 0; i < every_ten.size(); ++i) {
    CHECK(every_ten[i].at == 49 + 10 * i);
    CHECK(every_ten[i].stat == every_one[10 * i].stat);
  }
  // Another symbol's events, NaNs and infinities are skipped when `symbol` is set.
  auto filtered = node("stats.adf", {{"window", "50"}, {"symbol", "SPREAD"}});
  const uint32_t s = filtered->intern("SPREAD"), other = filtered->intern("OTHER");
  std::vector<qf_event> mixed;
  for (size_t i = 0; i < x.size(); ++i) {
    mixed.push_back(value(other, static_cast<int64_t>(i + 1), 1e6 * std::sin(static_cast<double>(i))));
    if (i % 50 == 3) mixed.push_back(value(s, static_cast<int64_t>(i + 1), NAN));
    if (i % 70 == 3) mixed.push_back(value(s, static_cast<int64_t>(i + 1), INFINITY));
    mixed.push_back(value(s, static_cast<int64_t>(i + 1), x[i]));
  }
  const auto got = run_adf(*filtered, mixed);
  REQUIRE(got.size() == every_one.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].stat == every_one[i].stat);
  // A constant window has no test: nothing is emitted until the series moves again.
  auto flat_node = node("stats.adf", {{"window", "10"}});
  std::vector<double> f(30, 5.0);
  for (size_t i = 20; i < f.size(); ++i) f[i] = 5.0 + static_cast<double>((i * 7) % 5);
  const auto flat_tests = run_adf(*flat_node, values(1, f));
  REQUIRE(!flat_tests.empty());
  CHECK(flat_tests.front().at >= 20);
}

TEST_CASE("stats.adf: parameters are checked against the window") {
  CHECK_THROWS(node("stats.adf", {{"window", "20"}, {"lags", "9"}}));  // at most 20/2 - 2 = 8
  CHECK_NOTHROW(node("stats.adf", {{"window", "20"}, {"lags", "8"}}));
  CHECK_THROWS(node("stats.adf", {{"window", "20"}, {"maxlag", "9"}}));
  CHECK_THROWS(node("stats.adf", {{"window", "100"}, {"lags", "2"}, {"maxlag", "4"}}));
}

TEST_CASE("stats.adf: batches equal cycles, save and restore continue identically") {
  const auto x = ar1(noise(300, 9), 0.7);
  const auto events = values(1, x);
  auto make = [] { return node("stats.adf", {{"window", "60"}, {"every", "3"}}); };
  const auto all = run_all(make, events);
  REQUIRE(all.size() == 6 * 81);
  CHECK(flat(make()->push_batch(0, events)) == all);
  for (size_t cut : {10u, 61u, 62u, 200u}) CHECK(run_with_restore(make, events, cut) == all);
}
