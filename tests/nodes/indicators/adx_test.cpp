// indicator.adx against hand-worked values and a textbook implementation (directional movement
// and true range as plain arrays, then Wilder's sums and recurrences as TA-Lib states them) on
// real daily and minute data. +DI and -DI start at bar n, ADX at bar 2n-1.
#include "indicator_stream_checks.hpp"

#include <limits>

using namespace indicator_test;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

NodeHarness* make_adx(int n) {
  return new NodeHarness(plugin_path("qflow_indicators"), "indicator.adx", {{"period", std::to_string(n)}}, {{"in", "bars"}});
}

struct Hlc {
  double high, low, close;
};

std::vector<qf_event> bars_of(const std::vector<Hlc>& x) {
  std::vector<qf_event> b;
  for (size_t i = 0; i < x.size(); ++i)
    b.push_back(qflow::make_bar(1, static_cast<int64_t>(i + 1), x[i].close, x[i].high, x[i].low, x[i].close, 1, 60));
  return b;
}

// What the node emitted per bar: ADX (port 0) and the two DIs (ports 1, 2) as separate rows,
// since they start at different bars.
struct AdxRows {
  Rows adx, di;
};

AdxRows run_adx(NodeHarness& h, const std::vector<qf_event>& events) {
  AdxRows r;
  for (const qf_event& e : events) {
    const auto out = h.push(0, e);
    std::optional<std::vector<double>> adx, di;
    for (const auto& o : out) {
      REQUIRE(o.port < 3);
      CHECK(o.ev.symbol == e.symbol);
      if (o.port == 0) adx = std::vector<double>{o.ev.u.value.value};
      if (o.port > 0) {
        if (!di) di = std::vector<double>(2);
        (*di)[o.port - 1] = o.ev.u.value.value;
      }
    }
    CHECK(out.size() == (adx ? 3u : di ? 2u : 0u));
    r.adx.push_back(adx);
    r.di.push_back(di);
  }
  return r;
}

// TA-Lib's ADX written out: per bar i >= 1, up = h_i - h_{i-1}, down = l_{i-1} - l_i,
// -DM = down if down > 0 and up < down, else +DM = up if up > 0 and up > down; TR as for ATR.
// Sums over bars 1..n-1, then s = s - s/n + x from bar n; DI = 100 s(DM)/s(TR); DX from the DIs;
// ADX = mean DX of bars n..2n-1 (undefined DX counted 0), then ((n-1) adx + DX)/n when DX is
// defined, else unchanged.
AdxRows textbook(const std::vector<qf_event>& bars, size_t n) {
  const size_t count = bars.size();
  AdxRows out{Rows(count), Rows(count)};
  std::vector<double> pdm(count, 0.0), mdm(count, 0.0), tr(count, 0.0);
  for (size_t i = 1; i < count; ++i) {
    const qf_bar &b = bars[i].u.bar, &p = bars[i - 1].u.bar;
    const double up = b.high - p.high, down = p.low - b.low;
    if (down > 0 && up < down)
      mdm[i] = down;
    else if (up > 0 && up > down)
      pdm[i] = up;
    tr[i] = std::max(b.high - b.low, std::max(std::abs(b.high - p.close), std::abs(b.low - p.close)));
  }
  if (count <= n) return out;
  double sp = 0, sm = 0, st = 0;
  for (size_t i = 1; i < n; ++i) sp += pdm[i], sm += mdm[i], st += tr[i];
  std::vector<double> dx(count, 0.0);
  std::vector<bool> defined(count, false);
  const double nn = static_cast<double>(n);
  for (size_t i = n; i < count; ++i) {
    sp = sp - sp / nn + pdm[i];
    sm = sm - sm / nn + mdm[i];
    st = st - st / nn + tr[i];
    const double plus = st == 0 ? 0 : 100 * sp / st, minus = st == 0 ? 0 : 100 * sm / st;
    out.di[i] = std::vector<double>{plus, minus};
    defined[i] = st != 0 && plus + minus != 0;
    if (defined[i]) dx[i] = 100 * std::abs(plus - minus) / (plus + minus);
  }
  if (count < 2 * n) return out;
  double adx = 0;
  for (size_t i = n; i <= 2 * n - 1; ++i) adx += dx[i];
  adx /= nn;
  out.adx[2 * n - 1] = std::vector<double>{adx};
  for (size_t i = 2 * n; i < count; ++i) {
    if (defined[i]) adx = ((nn - 1) * adx + dx[i]) / nn;
    out.adx[i] = std::vector<double>{adx};
  }
  return out;
}

}  // namespace

TEST_CASE("indicator.adx: hand-worked values, DIs from bar n, ADX from bar 2n-1") {
  // n = 2, bars (high, low, close); sums over bar 1 only, then s = s - s/2 + x:
  //   0 (10, 8, 9)
  //   1 (11, 9, 10)    up 1, down -1: +DM 1;  TR 2            sums: +DM 1, -DM 0, TR 2
  //   2 (12, 9.5, 10)  up 1, down -0.5: +DM 1; TR 2.5         +DM 1.5, -DM 0, TR 3.5
  //        +DI = 150/3.5 = 300/7, -DI = 0, DX = 100                          <- first DIs
  //   3 (11, 7, 8)     up -1, down 2.5: -DM 2.5; TR max(4, 1, 3) = 4
  //        +DM 0.75, -DM 2.5, TR 5.75: +DI = 300/23, -DI = 1000/23, DX = 100*700/1300 = 700/13
  //        ADX = (100 + 700/13)/2 = 1000/13                                  <- first ADX
  //   4 (9, 8, 8.5)    up -2, down -1: no DM; TR max(1, 1, 0) = 1
  //        +DM 0.375, -DM 1.25, TR 3.875: +DI = 300/31, -DI = 1000/31, DX = 700/13
  //        ADX = (1000/13 + 700/13)/2 = 850/13
  //   5 (10, 7, 8)     up 1, down 1: a tie gives no DM; TR max(3, 1.5, 1.5) = 3
  //        +DM 3/16, -DM 5/8, TR 79/16: +DI = 300/79, -DI = 1000/79, DX = 700/13
  //        ADX = (850/13 + 700/13)/2 = 775/13
  std::unique_ptr<NodeHarness> h(make_adx(2));
  const AdxRows rows = run_adx(*h, bars_of({{10, 8, 9}, {11, 9, 10}, {12, 9.5, 10}, {11, 7, 8}, {9, 8, 8.5}, {10, 7, 8}}));
  CHECK(first_output(rows.di) == 2);
  CHECK(first_output(rows.adx) == 3);
  const double plus[] = {300.0 / 7, 300.0 / 23, 300.0 / 31, 300.0 / 79};
  const double minus[] = {0, 1000.0 / 23, 1000.0 / 31, 1000.0 / 79};
  for (size_t i = 0; i < 4; ++i) {
    CHECK((*rows.di[i + 2])[0] == Approx(plus[i]).epsilon(1e-14));
    CHECK((*rows.di[i + 2])[1] == Approx(minus[i]).epsilon(1e-14));
  }
  CHECK((*rows.adx[3])[0] == Approx(1000.0 / 13).epsilon(1e-14));
  CHECK((*rows.adx[4])[0] == Approx(850.0 / 13).epsilon(1e-14));
  CHECK((*rows.adx[5])[0] == Approx(775.0 / 13).epsilon(1e-14));
}

TEST_CASE("indicator.adx: TA-Lib's default 14 starts the DIs at bar 14 and ADX at bar 27, a flat series is 0") {
  NodeHarness d(plugin_path("qflow_indicators"), "indicator.adx", {}, {{"in", "bars"}});
  CHECK(d.output_port("adx") == 0);
  CHECK(d.output_port("plus_di") == 1);
  CHECK(d.output_port("minus_di") == 2);
  const auto bars = load_bars(data("orcl_1995_2014_daily_yahoo.csv"), 1, 100);
  const AdxRows rows = run_adx(d, bars);
  CHECK(first_output(rows.di) == 14);
  CHECK(first_output(rows.adx) == 27);

  std::unique_ptr<NodeHarness> flat(make_adx(3));
  const AdxRows f = run_adx(*flat, bars_of(std::vector<Hlc>(12, Hlc{5, 5, 5})));
  for (size_t i = 5; i < 12; ++i) CHECK(*f.adx[i] == std::vector<double>{0});
  for (size_t i = 3; i < 12; ++i) CHECK(*f.di[i] == std::vector<double>{0, 0});
}

TEST_CASE("indicator.adx: equals the textbook loops on ORCL daily and BTC minute bars") {
  for (const auto& [file, limit] : {std::pair{std::string("orcl_1995_2014_daily_yahoo.csv"), SIZE_MAX},
                                    std::pair{std::string("binance_spot_btcusdt_1m_2024q4.csv"), size_t{50000}}}) {
    const auto bars = load_bars(data(file), 1, limit);
    for (size_t n : {2u, 14u, 50u}) {
      INFO(file << " n=" << n);
      std::unique_ptr<NodeHarness> h(make_adx(static_cast<int>(n)));
      const AdxRows got = run_adx(*h, bars);
      const AdxRows want = textbook(bars, n);
      CHECK(first_output(got.di) == n);
      CHECK(first_output(got.adx) == 2 * n - 1);
      check_relative(got.adx, want.adx, 0, 1e-9);
      check_relative(got.di, want.di, 0, 1e-9);
      check_relative(got.di, want.di, 1, 1e-9);
    }
  }
}

TEST_CASE("indicator.adx: a bar with a NaN low makes the outputs NaN, and no crash") {
  std::unique_ptr<NodeHarness> h(make_adx(2));
  const AdxRows rows = run_adx(*h, bars_of({{10, 8, 9}, {11, 9, 10}, {12, 9.5, 10}, {11, std::numeric_limits<double>::quiet_NaN(), 8}, {9, 8, 8.5}}));
  CHECK((*rows.di[2])[0] == Approx(300.0 / 7));
  CHECK(std::isnan((*rows.adx[3])[0]));
  CHECK(std::isnan((*rows.di[4])[1]));
}

TEST_CASE("indicator.adx: symbols keep their own series, batches equal cycles, restore continues") {
  const auto btc = load_bars(data("binance_spot_btcusdt_1m_2024q4.csv"), 1, 500);
  const auto eth = load_bars(data("binance_spot_ethusdt_1m_2024q4.csv"), 2, 500);
  const auto both = interleave(btc, eth);
  check_streaming([] { return make_adx(14); }, both, {1, 5, 28, 29, 40, 55, 56, 301, 999});

  std::unique_ptr<NodeHarness> mixed(make_adx(14));
  const AdxRows rows = run_adx(*mixed, both);
  AdxRows b, e;
  for (size_t i = 0; i < rows.adx.size(); ++i) {
    AdxRows& to = i % 2 ? e : b;
    to.adx.push_back(rows.adx[i]);
    to.di.push_back(rows.di[i]);
  }
  for (const auto& [got, want] : {std::pair{&b, textbook(btc, 14)}, std::pair{&e, textbook(eth, 14)}}) {
    check_relative(got->adx, want.adx, 0, 1e-12);
    check_relative(got->di, want.di, 0, 1e-12);
    check_relative(got->di, want.di, 1, 1e-12);
  }
}
