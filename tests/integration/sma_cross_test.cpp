// The demo's exact semantics, checked against a backtest written out by hand in this file:
// textbook SMAs (each window summed from scratch), the crossover rule on the last non-zero
// difference, market orders filled at the next bar's open, 0.1% commission per side, equity
// marked at every close, a position still open at the end valued at the last close.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>

using namespace qflow::testing;

namespace {

struct Bars {
  std::vector<std::string> date;
  std::vector<double> open, close;
};

Bars read_yahoo(const std::string& path) {
  Bars b;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string f[7];
    for (auto& x : f) std::getline(ss, x, ',');
    b.date.push_back(f[0]);
    b.open.push_back(std::strtod(f[1].c_str(), nullptr));
    b.close.push_back(std::strtod(f[4].c_str(), nullptr));
  }
  return b;
}

struct RefTrade {
  std::string entry_time, exit_time;
  double entry_price, exit_price, pnl_gross, commission;
};

struct RefResult {
  std::vector<RefTrade> trades;
  double final_value, max_drawdown;
};

RefResult reference(const Bars& b, size_t fast_n, size_t slow_n, double size, double commission, double cash) {
  auto sma = [&](size_t i, size_t n) {
    double s = 0;
    for (size_t k = i + 1 - n; k <= i; ++k) s += b.close[k];
    return s / static_cast<double>(n);
  };
  RefResult r{};
  double pos = 0, peak = cash, last_nonzero = 0, entry_price = 0, entry_comm = 0;
  std::string entry_time;
  int pending = 0;  // +1 buy, -1 sell at the next open
  for (size_t i = 0; i < b.close.size(); ++i) {
    if (pending != 0) {
      const double price = b.open[i];
      const double qty = pending > 0 ? size : pos;
      const double comm = qty * price * commission;
      if (pending > 0) {
        cash -= qty * price + comm;
        pos += qty;
        entry_price = price, entry_comm = comm, entry_time = b.date[i];
      } else {
        cash += qty * price - comm;
        pos -= qty;
        r.trades.push_back({entry_time, b.date[i], entry_price, price, (price - entry_price) * qty, entry_comm + comm});
      }
      pending = 0;
    }
    if (i + 1 >= slow_n) {
      const double diff = sma(i, fast_n) - sma(i, slow_n);
      const bool up = diff > 0 && last_nonzero < 0;
      const bool down = diff < 0 && last_nonzero > 0;
      if (diff != 0) last_nonzero = diff;
      if (pos == 0 && up) pending = 1;
      else if (pos > 0 && down) pending = -1;
    }
    const double equity = cash + pos * b.close[i];
    peak = std::max(peak, equity);
    r.max_drawdown = std::max(r.max_drawdown, (peak - equity) / peak);
  }
  r.final_value = cash + pos * b.close.back();
  return r;
}

void check_against_reference(const std::string& strategy, size_t fast_n, size_t slow_n) {
  const std::string out = fresh_dir("sma_cross_" + strategy + std::to_string(fast_n));
  const PipelineRun run = run_pipeline_file(std::string(QFLOW_SOURCE_DIR) + "/pipelines/sma_cross.yaml",
                                            {{"strategy", strategy},
                                             {"out", out},
                                             {"fast", std::to_string(fast_n)},
                                             {"slow", std::to_string(slow_n)}});
  INFO(run.errors);
  REQUIRE(run.status == 0);
  const Bars bars = read_yahoo(std::string(QFLOW_SOURCE_DIR) + "/pipelines/data/orcl_1995_2014_daily_yahoo.csv");
  const RefResult ref = reference(bars, fast_n, slow_n, 100, 0.001, 100000);
  REQUIRE(ref.trades.size() > 20);

  const auto rows = read_csv(out + "/trades.csv");
  REQUIRE(rows.at(0) == std::vector<std::string>{"symbol", "direction", "entry_time", "entry_price", "exit_time", "exit_price",
                                                 "size", "pnl_gross", "commission", "pnl_net"});
  REQUIRE(rows.size() - 1 == ref.trades.size());
  for (size_t i = 0; i < ref.trades.size(); ++i) {
    const auto& row = rows[i + 1];
    const RefTrade& t = ref.trades[i];
    INFO("trade " << i);
    CHECK(row[0] == "ORCL");
    CHECK(row[2] == t.entry_time + "T00:00:00Z");
    CHECK(row[4] == t.exit_time + "T00:00:00Z");
    CHECK(std::stod(row[3]) == t.entry_price);
    CHECK(std::stod(row[5]) == t.exit_price);
    CHECK(std::stod(row[6]) == 100);
    CHECK(std::stod(row[7]) == Approx(t.pnl_gross).margin(1e-9));
    CHECK(std::stod(row[8]) == Approx(t.commission).margin(1e-12));
    CHECK(std::stod(row[9]) == Approx(t.pnl_gross - t.commission).margin(1e-9));
  }
  const auto summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  CHECK(summary["final_value"].get<double>() == Approx(ref.final_value).margin(1e-7));
  CHECK(summary["total_return"].get<double>() == Approx(ref.final_value / 100000 - 1).margin(1e-12));
  CHECK(summary["max_drawdown"].get<double>() == Approx(ref.max_drawdown).margin(1e-12));
  CHECK(summary["trades"].get<int>() == static_cast<int>(ref.trades.size()));
  CHECK(summary["bars"].get<int>() == static_cast<int>(bars.close.size()));
}

}  // namespace

TEST_CASE("sma_cross demo (native strategy) equals the hand-written backtest") {
  check_against_reference("native", 10, 30);
  check_against_reference("native", 20, 50);
}

TEST_CASE("sma_cross demo (Lua strategy) equals the hand-written backtest") {
  check_against_reference("lua", 10, 30);
  check_against_reference("lua", 5, 60);
}
