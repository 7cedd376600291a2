// stats.ols against hand-worked regressions and the textbook two-pass least squares of every
// window, on BTC and ETH minute closes (prices and log prices).
#include "stats_test_support.hpp"

using namespace stats_test;

namespace {

std::unique_ptr<NodeHarness> ols(int n, bool log = false) {
  return node("stats.ols", {{"y", "BTC"}, {"x", "ETH"}, {"period", std::to_string(n)}, {"log", log ? "true" : "false"}});
}

// beta, alpha and the last pair's residual of every window, two passes in long double.
Rows textbook(std::vector<double> y, std::vector<double> x, size_t n, bool log) {
  if (log)
    for (size_t i = 0; i < y.size(); ++i) y[i] = std::log(y[i]), x[i] = std::log(x[i]);
  Rows out(y.size());
  for (size_t end = n; end <= y.size(); ++end) {
    const Moments m = two_pass(x, y, end, n);
    const long double beta = m.sxx == 0 ? 0 : m.sxy / m.sxx, alpha = m.my - beta * m.mx;
    const long double resid = y[end - 1] - alpha - beta * x[end - 1];
    out[end - 1] = std::vector<double>{static_cast<double>(beta), static_cast<double>(alpha), static_cast<double>(resid)};
  }
  return out;
}

// The rows of the pair-completing events only (every other event of an interleaved stream).
Rows per_pair(const Rows& rows) {
  Rows out;
  for (size_t i = 1; i < rows.size(); i += 2) out.push_back(rows[i]);
  return out;
}

}  // namespace

TEST_CASE("stats.ols: hand-worked regressions on five points") {
  // x = 1..5, y = 2, 4, 5, 4, 5.
  // n = 5, one window: means 3 and 4, Sxx = 4+1+0+1+4 = 10,
  //   Sxy = (-2)(-2) + (-1)(0) + 0(1) + 1(0) + 2(1) = 6: beta = 0.6, alpha = 4 - 0.6*3 = 2.2,
  //   residual of (5, 5) = 5 - 2.2 - 3 = -0.2.
  // n = 4, windows x = 1..4 and 2..5:
  //   first: means 2.5 and 3.75, Sxx = 5, Sxy = (-1.5)(-1.75) + (-.5)(.25) + (.5)(1.25) + (1.5)(.25)
  //   = 3.5: beta = 0.7, alpha = 3.75 - 1.75 = 2, residual of (4, 4) = 4 - 2 - 2.8 = -0.8;
  //   second: means 3.5 and 4.5, Sxx = 5, Sxy = .75 - .25 - .25 + .75 = 1: beta = 0.2,
  //   alpha = 4.5 - 0.7 = 3.8, residual of (5, 5) = 5 - 3.8 - 1 = 0.2.
  const std::vector<double> xs{1, 2, 3, 4, 5}, ys{2, 4, 5, 4, 5};
  auto fit = [&](int n) {
    auto h = ols(n);
    const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
    std::vector<std::vector<double>> rows;
    for (size_t i = 0; i < xs.size(); ++i) {
      h->push(0, value(x, static_cast<int64_t>(i + 1), xs[i]));
      const auto out = h->push(0, value(y, static_cast<int64_t>(i + 1), ys[i]));
      if (out.empty()) continue;
      REQUIRE(out.size() == 3);
      rows.push_back({out[0].ev.u.value.value, out[1].ev.u.value.value, out[2].ev.u.value.value});
      CHECK(out[0].port_name == "beta");
      CHECK(out[2].port_name == "residual");
    }
    return rows;
  };
  const auto five = fit(5);
  REQUIRE(five.size() == 1);
  CHECK(five[0][0] == Approx(0.6).epsilon(1e-14));
  CHECK(five[0][1] == Approx(2.2).epsilon(1e-14));
  CHECK(five[0][2] == Approx(-0.2).epsilon(1e-13));
  const auto four = fit(4);
  REQUIRE(four.size() == 2);
  CHECK(four[0][0] == Approx(0.7).epsilon(1e-14));
  CHECK(four[0][1] == Approx(2.0).epsilon(1e-14));
  CHECK(four[0][2] == Approx(-0.8).epsilon(1e-14));
  CHECK(four[1][0] == Approx(0.2).epsilon(1e-14));
  CHECK(four[1][1] == Approx(3.8).epsilon(1e-14));
  CHECK(four[1][2] == Approx(0.2).epsilon(1e-13));
}

TEST_CASE("stats.ols: log prices, and a regressor that does not move") {
  // y = e^2 x^0.5 exactly: ln y = 2 + 0.5 ln x.
  auto h = ols(6, true);
  const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
  size_t n = 0;
  for (int i = 0; i < 10; ++i) {
    const double xv = 2000 + 37.0 * i + (i % 3) * 11.0;
    h->push(0, value(x, i + 1, xv));
    const auto out = h->push(0, value(y, i + 1, std::exp(2.0) * std::sqrt(xv)));
    if (out.empty()) continue;
    ++n;
    CHECK(out[0].ev.u.value.value == Approx(0.5).epsilon(1e-9));
    CHECK(out[1].ev.u.value.value == Approx(2.0).epsilon(1e-8));
    CHECK(std::abs(out[2].ev.u.value.value) < 1e-12);
  }
  CHECK(n == 5);
  // x constant over the window: no slope, alpha = mean of y.
  auto flat_x = ols(3);
  const uint32_t fy = flat_x->intern("BTC"), fx = flat_x->intern("ETH");
  std::vector<double> last;
  for (int i = 0; i < 3; ++i) {
    flat_x->push(0, value(fx, i + 1, 2500.5));
    last = flat(flat_x->push(0, value(fy, i + 1, 70000.0 + i)));
  }
  REQUIRE(last.size() == 3);
  CHECK(last[0] == 0.0);
  CHECK(last[1] == 70001.0);
  CHECK(last[2] == 1.0);
}

TEST_CASE("stats.ols: equals the two-pass textbook least squares on BTC vs ETH minute closes") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 50000);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 50000);
  for (bool log : {false, true})
    for (size_t n : {30u, 500u}) {
      INFO("n=" << n << " log=" << log);
      auto h = ols(static_cast<int>(n), log);
      REQUIRE(h->intern("BTC") == 1);
      REQUIRE(h->intern("ETH") == 2);
      const Rows rows = per_pair(pair_rows(*h, interleave(btc, eth), 3));
      CHECK(first_output(rows) == n - 1);
      check_rows(rows, textbook(closes(btc), closes(eth), n, log), 1e-9);
    }
}

TEST_CASE("stats.ols: the numerically hard case, BTC-level prices with cent moves") {
  const auto a = noise(20000, 21, 0.01), b = noise(20000, 22, 0.01);
  std::vector<double> y, x;
  double px = 69990.0;
  for (size_t i = 0; i < a.size(); ++i) {
    px += a[i];
    x.push_back(px);
    y.push_back(1.3 * px - 20000.0 + b[i]);
  }
  auto h = ols(60);
  const uint32_t ys = h->intern("BTC"), xs = h->intern("ETH");
  check_rows(per_pair(pair_rows(*h, interleave(values(ys, y), values(xs, x)), 3)), textbook(y, x, 60, false), 1e-9);
}

TEST_CASE("stats.ols: batches equal cycles, save and restore continue identically") {
  const auto stream = interleave(load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 300),
                                 load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 300));
  auto make = [] {
    auto h = ols(40, true);
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    return h;
  };
  const auto all = run_all(make, stream);
  REQUIRE(all.size() == 3 * 261);
  CHECK(flat(make()->push_batch(0, stream)) == all);
  for (size_t cut : {3u, 80u, 401u})
    CHECK(run_with_restore(make, stream, cut) == all);
}
