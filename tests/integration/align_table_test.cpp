// source.csv_bars (BTC, ETH) -> transform.align (inner) -> sink.table_csv, end to end: the two
// legs of every minute both files have arrive on the table's one input in the same cycle and
// give two rows, BTC then ETH, whose columns equal the input files' (read here with strtod).
// Minutes are removed from each file first, differently, so that the inner join has minutes to
// drop.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace qflow::testing;

namespace {

const std::string kPipeline = std::string(QFLOW_SOURCE_DIR) + "/tests/integration/pipelines/align_table.yaml";
const std::string kData = std::string(QFLOW_SOURCE_DIR) + "/pipelines/data/";

// Copies the CSV at `from` to `to` without the data rows whose index i has i % every == offset;
// returns the kept rows by timestamp ("2024-10-01 03:00:00" -> the row's fields).
std::map<std::string, std::vector<std::string>> thin(const std::string& from, const std::string& to, size_t every,
                                                     size_t offset) {
  const auto rows = read_csv(from);
  REQUIRE(rows.size() > 1);
  std::ofstream out(to, std::ios::binary);
  out << "timestamp,open,high,low,close,volume\n";
  REQUIRE(rows[0] == std::vector<std::string>{"timestamp", "open", "high", "low", "close", "volume"});
  std::map<std::string, std::vector<std::string>> kept;
  for (size_t i = 1; i < rows.size(); ++i) {
    if ((i - 1) % every == offset) continue;
    const std::vector<std::string>& r = rows[i];
    REQUIRE(r.size() == 6);
    out << r[0] << ',' << r[1] << ',' << r[2] << ',' << r[3] << ',' << r[4] << ',' << r[5] << '\n';
    kept[r[0]] = r;
  }
  return kept;
}

double number(const std::string& s) {
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);
  REQUIRE(end == s.c_str() + s.size());
  return x;
}

// "2024-10-01 03:00:00" as the table prints it.
std::string iso(const std::string& timestamp) { return timestamp.substr(0, 10) + "T" + timestamp.substr(11) + "Z"; }

}  // namespace

TEST_CASE("transform.align into sink.table_csv: two rows per aligned minute, closes equal to the files'") {
  const std::string out = fresh_dir("align_table");
  const auto btc = thin(kData + "binance_spot_btcusdt_1m_2024q4_head10k.csv", out + "/btc.csv", 37, 5);
  const auto eth = thin(kData + "binance_spot_ethusdt_1m_2024q4_head10k.csv", out + "/eth.csv", 53, 11);
  // The inner join written the plain way: the minutes both files have, in time order.
  std::vector<std::string> minutes;
  for (const auto& [t, row] : btc)
    if (eth.count(t)) minutes.push_back(t);
  REQUIRE(minutes.size() < btc.size());
  REQUIRE(minutes.size() < eth.size());
  REQUIRE(minutes.size() > 9000);

  const PipelineRun r = run_pipeline_file(kPipeline, {{"out", out + "/run"}, {"btc", out + "/btc.csv"}, {"eth", out + "/eth.csv"}});
  INFO(r.errors);
  REQUIRE(r.status == 0);
  const auto table = read_csv(out + "/run/legs.csv");
  REQUIRE(!table.empty());
  CHECK(table[0] == std::vector<std::string>{"time", "symbol", "legs.open", "legs.high", "legs.low", "legs.close", "legs.volume"});
  REQUIRE(table.size() == 1 + 2 * minutes.size());
  size_t mismatches = 0;
  for (size_t m = 0; m < minutes.size(); ++m) {
    for (size_t leg = 0; leg < 2; ++leg) {
      const std::vector<std::string>& row = table[1 + 2 * m + leg];
      const std::vector<std::string>& want = (leg == 0 ? btc : eth).at(minutes[m]);
      REQUIRE(row.size() == 7);
      bool same = row[0] == iso(minutes[m]) && row[1] == (leg == 0 ? "BTCUSDT" : "ETHUSDT");
      for (size_t k = 1; k <= 5; ++k) same = same && number(row[k + 1]) == number(want[k]);
      if (!same && ++mismatches <= 5) UNSCOPED_INFO("row " << 2 * m + leg << ": " << row[0] << "," << row[1] << "," << row[5]);
    }
  }
  CHECK(mismatches == 0);
}
