// The commands that read a run folder's store: `qflow runs`, `qflow query`, `qflow export`.
// They open the database read-only, so they work while a pipeline is writing it.
#pragma once

#include <cstdint>
#include <string>

namespace qflow::cli {

struct FactQuery {
  std::string run_dir;
  std::string family;  // bars, values, fills, ...
  std::string run_id;  // empty: the only run, else the latest started
  std::string symbol;
  std::string node;
  std::string from, to;  // ISO 8601 UTC, inclusive
  std::string format;    // table, csv, json
  int64_t limit = 0;     // 0: every row
  std::string output;    // empty: stdout
};

// Each returns the process exit code: 0, 1 (bad arguments) or 3 (the store cannot be read).
int query_facts(const FactQuery& q);
int list_runs(const std::string& run_dir, bool json);

}  // namespace qflow::cli
