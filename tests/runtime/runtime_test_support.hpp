// Shared by the runtime tests: a registry holding the test plugin's node types, a one-call
// "load and validate this YAML", lookups into diagnostics, and the position of a piece of text
// in a YAML string (so that expected line:column values follow the YAML, not hand counting).
#pragma once

#include "diagnostics.hpp"
#include "graph.hpp"
#include "node_registry.hpp"
#include "pipeline.hpp"
#include "plugin_host.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace qflow {
inline std::ostream& operator<<(std::ostream& out, const Position& p) { return out << p.line << ":" << p.column; }
inline bool operator==(const Position& a, const Position& b) { return a.line == b.line && a.column == b.column; }
}  // namespace qflow

namespace rt_test {

// The node types of tests/runtime/plugins/good_nodes.cpp, loaded once per process.
inline const qflow::NodeRegistry& test_registry() {
  static qflow::NodeRegistry registry;
  static const bool loaded = [] {
    qflow::Diagnostics diags;
    qflow::PluginHost host(registry);
    const bool ok = host.load_library(QFLOW_TEST_GOOD_PLUGIN, diags, true);
    for (const auto& d : diags.all()) FAIL_CHECK("loading the test plugin: " << d.to_string());
    return ok;
  }();
  REQUIRE(loaded);
  return registry;
}

struct Checked {
  qflow::PipelineDef def;
  qflow::Diagnostics diags;
  std::optional<qflow::Graph> graph;

  std::string dump() const {
    std::string out;
    for (const auto& d : diags.sorted()) out += d.to_string() + "\n";
    return out;
  }
  size_t errors() const {
    size_t n = 0;
    for (const auto& d : diags.all()) n += d.severity == qflow::Severity::error;
    return n;
  }
  // Every diagnostic with `code`.
  std::vector<qflow::Diagnostic> with(const std::string& code) const {
    std::vector<qflow::Diagnostic> out;
    for (const auto& d : diags.all())
      if (d.code == code) out.push_back(d);
    return out;
  }
  // The only diagnostic with `code`; fails the test when there is not exactly one.
  qflow::Diagnostic one(const std::string& code) const {
    const auto all = with(code);
    INFO(dump());
    REQUIRE(all.size() == 1);
    return all.front();
  }
};

constexpr const char* kFile = "/virtual/pipes/p.yaml";

// Loads `yaml` as if read from `file`, then validates it against the test registry when the
// loader found nothing wrong (as `qflow validate` does).
inline Checked check(const std::string& yaml, std::map<std::string, std::string> overrides = {},
                     const std::string& file = kFile, const qflow::NodeRegistry* registry = nullptr) {
  Checked c;
  qflow::LoadOptions options;
  options.overrides = std::move(overrides);
  c.def = qflow::load_pipeline_text(yaml, file, options, c.diags);
  // As `qflow validate` does: structural problems do not stop the checks against node specs.
  if (!c.def.nodes.empty()) c.graph = qflow::build_graph(c.def, registry ? *registry : test_registry(), c.diags);
  return c;
}

// 1-based line and column of byte `offset` in `text`.
inline qflow::Position position_of(const std::string& text, size_t offset) {
  qflow::Position pos{1, 1};
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
  return pos;
}

// 1-based line and column of the `nth` occurrence (from 0) of `needle` in `text`.
inline qflow::Position at(const std::string& text, const std::string& needle, int nth = 0) {
  size_t p = text.find(needle);
  for (int i = 0; i < nth && p != std::string::npos; ++i) p = text.find(needle, p + 1);
  REQUIRE(p != std::string::npos);
  return position_of(text, p);
}

// The position just after the `nth` occurrence of `prefix`.
inline qflow::Position after(const std::string& text, const std::string& prefix, int nth = 0) {
  qflow::Position p = at(text, prefix, nth);
  p.column += static_cast<int>(prefix.size());
  return p;
}

// Where the value of `id: <id>` is written (a node's own position).
inline qflow::Position id_at(const std::string& text, const std::string& id, int nth = 0) {
  std::vector<size_t> hits;
  for (size_t p = text.find("id: " + id); p != std::string::npos; p = text.find("id: " + id, p + 1)) {
    const size_t end = p + 4 + id.size();
    const bool word_start = p == 0 || text[p - 1] == ' ' || text[p - 1] == '{';
    if (word_start && end < text.size() && (text[end] == ',' || text[end] == '\n' || text[end] == '}')) hits.push_back(p);
  }
  REQUIRE(hits.size() > static_cast<size_t>(nth));
  return position_of(text, hits[static_cast<size_t>(nth)] + 4);
}

// The built-in node libraries (not the Lua host), loaded explicitly from the build.
inline const std::vector<std::string>& builtin_libraries() {
  static const std::vector<std::string> libs = {QFLOW_BUILTIN_SOURCES, QFLOW_BUILTIN_INDICATORS, QFLOW_BUILTIN_STRATEGIES,
                                                QFLOW_BUILTIN_EXECUTORS, QFLOW_BUILTIN_SINKS};
  return libs;
}

// A registry holding the built-in node types; their libraries stay loaded while it lives.
inline qflow::NodeRegistry builtin_registry() {
  qflow::NodeRegistry registry;
  qflow::PluginHost host(registry);
  qflow::Diagnostics diags;
  for (const std::string& lib : builtin_libraries()) host.load_library(lib, diags, true);
  REQUIRE_FALSE(diags.has_errors());
  return registry;
}

inline const qflow::GraphNode& node(const qflow::Graph& g, const std::string& id) {
  for (const auto& n : g.nodes)
    if (n.id == id) return n;
  FAIL("no node " << id);
  throw;  // unreachable
}

inline uint32_t index_of(const qflow::Graph& g, const std::string& id) {
  for (uint32_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].id == id) return i;
  FAIL("no node " << id);
  return 0;
}

// A fresh, empty directory under the test work directory.
inline std::filesystem::path fresh_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(QFLOW_TEST_WORK_DIR) / "runtime" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace rt_test
