// runtime/plugin_host.cpp: loading node libraries, and refusing broken ones (E0401-E0405) —
// as errors when a library is named explicitly, as warnings when it was merely found on the
// search path (the other libraries stay usable). The broken libraries are built from
// tests/runtime/plugins/.
#include "runtime_test_support.hpp"

#include <cstdlib>
#include <fstream>

using qflow::Diagnostics;
using qflow::NodeRegistry;
using qflow::PluginHost;
using qflow::Severity;

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string dump(const Diagnostics& diags) {
  std::string out;
  for (const auto& d : diags.all()) out += d.to_string() + "\n";
  return out;
}

// Loads one library explicitly, as a pipeline's `plugins:` entry at p.yaml:3:5 would.
struct ExplicitLoad {
  NodeRegistry registry;
  PluginHost host{registry};
  Diagnostics diags;
  bool ok = false;

  explicit ExplicitLoad(const fs::path& path) { ok = host.load_library(path, diags, true, "p.yaml", {3, 5}); }

  const qflow::Diagnostic& only() const {
    INFO(dump(diags));
    REQUIRE(diags.all().size() == 1);
    return diags.all()[0];
  }
};

}  // namespace

TEST_CASE("plugin host: the good test library registers its types, with their specs and library") {
  ExplicitLoad l(QFLOW_TEST_GOOD_PLUGIN);
  INFO(dump(l.diags));
  CHECK(l.ok);
  CHECK(l.diags.all().empty());
  const qflow::NodeType* bars = l.registry.find("test.bars");
  REQUIRE(bars);
  CHECK(bars->is_source());
  CHECK(bars->library == QFLOW_TEST_GOOD_PLUGIN);
  CHECK(bars->keep_loaded != nullptr);
  REQUIRE(bars->outputs.size() == 1);
  CHECK(bars->outputs[0].name == "bars");
  CHECK(bars->outputs[0].kinds == QF_KIND_BIT(QF_KIND_BAR));
  REQUIRE(bars->param("count"));
  CHECK(bars->param("count")->default_value == "10");
  CHECK(bars->param("count")->flags & QF_PARAM_HAS_MIN);
  const qflow::NodeType* exec = l.registry.find("test.exec");
  REQUIRE(exec);
  CHECK(exec->simulates_market());
  const qflow::NodeType* speed_owner = l.registry.find("test.all_params");
  REQUIRE(speed_owner);
  CHECK(speed_owner->param("speed")->choices == std::vector<std::string>{"fast", "slow", "medium"});
  CHECK(l.registry.find("test.described")->describe != nullptr);
  CHECK(l.registry.find("test.batch_answers")->batched());
  CHECK(l.registry.names().size() == 18);
}

TEST_CASE("plugin host: loading the same library twice is harmless") {
  ExplicitLoad l(QFLOW_TEST_GOOD_PLUGIN);
  CHECK(l.host.load_library(fs::path(QFLOW_TEST_GOOD_PLUGIN).parent_path() / "." / fs::path(QFLOW_TEST_GOOD_PLUGIN).filename(),
                            l.diags, true));
  INFO(dump(l.diags));
  CHECK(l.diags.all().empty());  // no E0404 against itself
}

TEST_CASE("plugin host: (6) E0401 a library that does not exist") {
  const std::string missing = std::string(QFLOW_TEST_PLUGINS_ROOT) + "/nowhere/libmissing.so";
  ExplicitLoad l(missing);
  CHECK(!l.ok);
  const auto& d = l.only();
  CHECK(d.code == "E0401");
  CHECK(d.severity == Severity::error);
  CHECK(d.file == "p.yaml");
  CHECK((d.pos.line == 3 && d.pos.column == 5));
  CHECK(d.message == "plugin library not found: " + missing);
}

TEST_CASE("plugin host: (2) E0402 a shared library without the qflow_plugin entry point") {
  ExplicitLoad l(QFLOW_TEST_NOT_A_PLUGIN);
  CHECK(!l.ok);
  const auto& d = l.only();
  CHECK(d.code == "E0402");
  CHECK(d.severity == Severity::error);
  CHECK(d.message == std::string(QFLOW_TEST_NOT_A_PLUGIN) + " is not a qflow plugin (it does not export 'qflow_plugin')");
}

TEST_CASE("plugin host: (3) E0403 an incompatible ABI, naming the library and both versions") {
  SECTION("another major version") {
    ExplicitLoad l(QFLOW_TEST_ABI2_PLUGIN);
    CHECK(!l.ok);
    const auto& d = l.only();
    CHECK(d.code == "E0403");
    CHECK(d.message == "plugin " + std::string(QFLOW_TEST_ABI2_PLUGIN) +
                           " was built for qflow ABI 2.0, but this qflow provides ABI " +
                           std::to_string(QF_ABI_VERSION_MAJOR) + "." + std::to_string(QF_ABI_VERSION_MINOR));
    CHECK(l.registry.find("abi.mismatch") == nullptr);  // register_nodes was never called
  }
  SECTION("a newer minor version") {
    ExplicitLoad l(QFLOW_TEST_ABI_NEWER_MINOR_PLUGIN);
    CHECK(!l.ok);
    const auto& d = l.only();
    CHECK(d.code == "E0403");
    CHECK(contains(d.message, std::string(QFLOW_TEST_ABI_NEWER_MINOR_PLUGIN)));
    CHECK(contains(d.message, "built for qflow ABI 1.99"));
    CHECK(l.registry.find("abi.mismatch") == nullptr);
  }
}

TEST_CASE("plugin host: (4) E0404 a node type registered by two libraries, naming both") {
  ExplicitLoad l(QFLOW_TEST_GOOD_PLUGIN);
  l.host.load_library(QFLOW_TEST_DUP_PLUGIN, l.diags, true, "p.yaml", {4, 5});
  const auto& d = l.only();
  CHECK(d.code == "E0404");
  CHECK(d.severity == Severity::error);
  CHECK(d.file == "p.yaml");
  CHECK(d.pos.line == 4);
  CHECK(d.message == "node type 'test.pass' is defined by both " + std::string(QFLOW_TEST_GOOD_PLUGIN) + " and " +
                         std::string(QFLOW_TEST_DUP_PLUGIN));
  // The first definition stays; the duplicate library's other types still arrive.
  CHECK(l.registry.find("test.pass")->library == QFLOW_TEST_GOOD_PLUGIN);
  REQUIRE(l.registry.find("dup.unique"));
  CHECK(l.registry.find("dup.unique")->library == QFLOW_TEST_DUP_PLUGIN);
}

TEST_CASE("plugin host: (5) E0405 a .so that is not a library at all") {
  ExplicitLoad l(QFLOW_TEST_GARBAGE_PLUGIN);
  CHECK(!l.ok);
  const auto& d = l.only();
  CHECK(d.code == "E0405");
  CHECK(d.severity == Severity::error);
  CHECK(d.message.find("cannot load plugin " + std::string(QFLOW_TEST_GARBAGE_PLUGIN) + ": ") == 0);
}

TEST_CASE("plugin host: E0405 a library whose registration fails") {
  ExplicitLoad l(QFLOW_TEST_BADREG_PLUGIN);
  INFO(dump(l.diags));
  const auto& all = l.diags.all();
  REQUIRE(all.size() == 2);
  CHECK(all[0].code == "E0405");
  CHECK(all[0].severity == Severity::error);
  CHECK(all[0].message == "plugin " + std::string(QFLOW_TEST_BADREG_PLUGIN) + " registered a malformed node spec");
  CHECK(all[1].code == "E0405");
  CHECK(all[1].severity == Severity::error);
  CHECK(all[1].file == "p.yaml");
  CHECK(all[1].message ==
        "plugin " + std::string(QFLOW_TEST_BADREG_PLUGIN) + " failed to register its nodes: licence file missing");
  CHECK(l.registry.find("badreg.no_create") == nullptr);
}

TEST_CASE("plugin host: a node spec of ABI 1.1 registers, and nothing after its struct_size is read") {
  ExplicitLoad l(QFLOW_TEST_ABI11_PLUGIN);
  INFO(dump(l.diags));
  CHECK(l.ok);
  CHECK(l.diags.all().empty());
  const auto* t = l.registry.find("old.sink");
  REQUIRE(t != nullptr);
  CHECK(t->summary == "a node type from an ABI 1.1 plugin");
  CHECK(t->warmup.empty());
}

TEST_CASE("plugin host: broken libraries on the search path are warnings, the good ones still load") {
  NodeRegistry registry;
  PluginHost host(registry);
  Diagnostics diags;
  const fs::path root = QFLOW_TEST_PLUGINS_ROOT;
  host.load_directories({root / "no_such_dir", root / "broken", root / "good"}, diags);
  INFO(dump(diags));
  CHECK(!diags.has_errors());
  CHECK(registry.find("test.bars") != nullptr);
  CHECK(registry.find("abi.mismatch") == nullptr);
  std::map<std::string, std::string> code_of;  // library file name → code
  for (const auto& d : diags.all()) {
    CHECK(d.severity == Severity::warning);
    CHECK(d.pos.line == 0);
    CHECK(contains(d.message, "; library skipped"));
    CHECK(contains(d.message, d.file));  // the message names the library too
    code_of[fs::path(d.file).filename().string()] = d.code;
    CHECK(d.to_string().find(d.file + ": warning " + d.code + " ") == 0);
  }
  CHECK(code_of == std::map<std::string, std::string>{
                       {fs::path(QFLOW_TEST_NOT_A_PLUGIN).filename().string(), "E0402"},
                       {fs::path(QFLOW_TEST_ABI2_PLUGIN).filename().string(), "E0403"},
                       {fs::path(QFLOW_TEST_ABI_NEWER_MINOR_PLUGIN).filename().string(), "E0403"},
                       {"garbage.so", "E0405"},
                   });
  // Only *.so files are considered: the README beside them is not reported.
  for (const auto& d : diags.all()) CHECK(!contains(d.file, "README"));
}

TEST_CASE("plugin host: a library failing registration on the search path is a warning") {
  NodeRegistry registry;
  PluginHost host(registry);
  Diagnostics diags;
  host.load_directories({fs::path(QFLOW_TEST_PLUGINS_ROOT) / "badreg", fs::path(QFLOW_TEST_PLUGINS_ROOT) / "good"}, diags);
  INFO(dump(diags));
  CHECK(!diags.has_errors());
  REQUIRE(diags.all().size() == 2);
  for (const auto& d : diags.all()) {
    CHECK(d.code == "E0405");
    CHECK(d.file == QFLOW_TEST_BADREG_PLUGIN);
  }
  CHECK(registry.find("test.bars") != nullptr);
}

TEST_CASE("plugin host: a duplicate on the search path is an error naming both libraries") {
  NodeRegistry registry;
  PluginHost host(registry);
  Diagnostics diags;
  host.load_directories({fs::path(QFLOW_TEST_PLUGINS_ROOT) / "good", fs::path(QFLOW_TEST_PLUGINS_ROOT) / "dup"}, diags);
  INFO(dump(diags));
  REQUIRE(diags.all().size() == 1);
  const auto& d = diags.all()[0];
  CHECK(d.code == "E0404");
  CHECK(d.severity == Severity::error);
  CHECK(d.file == QFLOW_TEST_DUP_PLUGIN);  // no pipeline position: the library locates it
  CHECK(contains(d.message, QFLOW_TEST_GOOD_PLUGIN));
  CHECK(contains(d.message, QFLOW_TEST_DUP_PLUGIN));
  CHECK(d.to_string().find(std::string(QFLOW_TEST_DUP_PLUGIN) + ": E0404 node type 'test.pass'") == 0);
}

TEST_CASE("plugin host: the search path is --plugin-path, then QFLOW_PLUGIN_PATH, then beside the executable") {
  const char* saved = std::getenv("QFLOW_PLUGIN_PATH");
  const std::string keep = saved ? saved : "";
  ::setenv("QFLOW_PLUGIN_PATH", "/env/one::/env/two", 1);
  const auto dirs = PluginHost::search_path({"/cli/a", "/cli/b"});
  if (saved)
    ::setenv("QFLOW_PLUGIN_PATH", keep.c_str(), 1);
  else
    ::unsetenv("QFLOW_PLUGIN_PATH");
  REQUIRE(dirs.size() == 5);
  CHECK(dirs[0] == "/cli/a");
  CHECK(dirs[1] == "/cli/b");
  CHECK(dirs[2] == "/env/one");  // empty parts are skipped
  CHECK(dirs[3] == "/env/two");
  CHECK(dirs[4].filename() == "plugins");
  CHECK(dirs[4].parent_path().filename() == "qflow");
}

TEST_CASE("plugin host: the built-in plugins load from the plugin folder without complaint") {
  NodeRegistry registry;
  PluginHost host(registry);
  Diagnostics diags;
  for (const std::string& lib : rt_test::builtin_libraries()) CHECK(host.load_library(lib, diags, true));
  INFO(dump(diags));
  CHECK(diags.all().empty());
  for (const char* type : {"source.csv_bars", "indicator.sma", "strategy.sma_cross", "executor.paper", "sink.summary"})
    CHECK(registry.find(type) != nullptr);
}
