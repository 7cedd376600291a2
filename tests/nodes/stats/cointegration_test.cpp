// stats.cointegration against an independent Engle-Granger test written in the test (two-pass
// OLS in long double, then the normal-equation ADF without constant of stats_test_support.hpp),
// as statsmodels' coint(y, x, trend='c') defines it.
#include "stats_test_support.hpp"

#include "../../../nodes/stats/adf.hpp"

#include <limits>

using namespace stats_test;
namespace st = qflow::nodes::stats;

namespace {

struct Test {
  size_t at;  // pair index
  std::vector<double> v;  // stat, pvalue, beta, crit1, crit5, crit10
};

std::vector<Test> run_coint(NodeHarness& h, const std::vector<qf_event>& y, const std::vector<qf_event>& x) {
  std::vector<Test> out;
  for (size_t i = 0; i < y.size(); ++i) {
    CHECK(h.push(0, y[i]).empty());
    const auto o = h.push(0, x[i]);
    if (o.empty()) continue;
    REQUIRE(o.size() == 6);
    out.push_back(Test{i, flat(o)});
  }
  return out;
}

// coint(y, x, trend='c', maxlag, autolag) over the window ending at pair `end`.
std::vector<double> reference(std::vector<double> y, std::vector<double> x, size_t end, size_t n, int maxlag, bool autolag) {
  const Moments m = two_pass(x, y, end, n);
  const long double beta = m.sxy / m.sxx, alpha = m.my - beta * m.mx;
  std::vector<double> resid;
  long double ssr = 0;
  for (size_t i = end - n; i < end; ++i) {
    const long double e = y[i] - alpha - beta * x[i];
    resid.push_back(static_cast<double>(e));
    ssr += e * e;
  }
  double stat = -std::numeric_limits<double>::infinity();
  if (1 - ssr / m.syy < 1 - 100 * std::sqrt(std::numeric_limits<double>::epsilon())) stat = reference_adf(resid, false, maxlag, autolag).stat;
  const auto crit = st::mackinnon_crit(2, static_cast<double>(n - 1));
  return {stat, st::mackinnon_p(stat, 2), static_cast<double>(beta), crit[0], crit[1], crit[2]};
}

void check_against_reference(const std::vector<double>& y, const std::vector<double>& x, size_t n, size_t every, int maxlag,
                             bool autolag, Params params, bool log = false) {
  params.emplace("y", "Y");
  params.emplace("x", "X");
  auto h = node("stats.cointegration", params);
  const uint32_t ys = h->intern("Y"), xs = h->intern("X");
  const auto tests = run_coint(*h, values(ys, y), values(xs, x));
  REQUIRE(tests.size() == (y.size() - n) / every + 1);
  std::vector<double> ly = y, lx = x;
  if (log)
    for (size_t i = 0; i < y.size(); ++i) ly[i] = std::log(y[i]), lx[i] = std::log(x[i]);
  double worst = 0;
  for (const Test& t : tests) {
    const auto want = reference(ly, lx, t.at + 1, n, maxlag, autolag);
    for (size_t k : {0u, 2u}) worst = std::max(worst, std::abs(t.v[k] - want[k]) / std::max(1.0, std::abs(want[k])));
    CHECK(t.v[1] == st::mackinnon_p(t.v[0], 2));
    CHECK(t.v[3] == want[3]);
    CHECK(t.v[4] == want[4]);
    CHECK(t.v[5] == want[5]);
  }
  INFO("worst relative error of stat and beta " << worst);
  CHECK(worst <= 1e-9);
}

}  // namespace

TEST_CASE("stats.cointegration: a cointegrated pair rejects, two independent walks do not") {
  const auto a = noise(250, 31), b = noise(250, 32), c = noise(250, 33);
  std::vector<double> x(250), y(250), z(250);
  const auto stationary = ar1(b, 0.5);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = (i ? x[i - 1] : 50.0) + a[i];
    z[i] = (i ? z[i - 1] : 80.0) + c[i];
    y[i] = 5 + 2 * x[i] + stationary[i];
  }
  auto co = node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "250"}});
  auto no = node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "250"}});
  const auto t_co = run_coint(*co, values(co->intern("Y"), y), values(co->intern("X"), x));
  const auto t_no = run_coint(*no, values(no->intern("Y"), z), values(no->intern("X"), x));
  REQUIRE(t_co.size() == 1);
  REQUIRE(t_no.size() == 1);
  INFO("cointegrated: stat " << t_co[0].v[0] << " p " << t_co[0].v[1] << "; independent: stat " << t_no[0].v[0] << " p " << t_no[0].v[1]);
  CHECK(t_co[0].v[1] < 1e-3);
  CHECK(t_co[0].v[0] < t_co[0].v[3]);  // beyond the 1 % critical value
  CHECK(t_co[0].v[2] == Approx(2.0).epsilon(0.02));
  CHECK(t_no[0].v[1] > 0.1);
  CHECK(t_no[0].v[0] > t_no[0].v[5]);
  // Critical values: MacKinnon (2010), N = 2, for window - 1 observations.
  CHECK(t_co[0].v[4] == Approx(-3.33613 - 6.1101 / 249 - 6.823 / (249.0 * 249.0)).epsilon(1e-14));
}

TEST_CASE("stats.cointegration: equals the independent Engle-Granger test") {
  const auto btc = closes(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 5000));
  const auto eth = closes(load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 5000));
  SECTION("BTC on ETH, prices, AIC lag up to the default 12") {
    check_against_reference(btc, eth, 100, 37, st::adf_default_maxlag(100, st::AdfTrend::none), true,
                            {{"window", "100"}, {"every", "37"}});
  }
  SECTION("BTC on ETH, log prices, window 300") {
    check_against_reference(btc, eth, 300, 113, st::adf_default_maxlag(300, st::AdfTrend::none), true,
                            {{"window", "300"}, {"every", "113"}, {"log", "true"}}, true);
  }
  SECTION("fixed lags and a given maxlag") {
    check_against_reference(btc, eth, 60, 41, 2, false, {{"window", "60"}, {"every", "41"}, {"lags", "2"}});
    check_against_reference(btc, eth, 60, 41, 4, true, {{"window", "60"}, {"every", "41"}, {"maxlag", "4"}});
  }
  SECTION("small windows: the lag cap is window/2 - 1 without a constant, and must leave a degree of freedom") {
    CHECK(st::adf_default_maxlag(21, st::AdfTrend::none) == 9);
    check_against_reference(btc, eth, 21, 13, 9, true, {{"window", "21"}, {"every", "13"}});
    check_against_reference(btc, eth, 12, 13, 3, true, {{"window", "12"}, {"every", "13"}, {"maxlag", "3"}});
    CHECK(st::adf_default_maxlag(20, st::AdfTrend::none) == 9);  // 20 rows - 1 - 9 = 10 rows for 10 regressors
    CHECK_THROWS(node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "20"}}));
    CHECK_NOTHROW(node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "20"}, {"maxlag", "8"}}));
  }
}

TEST_CASE("stats.cointegration: collinear legs give -inf and p 0, a flat leg nothing") {
  auto h = node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "21"}});
  const uint32_t ys = h->intern("Y"), xs = h->intern("X");
  std::vector<double> x, y;
  for (int i = 0; i < 25; ++i) x.push_back(100 + std::sin(i) * 5 + i), y.push_back(1 + 3 * x.back());
  const auto t = run_coint(*h, values(ys, y), values(xs, x));
  REQUIRE(t.size() == 5);
  for (const auto& r : t) {
    CHECK(r.v[0] == -std::numeric_limits<double>::infinity());
    CHECK(r.v[1] == 0.0);
    CHECK(r.v[2] == Approx(3.0).epsilon(1e-12));
  }
  auto f = node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "21"}});
  std::vector<double> flat_x(25, 7.0);
  CHECK(run_coint(*f, values(f->intern("Y"), y), values(f->intern("X"), flat_x)).empty());
  CHECK_THROWS(node("stats.cointegration", {{"y", "Y"}, {"x", "X"}, {"window", "30"}, {"lags", "15"}}));  // at most 14
}

TEST_CASE("stats.cointegration: batches equal cycles, save and restore continue identically") {
  const auto stream = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 200),
                                 load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 200));
  auto make = [] {
    auto h = node("stats.cointegration", {{"y", "BTC"}, {"x", "ETH"}, {"window", "50"}, {"every", "5"}});
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    return h;
  };
  const auto all = run_all(make, stream);
  REQUIRE(all.size() == 6 * 31);
  CHECK(flat(make()->push_batch(0, stream)) == all);
  for (size_t cut : {5u, 99u, 100u, 301u}) CHECK(run_with_restore(make, stream, cut) == all);
}
