#include "store_commands.hpp"

#include "../diagnostics.hpp"
#include "../store/fact_table.hpp"
#include "../store/runs.hpp"
#include "../store/store.hpp"

#include <nlohmann/json.hpp>
#include <qflow/time.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>

namespace qflow::cli {

namespace {

constexpr int kOk = 0, kUsage = 1, kFailed = 3;

std::string suggest(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string s = did_you_mean(word, candidates);
  return s.empty() ? s : " (" + s + ")";
}

void csv_cell(std::string& out, const std::string& s) {
  const bool plain = std::none_of(s.begin(), s.end(), [](char c) { return c == ',' || c == '"' || c == '\r' || c == '\n'; });
  if (plain) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Rows to a stream in one of the three formats. The table format keeps every row to align
// the columns; csv and json stream.
class RowPrinter {
 public:
  RowPrinter(std::ostream& out, std::string format, std::vector<std::string> columns)
      : out_(out), format_(std::move(format)), columns_(std::move(columns)) {
    if (format_ == "csv") {
      std::string line;
      for (size_t i = 0; i < columns_.size(); ++i) {
        if (i) line += ',';
        csv_cell(line, columns_[i]);
      }
      out_ << line << '\n';
    } else if (format_ == "json") {
      out_ << '[';
    }
  }

  void add(const std::vector<store::FactCell>& row) {
    if (format_ == "csv") {
      line_.clear();
      for (size_t i = 0; i < row.size(); ++i) {
        if (i) line_ += ',';
        if (row[i].number) {
          line_ += row[i].text;  // digits, sign, point, exponent: never quoted
        } else {
          csv_cell(line_, row[i].text);
        }
      }
      line_ += '\n';
      out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    } else if (format_ == "json") {
      std::string line = rows_ ? ",\n  {" : "\n  {";
      for (size_t i = 0; i < row.size(); ++i) {
        if (i) line += ", ";
        line += nlohmann::json(columns_[i]).dump();
        line += ": ";
        const bool finite = row[i].text != "nan" && row[i].text != "inf" && row[i].text != "-inf";
        line += row[i].number ? (finite ? row[i].text : "null") : nlohmann::json(row[i].text).dump();
      }
      out_ << line << '}';
    } else {
      std::vector<std::string> cells;
      for (const auto& c : row) cells.push_back(c.text);
      table_.push_back(std::move(cells));
    }
    ++rows_;
  }

  void finish() {
    if (format_ == "json") {
      out_ << (rows_ ? "\n]\n" : "]\n");
    } else if (format_ == "table") {
      std::vector<size_t> width(columns_.size());
      for (size_t i = 0; i < columns_.size(); ++i) width[i] = columns_[i].size();
      for (const auto& r : table_)
        for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
      auto line = [&](const std::vector<std::string>& cells) {
        std::string s;
        for (size_t i = 0; i < cells.size(); ++i) {
          if (i) s += "  ";
          s += cells[i];
          if (i + 1 < cells.size()) s.append(width[i] - cells[i].size(), ' ');
        }
        out_ << s << '\n';
      };
      line(columns_);
      for (const auto& r : table_) line(r);
    }
    out_.flush();
  }
  uint64_t rows() const { return rows_; }

 private:
  std::ostream& out_;
  std::string format_;
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> table_;
  std::string line_;  // reused
  uint64_t rows_ = 0;
};

std::unique_ptr<store::Store> open_store(const std::string& run_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(run_dir, ec))
    throw store::StoreError("no run folder " + run_dir + " (it should hold qflow.db, made by qflow run)");
  return store::Store::open(store::Store::locate(run_dir), store::Store::Mode::read_only);
}

store::RunRecord pick_run(store::Store& st, const std::string& run_id) {
  std::vector<store::RunRecord> runs = store::list_runs(st);
  if (runs.empty()) throw store::StoreError("no run recorded in " + st.path().string());
  if (!run_id.empty()) {
    for (auto& r : runs)
      if (r.id == run_id) return r;
    std::vector<std::string> ids;
    for (auto& r : runs) ids.push_back(r.id);
    throw store::StoreError("no run '" + run_id + "' in " + st.path().string() + suggest(run_id, ids));
  }
  auto latest = std::max_element(runs.begin(), runs.end(),
                                 [](const auto& a, const auto& b) { return a.started_ns < b.started_ns; });
  if (runs.size() > 1)
    std::fprintf(stderr, "qflow: %zu runs in %s; showing the latest, '%s' (choose with --run)\n", runs.size(),
                 st.path().c_str(), latest->id.c_str());
  return *latest;
}

std::string duration_text(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

int query_facts(const FactQuery& q) {
  const std::optional<store::Family> family = store::family_from_name(q.family);
  if (!family) {
    std::vector<std::string> names;
    for (uint8_t f = 1; f < static_cast<uint8_t>(store::Family::count_); ++f)
      names.push_back(store::family_name(static_cast<store::Family>(f)));
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
    std::fprintf(stderr, "qflow: unknown fact family '%s'%s; the families are %s\n", q.family.c_str(),
                 suggest(q.family, names).c_str(), all.c_str());
    return kUsage;
  }
  int64_t from = std::numeric_limits<int64_t>::min(), to = std::numeric_limits<int64_t>::max();
  for (auto [text, out] : {std::pair{&q.from, &from}, std::pair{&q.to, &to}}) {
    if (text->empty()) continue;
    const std::optional<int64_t> t = parse_time(*text);
    if (!t) {
      std::fprintf(stderr, "qflow: '%s' is not a time; use ISO 8601 UTC such as 2024-10-01 or 2024-10-01T12:30:00Z\n",
                   text->c_str());
      return kUsage;
    }
    *out = *t;
  }
  if (q.format != "table" && q.format != "csv" && q.format != "json") {
    std::fprintf(stderr, "qflow: unknown format '%s' (table, csv or json)\n", q.format.c_str());
    return kUsage;
  }
  try {
    auto st = open_store(q.run_dir);
    const store::RunRecord run = pick_run(*st, q.run_id);
    std::map<uint32_t, std::string> names = store::load_names(*st, run.number);
    std::optional<uint32_t> symbol;
    if (!q.symbol.empty()) {
      for (const auto& [id, name] : names)
        if (name == q.symbol) symbol = id;
      if (!symbol) {
        std::vector<std::string> all;
        for (const auto& [id, name] : names) all.push_back(name);
        std::fprintf(stderr, "qflow: run '%s' has no symbol '%s'%s\n", run.id.c_str(), q.symbol.c_str(),
                     suggest(q.symbol, all).c_str());
        return kUsage;
      }
    }
    std::optional<uint32_t> node;
    if (!q.node.empty()) {
      for (uint32_t i = 0; i < run.nodes.size(); ++i)
        if (run.nodes[i] == q.node) node = i;
      if (!node) {
        std::fprintf(stderr, "qflow: run '%s' has no node '%s'%s\n", run.id.c_str(), q.node.c_str(),
                     suggest(q.node, run.nodes).c_str());
        return kUsage;
      }
    }
    std::ofstream file;
    if (!q.output.empty()) {
      file.open(q.output, std::ios::binary | std::ios::trunc);
      if (!file) throw store::StoreError("cannot write " + q.output);
    }
    std::ostream& out = q.output.empty() ? std::cout : file;
    store::FactTable table(*family, run, names);
    // Signals come with what their node's inputs held: gather those first.
    std::map<std::pair<uint32_t, uint64_t>, std::string> inputs;
    if (*family == store::Family::signals) {
      store::FactTable input_table(store::Family::signal_inputs, run, names);
      store::FactReader in(*st, run.number, store::Family::signal_inputs, symbol, from, to);
      store::Fact f;
      while (in.next(f)) {
        const auto cells = input_table.row(f);  // time, seq, symbol, node, output (= label), kind, value
        std::string& s = inputs[{f.series.node, f.row.seq}];
        if (!s.empty()) s += ' ';
        s += cells[4].text + "=" + cells.back().text;
      }
      table.set_signal_inputs(&inputs);
    }
    RowPrinter printer(out, q.format, table.columns());
    store::FactReader reader(*st, run.number, *family, symbol, from, to);
    store::Fact fact;
    uint64_t skipped = 0;
    while (reader.next(fact)) {
      if (node && fact.series.node != *node) continue;
      if (q.limit > 0 && printer.rows() >= static_cast<uint64_t>(q.limit)) {
        ++skipped;
        continue;
      }
      printer.add(table.row(fact));
    }
    printer.finish();
    if (!out) throw store::StoreError("cannot write " + (q.output.empty() ? std::string("the output") : q.output));
    if (skipped)
      std::fprintf(stderr, "qflow: %llu more rows not shown (--limit 0 shows all)\n", static_cast<unsigned long long>(skipped));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qflow: %s\n", e.what());
    return kFailed;
  }
  return kOk;
}

int list_runs(const std::string& run_dir, bool json) {
  try {
    auto st = open_store(run_dir);
    std::vector<store::RunRecord> runs = store::list_runs(*st);
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.started_ns < b.started_ns; });
    const bool live = store::store_in_use(st->path());
    auto status_of = [&](const store::RunRecord& r) {
      if (r.status != "running") return r.status;
      // Only one process writes a store; if none holds it now, the run did not end normally.
      return live ? std::string("running") : std::string("crashed (resume with --resume)");
    };
    if (json) {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& r : runs) {
        nlohmann::json j = r.to_json();
        j["status"] = status_of(r);
        all.push_back(j);
      }
      std::cout << all.dump(2) << '\n';
      return kOk;
    }
    std::vector<std::vector<std::string>> rows{{"run", "status", "started", "duration", "events", "checkpoints", "resumes", "pipeline"}};
    for (const auto& r : runs)
      rows.push_back({r.id, status_of(r), format_time(r.started_ns - r.started_ns % 1'000'000'000),
                      r.ended_ns ? duration_text(r.ended_ns - r.started_ns) : "", std::to_string(r.events),
                      std::to_string(r.checkpoints), std::to_string(r.resumes), r.pipeline});
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& row : rows)
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    for (const auto& row : rows) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        if (i) line += "  ";
        line += row[i];
        if (i + 1 < row.size()) line.append(width[i] - row[i].size(), ' ');
      }
      std::cout << line << '\n';
    }
    for (const auto& r : runs)
      if (!r.error.empty()) std::cout << r.id << ": " << r.error << '\n';
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qflow: %s\n", e.what());
    return kFailed;
  }
  return kOk;
}

}  // namespace qflow::cli
