// stats.correlation against hand-worked values and the textbook two-pass correlation of every
// window, on BTC and ETH minute closes paired by time.
#include "stats_test_support.hpp"

using namespace stats_test;

namespace {

std::unique_ptr<NodeHarness> correlation(int n) {
  return node("stats.correlation", {{"y", "BTC"}, {"x", "ETH"}, {"period", std::to_string(n)}});
}

// r of every window of n pairs ending at i, two passes in long double; 0 when a leg is flat.
std::vector<double> textbook(const std::vector<double>& y, const std::vector<double>& x, size_t n) {
  std::vector<double> out;
  for (size_t end = n; end <= y.size(); ++end) {
    const Moments m = two_pass(x, y, end, n);
    out.push_back(m.sxx == 0 || m.syy == 0 ? 0.0 : static_cast<double>(m.sxy / std::sqrt(m.sxx * m.syy)));
  }
  return out;
}

void check_series(const std::vector<std::vector<double>>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i].at(0) - want[i]) / std::max(1.0, std::abs(want[i])));
  INFO("worst relative error " << worst);
  CHECK(worst <= tol);
}

}  // namespace

TEST_CASE("stats.correlation: hand-worked values, first value at the n-th pair") {
  // n = 3, y = 1, 2, 4 and x = 1, 3, 2: means 7/3 and 2; deviations dy = -4/3, -1/3, 5/3 and
  // dx = -1, 1, 0; Sxy = 4/3 - 1/3 + 0 = 1, Sxx = 2, Syy = 42/9 = 14/3;
  // r = 1 / sqrt(2 * 14/3) = sqrt(3/28).
  // Then (y, x) = (5, 4): y = 2, 4, 5 and x = 3, 2, 4: means 11/3 and 3; dy = -5/3, 1/3, 4/3,
  // dx = 0, -1, 1; Sxy = 0 - 1/3 + 4/3 = 1, Sxx = 2, Syy = 42/9: r = sqrt(3/28) again.
  auto h = correlation(3);
  const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
  const std::vector<double> ys{1, 2, 4, 5}, xs{1, 3, 2, 4};
  std::vector<std::vector<double>> got;
  for (size_t i = 0; i < ys.size(); ++i) {
    CHECK(h->push(0, value(y, static_cast<int64_t>(i + 1), ys[i])).empty());  // the pair is not complete yet
    const auto out = h->push(0, value(x, static_cast<int64_t>(i + 1), xs[i]));
    CHECK(out.size() == (i >= 2 ? 1u : 0u));
    for (const auto& o : out) {
      CHECK(o.ev.symbol == x);  // attached to the event completing the pair
      got.push_back({o.ev.u.value.value});
    }
  }
  REQUIRE(got.size() == 2);
  CHECK(got[0][0] == Approx(std::sqrt(3.0 / 28.0)).epsilon(1e-15));
  CHECK(got[1][0] == Approx(std::sqrt(3.0 / 28.0)).epsilon(1e-15));
}

TEST_CASE("stats.correlation: perfectly related legs give 1 and -1, a flat leg 0") {
  for (const auto& [slope, want] : {std::pair{2.0, 1.0}, std::pair{-0.5, -1.0}, std::pair{0.0, 0.0}}) {
    INFO("slope " << slope);
    auto h = correlation(4);
    const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
    std::vector<double> got;
    for (int i = 0; i < 12; ++i) {
      const double xv = 100 + (i % 5) * 1.5 + i;
      h->push(0, value(x, i + 1, xv));
      for (const auto& o : h->push(0, value(y, i + 1, 7 + slope * xv))) got.push_back(o.ev.u.value.value);
    }
    REQUIRE(got.size() == 9);
    for (double r : got) CHECK(r == Approx(want).margin(1e-12));
  }
  // A leg that moves, then stops for a whole window: exactly 0 once the window is flat.
  auto h = correlation(5);
  const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
  std::vector<double> got;
  for (int i = 0; i < 20; ++i) {
    h->push(0, value(y, i + 1, 70000.13 + 0.37 * i));
    for (const auto& o : h->push(0, value(x, i + 1, i < 8 ? 2600.0 + 0.01 * i * i : 2600.77))) got.push_back(o.ev.u.value.value);
  }
  REQUIRE(got.size() == 16);
  for (size_t i = 8; i < got.size(); ++i) CHECK(got[i] == 0.0);  // pairs 12..19: x flat over the window
}

TEST_CASE("stats.correlation: equals the two-pass textbook correlation on BTC vs ETH minute closes") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 50000);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 50000);
  for (size_t n : {2u, 30u, 500u}) {
    INFO("n=" << n);
    auto h = correlation(static_cast<int>(n));
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    const Rows rows = pair_rows(*h, interleave(btc, eth), 1);
    CHECK(first_output(rows) == 2 * n - 1);  // the x leg of the n-th pair
    check_series(emitted(rows), textbook(closes(btc), closes(eth), n), 1e-9);
  }
}

TEST_CASE("stats.correlation: pairs by time, drops a leg without partner, ignores other symbols") {
  auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 5000);
  auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 5000);
  // Minutes missing from one leg or the other, the order of the legs varying, and a third
  // symbol in between: only complete minutes count.
  std::vector<qf_event> stream;
  std::vector<double> ys, xs;
  for (size_t i = 0; i < btc.size(); ++i) {
    const bool has_y = i % 89 != 5, has_x = i % 97 != 11;
    const bool x_first = (i / 7) % 2 == 1;
    if (x_first && has_x) stream.push_back(eth[i]);
    if (has_y) stream.push_back(btc[i]);
    if (i % 13 == 0) stream.push_back(value(3, btc[i].time_ns, 1e9));
    if (!x_first && has_x) stream.push_back(eth[i]);
    if (has_y && has_x) ys.push_back(btc[i].u.bar.close), xs.push_back(eth[i].u.bar.close);
  }
  auto h = correlation(30);
  REQUIRE(h->intern("BTC") == 1);
  REQUIRE(h->intern("ETH") == 2);
  REQUIRE(h->intern("other") == 3);
  check_series(emitted(pair_rows(*h, stream, 1)), textbook(ys, xs, 30), 1e-9);
}

TEST_CASE("stats.correlation: the numerically hard case, BTC-level prices with cent moves") {
  // Two legs near 70,000 moving by cents: Sxx is ~1e-3 against x^2 ~ 5e9.
  const auto a = noise(20000, 11, 0.01), b = noise(20000, 12, 0.01);
  std::vector<double> y, x;
  double py = 70000.0, px = 69990.0;
  for (size_t i = 0; i < a.size(); ++i) {
    py += a[i];
    px += 0.6 * a[i] + 0.8 * b[i];
    y.push_back(py), x.push_back(px);
  }
  auto h = correlation(50);
  const uint32_t ys = h->intern("BTC"), xs = h->intern("ETH");
  check_series(emitted(pair_rows(*h, interleave(values(ys, y), values(xs, x)), 1)), textbook(y, x, 50), 1e-9);
}

TEST_CASE("stats.correlation: batches equal cycles, save and restore continue identically") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 400);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 400);
  const auto stream = interleave(btc, eth);
  auto make = [] {
    auto h = correlation(30);
    REQUIRE(h->intern("BTC") == 1);
    REQUIRE(h->intern("ETH") == 2);
    return h;
  };
  const auto all = run_all(make, stream);
  REQUIRE(all.size() == 371);
  CHECK(flat(make()->push_batch(0, stream)) == all);
  // Cut inside the warm-up, between the two legs of a pair, and after many exact recomputations.
  for (size_t cut : {7u, 61u, 500u, 701u}) {
    INFO("cut " << cut);
    CHECK(run_with_restore(make, stream, cut) == all);
  }
  // A state restores only into a node of the same pair.
  auto other = node("stats.correlation", {{"y", "ETH"}, {"x", "BTC"}, {"period", "30"}});
  auto h = make();
  h->push(0, stream[0]);
  CHECK_THROWS(other->restore_state(h->save_state()));
}

TEST_CASE("stats.correlation: non-finite observations are ignored, bad params refused") {
  auto h = correlation(2);
  const uint32_t y = h->intern("BTC"), x = h->intern("ETH");
  h->push(0, value(y, 1, 1));
  h->push(0, value(x, 1, 2));
  h->push(0, value(y, 2, NAN));
  CHECK(h->push(0, value(x, 2, 3)).empty());  // y of minute 2 never came
  h->push(0, value(y, 3, 2));
  const auto out = h->push(0, value(x, 3, INFINITY));
  CHECK(out.empty());
  const auto done = h->push(0, value(x, 3, 5));
  REQUIRE(done.size() == 1);
  CHECK(done[0].ev.u.value.value == Approx(1.0));
  CHECK_THROWS(node("stats.correlation", {{"y", "BTC"}, {"x", "BTC"}}));
  CHECK_THROWS(node("stats.correlation", {{"y", "BTC"}}));
}
