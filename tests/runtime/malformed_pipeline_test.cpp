// Bad input never crashes: thousands of corrupted variants of a real pipeline go through the
// loader and the validator. Each must end in diagnostics (every one with a code and a message)
// or in a valid graph; no exception may escape. Under the sanitizer build this also proves the
// loader reads no memory it should not.
#include "runtime_test_support.hpp"

#include <fstream>
#include <random>
#include <sstream>

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One random edit: delete, duplicate or replace a span, or insert YAML punctuation.
std::string mutate(std::string text, std::mt19937_64& rng) {
  static const std::string kPieces[] = {":", "- ", "{", "}", "[", "]", "${", "${fast}", "\"", "'", "\n", "  ", "#",
                                        "&a", "*a", "!!int", "~", "0x", "-1e999", "nan", "\t", "|", ">", ",", "\0"};
  std::uniform_int_distribution<size_t> pos(0, text.size());
  const size_t at = pos(rng);
  const size_t len = std::min<size_t>(1 + rng() % 12, text.size() - std::min(at, text.size()));
  switch (rng() % 4) {
    case 0: text.erase(at, len); break;
    case 1: text.insert(at, text.substr(at, len)); break;
    case 2: text.replace(at, len, kPieces[rng() % std::size(kPieces)]); break;
    default: text.insert(at, kPieces[rng() % std::size(kPieces)]); break;
  }
  return text;
}

}  // namespace

TEST_CASE("corrupted pipelines give diagnostics or a graph, never a crash") {
  const qflow::NodeRegistry registry = rt_test::builtin_registry();

  const std::string original = read(std::string(QFLOW_SOURCE_DIR) + "/pipelines/sma_cross.yaml");
  REQUIRE(original.size() > 500);
  std::mt19937_64 rng(20261121);
  int valid = 0, invalid = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = original;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) text = mutate(text, rng);
    qflow::Diagnostics diags;
    qflow::LoadOptions options;
    options.overrides["strategy"] = "native";  // the Lua host is not loaded here
    std::optional<qflow::Graph> graph;
    try {
      const qflow::PipelineDef def = qflow::load_pipeline_text(text, "mutant.yaml", options, diags);
      if (!def.nodes.empty()) graph = qflow::build_graph(def, registry, diags);
    } catch (const std::exception& e) {
      FAIL("mutation " << i << " threw: " << e.what() << "\n--- text ---\n" << text);
    }
    if (graph) {
      ++valid;
      CHECK_FALSE(diags.has_errors());
      CHECK_FALSE(graph->topo_order.empty());
    } else {
      ++invalid;
      REQUIRE(diags.has_errors());
      for (const qflow::Diagnostic& d : diags.all()) {
        INFO("mutation " << i << ": " << d.to_string() << "\n--- text ---\n" << text);
        CHECK(d.code.size() == 5);
        CHECK(d.code[0] == 'E');
        CHECK_FALSE(d.message.empty());
        CHECK(d.file == "mutant.yaml");
      }
    }
  }
  // The mutations must exercise both outcomes to mean anything.
  CHECK(valid > 100);
  CHECK(invalid > 1000);
}
