// Helpers shared by the sink tests: a fresh output folder per test, reading a file back, and
// event constructors for fills and account snapshots.
#pragma once

#include "node_harness.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace qflow::testing {

// An empty folder under the test work directory, named after the test.
inline std::string fresh_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(QFLOW_TEST_WORK_DIR) / "sinks" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(read_text(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline int64_t at(const char* iso) {
  const auto t = parse_time(iso);
  if (!t) throw std::invalid_argument(std::string("bad time ") + iso);
  return *t;
}

inline qf_event fill(uint32_t symbol, int64_t time_ns, int32_t side, double quantity, double price,
                     double commission = 0) {
  static uint64_t next_id = 1;
  qf_event ev = make_event(Kind::fill, symbol, time_ns);
  ev.u.fill.order_id = next_id;
  ev.u.fill.fill_id = next_id++;
  ev.u.fill.quantity = quantity;
  ev.u.fill.price = price;
  ev.u.fill.commission = commission;
  ev.u.fill.side = side;
  return ev;
}

inline qf_event account(int64_t time_ns, double equity, bool initial = false) {
  qf_event ev = make_event(Kind::account, 0, time_ns);
  ev.u.account.cash = equity;
  ev.u.account.equity = equity;
  if (initial) ev.flags = QF_EVENT_INITIAL;
  return ev;
}

}  // namespace qflow::testing
