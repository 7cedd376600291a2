// Shared by the indicator tests: the real data sets of ../shared/data as bar events, and running
// an indicator node over them through the node harness, one cycle per bar and as batches.
#pragma once

#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <qflow/events.hpp>
#include <qflow/time.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace indicator_test {

inline std::string data(const std::string& file) { return std::string(QFLOW_SHARED_DATA_DIR) + "/" + file; }

// Bars of a daily Yahoo CSV (Date,Open,High,Low,Close,Adj Close,Volume) or a Binance minute
// CSV (timestamp,open,high,low,close,volume), all for `symbol`, stamped one day (or minute)
// apart from 1 on.
inline std::vector<qf_event> load_bars(const std::string& path, uint32_t symbol = 1, size_t limit = SIZE_MAX) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  const bool yahoo = line.rfind("Date,", 0) == 0;
  const int64_t step = yahoo ? 86'400'000'000'000 : 60'000'000'000;
  std::vector<qf_event> out;
  while (out.size() < limit && std::getline(in, line)) {
    std::stringstream row(line);
    std::string cell;
    std::vector<double> v;
    std::getline(row, cell, ',');  // the date
    while (std::getline(row, cell, ',')) v.push_back(std::stod(cell));
    REQUIRE(v.size() >= 5);
    const double volume = yahoo ? v.at(5) : v.at(4);
    out.push_back(qflow::make_bar(symbol, static_cast<int64_t>(out.size() + 1) * step, v[0], v[1], v[2], v[3], volume, step));
  }
  return out;
}

inline std::vector<double> closes(const std::vector<qf_event>& bars) {
  std::vector<double> out;
  for (const qf_event& b : bars) out.push_back(b.u.bar.close);
  return out;
}

// What an indicator emitted per input: nullopt before its first output, else output k by port.
using Rows = std::vector<std::optional<std::vector<double>>>;

// Pushes every event through a fresh node, one cycle each.
inline Rows run(qflow::testing::NodeHarness& h, const std::vector<qf_event>& events, size_t outputs) {
  Rows rows;
  for (const qf_event& e : events) {
    const auto out = h.push(0, e);
    if (out.empty()) {
      rows.emplace_back();
      continue;
    }
    REQUIRE(out.size() == outputs);
    std::vector<double> r(outputs);
    for (const auto& o : out) {
      REQUIRE(o.port < outputs);
      REQUIRE(o.ev.kind == QF_KIND_VALUE);
      CHECK(o.ev.symbol == e.symbol);
      r[o.port] = o.ev.u.value.value;
    }
    rows.push_back(r);
  }
  return rows;
}

// The first index with an output; events.size() when none.
inline size_t first_output(const Rows& rows) {
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i]) return i;
  return rows.size();
}

// |got - want| <= tol * max(1, |want|) for every defined row; rows must be defined together.
inline void check_rows(const Rows& got, const Rows& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    REQUIRE(got[i].has_value() == want[i].has_value());
    if (!got[i]) continue;
    REQUIRE(got[i]->size() == want[i]->size());
    for (size_t k = 0; k < got[i]->size(); ++k) {
      const double w = (*want[i])[k], g = (*got[i])[k];
      const double err = std::abs(g - w) / std::max(1.0, std::abs(w));
      if (std::isnan(err) || err > worst) worst = std::isnan(err) ? INFINITY : err, worst_at = i;
    }
  }
  INFO("worst relative error " << worst << " at input " << worst_at);
  CHECK(worst <= tol);
}

}  // namespace indicator_test
