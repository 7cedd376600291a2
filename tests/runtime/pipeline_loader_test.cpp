// runtime/pipeline_loader.cpp: the structure of a pipeline file (E0001-E0007), variables and
// --set (E0301, E0302), variants (E0108) and the three forms of `inputs`.
#include "runtime_test_support.hpp"

#include <fstream>

using qflow::Severity;
using rt_test::at;
using rt_test::check;
using rt_test::kFile;

TEST_CASE("loader: E0001 YAML syntax error with its position") {
  const std::string y = "nodes:\n  - id: a\n    type: test.bars\n  - [unclosed\n";
  const auto c = check(y);
  const auto d = c.one("E0001");
  CHECK(d.file == kFile);
  CHECK(d.severity == Severity::error);
  CHECK(d.message.find("YAML syntax error") != std::string::npos);
  CHECK(d.pos.line >= 4);  // the parser notices at the end of the unclosed list
  CHECK(d.pos.column >= 1);
  CHECK(c.errors() == 1);
}

TEST_CASE("loader: E0001 hints at quoting ${...} inside a flow collection") {
  const std::string y = "variables: {n: 3}\nnodes:\n  - {id: a, type: test.required, params: {period: ${n}}}\n";
  const auto d = check(y).one("E0001");
  CHECK(d.pos == at(y, "{n}}}"));  // the brace that ends the flow mapping too early
  CHECK(d.hint.find("quote values that use variables") != std::string::npos);
  // Quoted, the same line is fine.
  const auto ok = check("variables: {n: 3}\nnodes:\n  - {id: a, type: test.required, params: {period: \"${n}\"}}\n");
  INFO(ok.dump());
  CHECK(ok.graph.has_value());
}

TEST_CASE("loader: E0002 duplicate key, at the second occurrence") {
  const std::string y = "name: a\nname: b\nnodes:\n  - id: x\n    type: test.required\n    type: test.all_params\n";
  const auto c = check(y);
  const auto all = c.with("E0002");
  INFO(c.dump());
  REQUIRE(all.size() == 2);
  CHECK(all[0].pos == at(y, "name", 1));
  CHECK(all[0].message == "duplicate key 'name' in the pipeline");
  CHECK(all[1].pos == at(y, "type", 1));
  CHECK(all[1].message == "duplicate key 'type' in a node");
}

TEST_CASE("loader: E0003 unknown key with a suggestion, at top level, in a node, in engine") {
  const std::string y =
      "nmae: x\n"
      "engine:\n  batch_sise: 10\n"
      "nodes:\n  - id: a\n    typ: test.required\n    prams: {period: 1}\n";
  const auto c = check(y);
  const auto all = c.with("E0003");
  INFO(c.dump());
  REQUIRE(all.size() == 4);
  CHECK(all[0].pos == at(y, "nmae"));
  CHECK(all[0].message == "unknown key 'nmae' in the pipeline");
  CHECK(all[0].hint == "did you mean 'name'?");
  CHECK(all[1].pos == at(y, "batch_sise"));
  CHECK(all[1].hint == "did you mean 'batch_size'?");
  CHECK(all[2].pos == at(y, "typ:"));
  CHECK(all[2].message == "unknown key 'typ' in a node");
  CHECK(all[2].hint == "did you mean 'type'?");
  CHECK(all[3].pos == at(y, "prams"));
  CHECK(all[3].hint == "did you mean 'params'?");
}

TEST_CASE("loader: E0004 wrong YAML types") {
  SECTION("the file is not a mapping") {
    const auto d = check("- a\n- b\n").one("E0004");
    CHECK(d.message.find("must be a mapping") != std::string::npos);
    CHECK(d.pos.line == 1);
  }
  SECTION("nodes is not a list") {
    const std::string y = "nodes:\n  a: 1\n";
    const auto d = check(y).one("E0004");
    CHECK(d.message == "'nodes' must be a list");
    CHECK(d.pos == at(y, "a: 1"));
  }
  SECTION("a scalar where a mapping is expected, and a list where a value is expected") {
    const std::string y = "name: [a, b]\nnodes:\n  - id: x\n    type: test.required\n    params: 5\n";
    const auto c = check(y);
    const auto all = c.with("E0004");
    INFO(c.dump());
    REQUIRE(all.size() == 2);
    CHECK(all[0].message == "'name' must be a value");
    CHECK(all[0].pos == at(y, "[a, b]"));
    CHECK(all[1].message == "'params' must be a mapping");
    CHECK(all[1].pos == at(y, "5"));
  }
  SECTION("inputs of the wrong shape") {
    const std::string y = "nodes:\n  - id: x\n    type: test.count\n    inputs: [[a]]\n";
    const auto d = check(y).one("E0004");
    CHECK(d.message == "an input reference must be a value");
    CHECK(d.pos == at(y, "[a]"));
  }
}

TEST_CASE("loader: E0005 missing required keys") {
  SECTION("no nodes") {
    const auto d = check("name: x\n").one("E0005");
    CHECK(d.message == "the pipeline has no 'nodes:' list");
  }
  SECTION("a node without id, a node without type") {
    const std::string y = "nodes:\n  - type: test.count\n  - id: lonely\n";
    const auto c = check(y);
    const auto all = c.with("E0005");
    INFO(c.dump());
    REQUIRE(all.size() == 2);
    CHECK(all[0].message == "a node needs an 'id'");
    CHECK(all[0].pos == at(y, "type: test.count"));
    CHECK(all[1].message == "node 'lonely' needs a 'type'");
    CHECK(all[1].pos == at(y, "lonely"));
  }
  SECTION("variant without variants") {
    const std::string y = "nodes:\n  - id: s\n    variant: a\n";
    const auto c = check(y);
    CHECK(c.with("E0005").at(0).message == "node 's': 'variant' and 'variants' go together");
  }
  SECTION("an empty node list") {
    const std::string y = "nodes: []\n";
    const auto d = check(y).one("E0005");
    CHECK(d.message == "the pipeline has no nodes");
    CHECK(d.pos == at(y, "[]"));
  }
}

TEST_CASE("loader: E0006 bad pipeline settings") {
  const std::string y =
      "mode: papr\nseed: -3\nengine:\n  batch_size: 0\n  max_batches_in_flight: lots\n"
      "nodes:\n  - id: a\n    type: test.count\n";
  const auto c = check(y);
  const auto all = c.with("E0006");
  INFO(c.dump());
  REQUIRE(all.size() == 4);
  CHECK(all[0].pos == at(y, "papr"));
  CHECK(all[0].message == "unknown mode 'papr' (backtest, paper or live)");
  CHECK(all[0].hint == "did you mean 'paper'?");
  CHECK(all[1].pos == at(y, "-3"));
  CHECK(all[1].message == "seed must be a non-negative integer, got '-3'");
  CHECK(all[2].pos == at(y, "0\n"));
  CHECK(all[2].message == "batch_size must be an integer in [1, 1048576], got '0'");
  CHECK(all[3].pos == at(y, "lots"));
  CHECK(all[3].message.find("max_batches_in_flight must be an integer in [1, 4096]") == 0);
}

TEST_CASE("loader: E0006 bad store settings in engine") {
  const std::string y =
      "engine:\n  facts: maybe\n  checkpoint_every: soon\n  checkpoint_events: -5\n"
      "nodes:\n  - id: a\n    type: test.count\n";
  const auto c = check(y);
  const auto all = c.with("E0006");
  INFO(c.dump());
  REQUIRE(all.size() == 3);
  CHECK(all[0].pos == at(y, "maybe"));
  CHECK(all[0].message == "facts must be true or false, got 'maybe'");
  CHECK(all[1].pos == at(y, "soon"));
  CHECK(all[1].message == "checkpoint_every must be a duration such as 1s, 500ms or 0 (off), got 'soon'");
  CHECK(all[2].pos == at(y, "-5"));
  CHECK(all[2].message == "checkpoint_events must be a count of events (0: off), got '-5'");
}

TEST_CASE("loader: store settings reach the graph, with their defaults") {
  const auto c = check("engine: {facts: false, checkpoint_every: 250ms, checkpoint_events: 5000}\n"
                       "nodes:\n  - {id: a, type: test.bars}\n  - {id: s, type: test.count, inputs: a}\n");
  INFO(c.dump());
  REQUIRE(c.graph);
  CHECK_FALSE(c.graph->facts);
  CHECK(c.graph->checkpoint_every_ns == 250'000'000);
  CHECK(c.graph->checkpoint_events == 5000);
  const auto d = check("engine: {checkpoint_every: 0}\nnodes:\n  - {id: a, type: test.bars}\n"
                       "  - {id: s, type: test.count, inputs: a}\n");
  REQUIRE(d.graph);
  CHECK(d.graph->facts);
  CHECK(d.graph->checkpoint_every_ns == 0);
  CHECK(d.graph->checkpoint_events == 0);
  const auto e = check("nodes:\n  - {id: a, type: test.bars}\n  - {id: s, type: test.count, inputs: a}\n");
  REQUIRE(e.graph);
  CHECK(e.graph->checkpoint_every_ns == 1'000'000'000);  // a checkpoint a second by default
}

TEST_CASE("loader: settings that are fine reach the definition") {
  const auto c = check("name: demo\nmode: paper\nseed: 7\noutput: out/x\nengine: {batch_size: 16, max_batches_in_flight: 2}\n"
                       "nodes:\n  - {id: a, type: test.bars}\n  - {id: s, type: test.count, inputs: a}\n");
  INFO(c.dump());
  REQUIRE(c.graph);
  CHECK(c.graph->name == "demo");
  CHECK(c.graph->mode == QF_MODE_PAPER);
  CHECK(c.graph->seed == 7);
  CHECK(c.graph->output == "out/x");
  CHECK(c.graph->batch_size == 16);
  CHECK(c.graph->max_batches_in_flight == 2);
  // Defaults: the name from the file, the output folder from the name.
  const auto d = check("nodes:\n  - {id: a, type: test.bars}\n  - {id: s, type: test.count, inputs: a}\n");
  CHECK(d.def.name == "p");
  CHECK(d.def.output == "runs/p");
  CHECK(d.def.mode == "backtest");
}

TEST_CASE("loader: E0007 unreadable file") {
  qflow::Diagnostics diags;
  const std::string missing = std::string(QFLOW_TEST_WORK_DIR) + "/no/such/pipeline.yaml";
  const auto def = qflow::load_pipeline(missing, {}, diags);
  REQUIRE(diags.all().size() == 1);
  const auto& d = diags.all()[0];
  CHECK(d.code == "E0007");
  CHECK(d.file == missing);
  CHECK(d.pos.line == 0);
  CHECK(d.message.find("cannot read pipeline file") == 0);
  CHECK(d.message.find("No such file") != std::string::npos);
  CHECK(def.nodes.empty());
}

TEST_CASE("loader: a file on disk is read and its errors name it") {
  const auto dir = rt_test::fresh_dir("loader_file");
  const std::string file = (dir / "x.yaml").string();
  std::ofstream(file) << "nodes:\n  - id: a\n    tpye: test.bars\n";
  qflow::Diagnostics diags;
  qflow::load_pipeline(file, {}, diags);
  REQUIRE(!diags.all().empty());
  CHECK(diags.all()[0].to_string() == file + ":3:5: E0003 unknown key 'tpye' in a node (did you mean 'type'?)");
}

TEST_CASE("loader: variables are substituted, --set overrides them") {
  const std::string y =
      "variables:\n  n: 7\n  sym: ES\n  speed: slow\n"
      "nodes:\n"
      "  - id: a\n    type: test.bars\n    params: {count: \"${n}\", symbol: \"${sym}-${sym}\"}\n"
      "  - id: s\n    type: test.all_params\n    inputs: a\n    params:\n      count: ${n}\n      speed: ${speed}\n"
      "      label: \"$${HOME} costs $$5\"\n";
  SECTION("file values") {
    const auto c = check(y);
    INFO(c.dump());
    REQUIRE(c.graph);
    const auto& a = rt_test::node(*c.graph, "a");
    CHECK(a.params.find("count")->i == 7);
    CHECK(a.params.text("symbol") == "ES-ES");
    const auto& s = rt_test::node(*c.graph, "s");
    CHECK(s.params.find("count")->i == 7);
    CHECK(s.params.text("speed") == "slow");
    // $${ is the escape for a literal ${; a lone $ stays as it is.
    CHECK(s.params.text("label") == "${HOME} costs $$5");
    CHECK(c.def.variables.at("n") == "7");
  }
  SECTION("--set") {
    const auto c = check(y, {{"n", "42"}, {"speed", "medium"}});
    INFO(c.dump());
    REQUIRE(c.graph);
    CHECK(rt_test::node(*c.graph, "a").params.find("count")->i == 42);
    CHECK(rt_test::node(*c.graph, "s").params.text("speed") == "medium");
    CHECK(c.def.variables.at("n") == "42");
  }
  SECTION("a substituted value is typed by the parameter it lands in, and errors point at the use") {
    const auto c = check(y, {{"n", "many"}});
    const auto all = c.with("E0105");
    INFO(c.dump());
    REQUIRE(all.size() == 2);
    CHECK(all[0].pos == at(y, "\"${n}\""));
    CHECK(all[0].message == "parameter 'count' expects an integer, got 'many' in node 'a'");
    CHECK(all[1].pos == at(y, "${n}", 1));
    CHECK(all[1].message == "parameter 'count' expects an integer, got 'many' in node 's'");
  }
  SECTION("a substituted value out of range") {
    const auto c = check(y, {{"n", "500"}});
    const auto d = c.one("E0106");
    CHECK(d.pos == at(y, "${n}", 1));
    CHECK(d.message == "parameter 'count' is 500, but must be >= 1 and <= 100 in node 's'");
  }
}

TEST_CASE("loader: E0301 undefined variables") {
  const std::string y =
      "variables:\n  symbol: ES\n  other: \"${symbol}\"\n"
      "nodes:\n  - id: a\n    type: test.bars\n    params: {symbol: \"${symbl}\", count: \"${cnt\"}\n";
  const auto c = check(y);
  const auto all = c.with("E0301");
  INFO(c.dump());
  REQUIRE(all.size() == 3);
  CHECK(all[0].message == "variable 'other' may not refer to other variables");
  CHECK(all[0].pos == at(y, "\"${symbol}\""));
  CHECK(all[1].message == "undefined variable 'symbl'");
  CHECK(all[1].hint == "did you mean 'symbol'?");
  CHECK(all[1].pos == at(y, "\"${symbl}\""));
  CHECK(all[2].message == "unterminated '${' in '${cnt'");
  CHECK(all[2].pos == at(y, "\"${cnt\""));
}

TEST_CASE("loader: E0302 --set of an undeclared variable") {
  const std::string y = "variables: {period: 3}\nnodes:\n  - {id: a, type: test.required, params: {period: \"${period}\"}}\n";
  const auto c = check(y, {{"perod", "5"}});
  const auto d = c.one("E0302");
  CHECK(d.file == kFile);
  CHECK(d.pos.line == 0);  // it comes from the command line, not from a place in the file
  CHECK(d.message == "--set perod: the pipeline declares no variable 'perod'");
  CHECK(d.hint == "did you mean 'period'?");
  CHECK(d.to_string() == std::string(kFile) + ": E0302 --set perod: the pipeline declares no variable 'perod' (did you mean 'period'?)");
}

TEST_CASE("loader: variant and variants select a type and parameters") {
  const std::string y =
      "variables: {kind: wide}\n"
      "nodes:\n"
      "  - {id: bars, type: test.bars}\n"
      "  - id: s\n    inputs: [bars]\n    params: {count: 3, ratio: 0.25}\n    variant: ${kind}\n    variants:\n"
      "      wide:\n        type: test.all_params\n        params: {count: 50}\n"
      "      narrow:\n        type: test.count\n";
  SECTION("the chosen variant's type, its params over the node's") {
    const auto c = check(y);
    INFO(c.dump());
    REQUIRE(c.graph);
    const auto& s = rt_test::node(*c.graph, "s");
    CHECK(s.type->name == "test.all_params");
    CHECK(s.params.find("count")->i == 50);
    CHECK(s.params.find("ratio")->d == 0.25);
  }
  SECTION("another variant by --set; the node's own params must then fit that type") {
    const auto c = check(y, {{"kind", "narrow"}});
    const auto all = c.with("E0103");
    INFO(c.dump());
    REQUIRE(all.size() == 2);  // count and ratio are not parameters of test.count
    CHECK(all[0].message.find("(test.count)") != std::string::npos);
  }
  SECTION("E0108 unknown variant, with a suggestion") {
    const auto c = check(y, {{"kind", "wid"}});
    const auto d = c.one("E0108");
    CHECK(d.message == "node 's' has no variant 'wid'");
    CHECK(d.hint == "did you mean 'wide'?");
    CHECK(d.pos == at(y, "${kind}"));
    CHECK(c.errors() == 1);  // no "needs a 'type'" on top
  }
}

TEST_CASE("loader: inputs as one reference, a list, or a mapping port: reference(s)") {
  const std::string y =
      "nodes:\n"
      "  - {id: bars, type: test.bars}\n"
      "  - {id: v, type: test.value, inputs: bars}\n"
      "  - {id: s, type: test.strategy, inputs: [bars, v, v.upper]}\n"
      "  - {id: t, type: test.strategy, inputs: {signals: [v.upper, v], market: bars}}\n"
      "  - {id: x, type: test.exec, inputs: {market: bars, orders: s}}\n"
      "  - {id: y, type: test.exec, inputs: {market: bars, orders: t}}\n"
      "  - {id: c, type: test.count, inputs: [x.fills, y.account, y.fills]}\n";
  const auto c = check(y);
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& g = *c.graph;
  const uint32_t bars = rt_test::index_of(g, "bars"), v = rt_test::index_of(g, "v");
  const auto& vn = rt_test::node(g, "v");
  REQUIRE(vn.slots.size() == 1);
  CHECK(vn.slots[0].producer == bars);
  CHECK(vn.slots[0].label == "bars");

  // List form: the first reference goes to the first port; a multiple port takes the rest.
  const auto& s = rt_test::node(g, "s");
  REQUIRE(s.slots.size() == 3);
  CHECK((s.slots[0].port == 0 && s.slots[0].producer == bars));
  CHECK((s.slots[1].port == 1 && s.slots[1].producer == v && s.slots[1].producer_port == 0));
  CHECK((s.slots[2].port == 1 && s.slots[2].producer == v && s.slots[2].producer_port == 1));
  CHECK(s.slots[2].label == "v.upper");
  CHECK(s.slots[2].kinds == QF_KIND_BIT(QF_KIND_VALUE));

  // Mapping form: slots in the order written, whatever the port order.
  const auto& t = rt_test::node(g, "t");
  REQUIRE(t.slots.size() == 3);
  CHECK((t.slots[0].port == 1 && t.slots[0].producer_port == 1));
  CHECK((t.slots[1].port == 1 && t.slots[1].producer_port == 0));
  CHECK((t.slots[2].port == 0 && t.slots[2].producer == bars));

  // A bare reference picks the producer's first output the input accepts.
  const auto& cn = rt_test::node(g, "c");
  REQUIRE(cn.slots.size() == 3);
  CHECK(cn.slots[0].producer_port == 0);
  CHECK(cn.slots[1].producer_port == 1);
  CHECK(cn.slots[1].kinds == QF_KIND_BIT(QF_KIND_ACCOUNT));

  // Topological order: every producer before its consumers.
  std::vector<size_t> rank(g.nodes.size());
  for (size_t k = 0; k < g.topo_order.size(); ++k) rank[g.topo_order[k]] = k;
  REQUIRE(g.topo_order.size() == g.nodes.size());
  for (uint32_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& slot : g.nodes[i].slots) CHECK(rank[slot.producer] < rank[i]);
}

TEST_CASE("loader: structural and spec errors are reported together, without cascades from the broken node") {
  const std::string y =
      "nmae: x\n"
      "nodes:\n"
      "  - id: a\n    type: test.bars\n    params: {count: 3}\n"
      "  - id: b\n    type: test.required\n    inputs: [a]\n    params: {perod: 2}\n"
      "  - id: c\n    type: test.required\n    inputs: [a]\n    params: [1, 2]\n";
  const auto c = check(y);
  INFO(c.dump());
  CHECK(c.with("E0003").size() == 1);  // nmae
  CHECK(c.with("E0004").size() == 1);  // c's params are a list
  CHECK(c.with("E0103").size() == 1);  // b's perod, found although the file has structural errors
  CHECK(c.with("E0104").size() == 1);  // b misses period; c, whose params could not be read, is not blamed
  CHECK_FALSE(c.graph.has_value());
}

TEST_CASE("loader: an empty variable is an empty string, and $${ in a variable is a literal ${") {
  const std::string y =
      "variables:\n  empty:\n  literal: a$${b}c\n"
      "nodes:\n  - id: a\n    type: test.all_params\n    params: {label: \"${empty}x${literal}\"}\n";
  const auto c = check(y);
  INFO(c.dump());
  CHECK(c.errors() == 0);
  CHECK(c.def.variables.at("empty").empty());
  CHECK(c.def.variables.at("literal") == "a${b}c");
  REQUIRE(c.def.nodes.size() == 1);
  CHECK(c.def.nodes[0].params.at(0).value.text == "xa${b}c");
}
