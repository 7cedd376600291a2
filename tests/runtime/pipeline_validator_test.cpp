// runtime/pipeline_validator.cpp: a loaded pipeline checked against node specs — types and ids
// (E0101, E0102, E0107), parameters (E0103-E0106, E0501), inputs and ports (E0201-E0208) — and
// the typed values and resolved paths it hands to nodes.
#include "runtime_test_support.hpp"

#include <qflow/time.hpp>

using qflow::Severity;
using rt_test::at;
using rt_test::check;

namespace {
// A bars source `bars` followed by `extra`: most tests need a producer to connect to.
std::string with_bars(const std::string& extra) { return "nodes:\n  - {id: bars, type: test.bars}\n" + extra; }
}  // namespace

TEST_CASE("validator: every parameter type converts to its typed value") {
  const std::string y = with_bars(
      "  - id: s\n    type: test.all_params\n    inputs: bars\n    params:\n"
      "      count: 12\n      ratio: 0.125\n      enabled: yes\n      label: hello world\n      speed: medium\n"
      "      file: data/x.csv\n      window: 90s\n      since: 2024-10-01T03:00:00Z\n");
  const auto c = check(y);
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& p = rt_test::node(*c.graph, "s").params;
  CHECK(p.find("count")->i == 12);
  CHECK(p.find("count")->d == 12.0);
  CHECK(p.find("ratio")->d == 0.125);
  CHECK(p.find("enabled")->i == 1);
  CHECK(std::string(p.find("label")->s.data, p.find("label")->s.size) == "hello world");
  CHECK(std::string(p.find("speed")->s.data) == "medium");
  CHECK(std::string(p.find("file")->s.data) == "/virtual/pipes/data/x.csv");
  CHECK(p.find("window")->i == 90 * qflow::kNanosPerSecond);
  CHECK(p.find("since")->i == *qflow::parse_time("2024-10-01T03:00:00Z"));
  CHECK(p.find("threshold")->d == 1.0);  // default
  for (const auto& v : p.values()) CHECK(v.is_set == 1);
  CHECK(p.text("window") == "90s");
}

TEST_CASE("validator: defaults apply, optional parameters without default are passed unset") {
  const auto c = check(with_bars("  - {id: s, type: test.all_params, inputs: bars}\n"));
  INFO(c.dump());
  REQUIRE(c.graph);
  const auto& p = rt_test::node(*c.graph, "s").params;
  CHECK(p.find("count")->i == 5);
  CHECK(p.find("window")->i == 60 * qflow::kNanosPerSecond);
  CHECK(std::string(p.find("speed")->s.data) == "fast");
  REQUIRE(p.find("file"));
  CHECK(p.find("file")->is_set == 0);
  CHECK(p.find("since")->is_set == 0);
  CHECK(p.values().size() == 9);  // every declared parameter is present
}

TEST_CASE("validator: relative paths follow the pipeline file, or the CWD when they came from --set") {
  const std::string y =
      "variables: {data: data/x.csv}\n" +
      with_bars("  - {id: s, type: test.all_params, inputs: bars, params: {file: \"${data}\"}}\n"
                "  - {id: t, type: test.all_params, inputs: bars, params: {file: ../up/y.csv}}\n"
                "  - {id: u, type: test.all_params, inputs: bars, params: {file: /abs/z.csv}}\n");
  auto file = [](const qflow::Graph& g, const std::string& id) {
    const qf_param_value* v = rt_test::node(g, id).params.find("file");
    return std::string(v->s.data, v->s.size);
  };
  SECTION("from the file") {
    const auto c = check(y);
    INFO(c.dump());
    REQUIRE(c.graph);
    CHECK(file(*c.graph, "s") == "/virtual/pipes/data/x.csv");
    CHECK(file(*c.graph, "t") == "/virtual/up/y.csv");
    CHECK(file(*c.graph, "u") == "/abs/z.csv");
    // The text as written stays available for display.
    CHECK(rt_test::node(*c.graph, "s").params.text("file") == "data/x.csv");
  }
  SECTION("from --set: relative to where qflow runs") {
    const auto c = check(y, {{"data", "mine/x.csv"}});
    INFO(c.dump());
    REQUIRE(c.graph);
    CHECK(file(*c.graph, "s") == (std::filesystem::current_path() / "mine/x.csv").lexically_normal().string());
    CHECK(file(*c.graph, "t") == "/virtual/up/y.csv");  // untouched by --set
  }
  SECTION("absolute --set values stay as they are") {
    const auto c = check(y, {{"data", "/elsewhere/x.csv"}});
    REQUIRE(c.graph);
    CHECK(file(*c.graph, "s") == "/elsewhere/x.csv");
  }
  SECTION("a pipeline file given by a relative name resolves against the CWD's folder of it") {
    const auto c = check(y, {}, "sub/p.yaml");
    REQUIRE(c.graph);
    CHECK(file(*c.graph, "s") == (std::filesystem::current_path() / "sub/data/x.csv").lexically_normal().string());
  }
}

TEST_CASE("validator: E0101 unknown node type, with the nearest registered name") {
  const std::string y = with_bars("  - id: p\n    type: test.pas\n    inputs: bars\n");
  const auto c = check(y);
  const auto d = c.one("E0101");
  CHECK(d.pos == at(y, "test.pas\n"));
  CHECK(d.message == "unknown node type 'test.pas' in node 'p'");
  CHECK(d.hint == "did you mean 'test.pass'?");
  CHECK(c.errors() == 1);  // nothing cascades from the unknown type
  CHECK(d.to_string() == std::string(rt_test::kFile) + ":4:11: E0101 unknown node type 'test.pas' in node 'p' (did you mean 'test.pass'?)");
}

TEST_CASE("validator: E0102 duplicate node id, naming the first definition") {
  const std::string y = with_bars("  - {id: bars, type: test.count}\n");
  const auto d = check(y).one("E0102");
  CHECK(d.pos == at(y, "bars", 2));
  CHECK(d.message == "duplicate node id 'bars' (first defined at line 2)");
}

TEST_CASE("validator: E0103 unknown parameter, with a suggestion") {
  const std::string y = with_bars("  - id: s\n    type: test.all_params\n    inputs: bars\n    params:\n      thresold: 3\n      zzz: 1\n");
  const auto c = check(y);
  const auto all = c.with("E0103");
  INFO(c.dump());
  REQUIRE(all.size() == 2);
  CHECK(all[0].pos == at(y, "thresold"));
  CHECK(all[0].message == "unknown parameter 'thresold' in node 's' (test.all_params)");
  CHECK(all[0].hint == "did you mean 'threshold'?");
  CHECK(all[1].pos == at(y, "zzz"));
  CHECK(all[1].hint.empty());  // nothing is close
}

TEST_CASE("validator: E0104 missing required parameter") {
  const std::string y = with_bars("  - id: r\n    type: test.required\n    inputs: bars\n");
  const auto d = check(y).one("E0104");
  CHECK(d.pos == rt_test::id_at(y, "r"));
  CHECK(d.message == "node 'r' (test.required) is missing required parameter 'period'");
}

TEST_CASE("validator: E0105 wrong parameter type") {
  auto param = [](const std::string& name, const std::string& value) {
    return with_bars("  - id: s\n    type: test.all_params\n    inputs: bars\n    params:\n      " + name + ": " + value + "\n");
  };
  struct Case {
    std::string name, value, needle, message;
  };
  const std::vector<Case> cases = {
      {"count", "1.5", "1.5", "parameter 'count' expects an integer, got '1.5' in node 's'"},
      {"count", "12abc", "12abc", "parameter 'count' expects an integer, got '12abc' in node 's'"},
      {"ratio", "half", "half", "parameter 'ratio' expects a number, got 'half' in node 's'"},
      {"ratio", ".nan", ".nan", "parameter 'ratio' expects a number, got '.nan' in node 's'"},
      {"enabled", "maybe", "maybe", "parameter 'enabled' expects true or false, got 'maybe' in node 's'"},
      {"window", "5 parsecs", "5 parsecs", "parameter 'window' expects a duration such as 500ms, 1m, 4h or 1d, got '5 parsecs' in node 's'"},
      {"since", "yesterday", "yesterday", "parameter 'since' expects an ISO 8601 UTC time such as 2024-10-01 or 2024-10-01T03:00:00Z, got 'yesterday' in node 's'"},
      {"count", "", "\n", "parameter 'count' expects an integer, got nothing in node 's'"},
      {"count", "[1, 2]", "[1, 2]", "parameter 'count' of node 's' expects a single integer, not a list or mapping"},
      {"label", "{a: 1}", "{a: 1}", "parameter 'label' of node 's' expects a single string, not a list or mapping"},
  };
  for (const Case& k : cases) {
    DYNAMIC_SECTION(k.name << ": " << k.value) {
      const std::string y = param(k.name, k.value);
      const auto d = check(y).one("E0105");
      CHECK(d.message == k.message);
      if (k.needle == "\n")  // an empty value: the key locates it
        CHECK(d.pos == at(y, k.name + ":"));
      else
        CHECK(d.pos == at(y, k.needle));
    }
  }
}

TEST_CASE("validator: E0106 out of range, not one of the choices") {
  const std::string y = with_bars(
      "  - id: s\n    type: test.all_params\n    inputs: bars\n    params:\n      count: 0\n      ratio: 1.5\n      speed: fsat\n");
  const auto c = check(y);
  const auto all = c.with("E0106");
  INFO(c.dump());
  REQUIRE(all.size() == 3);
  CHECK(all[0].pos == at(y, "0\n"));
  CHECK(all[0].message == "parameter 'count' is 0, but must be >= 1 and <= 100 in node 's'");
  CHECK(all[1].pos == at(y, "1.5"));
  CHECK(all[1].message == "parameter 'ratio' is 1.5, but must be >= 0 and <= 1 in node 's'");
  CHECK(all[2].pos == at(y, "fsat"));
  CHECK(all[2].message == "parameter 'speed' is 'fsat', but must be one of: fast, slow, medium in node 's'");
  CHECK(all[2].hint == "did you mean 'fast'?");
}

TEST_CASE("validator: E0107 invalid node id") {
  const std::string y = with_bars("  - {id: my.node, type: test.count, inputs: bars}\n  - {id: 9lives, type: test.count, inputs: bars}\n");
  const auto c = check(y);
  const auto all = c.with("E0107");
  INFO(c.dump());
  REQUIRE(all.size() == 2);
  CHECK(all[0].pos == at(y, "my.node"));
  CHECK(all[0].message == "node id 'my.node' must start with a letter or '_' and use only letters, digits, '_' and '-'");
  CHECK(all[1].pos == at(y, "9lives"));
  // Ids that are fine.
  const auto ok = check(with_bars("  - {id: _a-b_9, type: test.count, inputs: bars}\n"));
  CHECK(ok.graph.has_value());
}

TEST_CASE("validator: E0201 input from an unknown node") {
  const std::string y = with_bars("  - {id: c, type: test.count, inputs: [barz]}\n");
  const auto d = check(y).one("E0201");
  CHECK(d.pos == at(y, "barz"));
  CHECK(d.message == "node 'c' takes input from unknown node 'barz'");
  CHECK(d.hint == "did you mean 'bars'?");
}

TEST_CASE("validator: E0202 unknown output port") {
  const std::string y = with_bars("  - {id: v, type: test.value, inputs: bars}\n  - {id: c, type: test.count, inputs: [v.uper]}\n");
  const auto d = check(y).one("E0202");
  CHECK(d.pos == at(y, "v.uper"));
  CHECK(d.message == "node 'v' (test.value) has no output 'uper'");
  CHECK(d.hint == "did you mean 'upper'?");
}

TEST_CASE("validator: E0203 port kind mismatch, named and unnamed output") {
  const std::string y = with_bars(
      "  - {id: v, type: test.value, inputs: bars}\n"
      "  - {id: s, type: test.strategy, inputs: {market: v.value}}\n"
      "  - {id: t, type: test.strategy, inputs: [v]}\n"
      "  - {id: c, type: test.count, inputs: [s, t]}\n");
  const auto c = check(y);
  const auto all = c.with("E0203");
  INFO(c.dump());
  REQUIRE(all.size() == 2);
  CHECK(all[0].pos == at(y, "v.value"));
  CHECK(all[0].message == "'v.value' produces value but input 'market' of node 's' accepts bar");
  CHECK(all[1].pos == rt_test::after(y, "test.strategy, inputs: ["));
  CHECK(all[1].message ==
        "node 'v' produces nothing that input 'market' of node 't' accepts (bar); its outputs: value (value), upper (value)");
}

TEST_CASE("validator: a node of several outputs named alone into a port of many wires each output as node.output, unless one is named") {
  const std::string y = with_bars(
      "  - {id: v, type: test.value, inputs: bars}\n"
      "  - {id: all, type: test.count, inputs: [bars, v]}\n"
      "  - {id: one, type: test.count, inputs: [v.upper]}\n"
      "  - {id: s, type: test.strategy, inputs: {market: bars, signals: [v]}}\n"
      "  - {id: c, type: test.count, inputs: [s]}\n"
      "  - {id: named, type: test.count, inputs: [v, v.upper]}\n");
  const auto c = check(y);
  INFO(c.dump());
  REQUIRE(c.graph);
  auto labels = [&](const std::string& id) {
    std::vector<std::pair<std::string, uint32_t>> out;
    for (const qflow::Slot& s : rt_test::node(*c.graph, id).slots) out.emplace_back(s.label, s.producer_port);
    return out;
  };
  using L = std::vector<std::pair<std::string, uint32_t>>;
  CHECK(labels("all") == L{{"bars", 0}, {"v.value", 0}, {"v.upper", 1}});
  CHECK(labels("one") == L{{"v.upper", 1}});
  CHECK(labels("s") == L{{"bars", 0}, {"v.value", 0}, {"v.upper", 1}});
  // Naming one of its outputs too keeps the bare name to the first output: no input twice.
  CHECK(labels("named") == L{{"v", 0}, {"v.upper", 1}});
}

TEST_CASE("validator: E0204 unknown input port") {
  const std::string y = with_bars("  - {id: s, type: test.strategy, inputs: {markt: bars}}\n  - {id: c, type: test.count, inputs: s}\n");
  const auto c = check(y);
  const auto d = c.one("E0204");
  CHECK(d.pos == rt_test::after(y, "markt: "));
  CHECK(d.message == "node 's' (test.strategy) has no input port 'markt'");
  CHECK(d.hint == "did you mean 'market'?");
  // The port that did exist is then not connected.
  CHECK(c.one("E0205").message == "input 'market' of node 's' (test.strategy) is not connected");
}

TEST_CASE("validator: E0205 required input not connected, optional inputs may stay open") {
  const std::string y = with_bars(
      "  - {id: v, type: test.value, inputs: bars}\n"
      "  - {id: s, type: test.strategy, inputs: {signals: v}}\n"
      "  - {id: c, type: test.count, inputs: s}\n");
  const auto d = check(y).one("E0205");
  CHECK(d.pos == rt_test::id_at(y, "s"));
  CHECK(d.message == "input 'market' of node 's' (test.strategy) is not connected");
  const auto ok = check(with_bars("  - {id: s, type: test.strategy, inputs: {market: bars}}\n  - {id: c, type: test.count, inputs: s}\n"));
  INFO(ok.dump());
  CHECK(ok.graph.has_value());
}

TEST_CASE("validator: E0206 too many connections, list form and mapping form") {
  const std::string y = with_bars(
      "  - {id: b2, type: test.bars}\n"
      "  - {id: v, type: test.value, inputs: [bars, b2]}\n"
      "  - {id: w, type: test.value, inputs: {in: [bars, b2]}}\n"
      "  - {id: c, type: test.count, inputs: [v, w]}\n");
  const auto c = check(y);
  const auto all = c.with("E0206");
  INFO(c.dump());
  REQUIRE(all.size() == 2);
  CHECK(all[0].pos == at(y, "b2]"));
  CHECK(all[0].message == "too many inputs for node 'v' (test.value takes 1)");
  CHECK(all[1].pos == at(y, "b2]", 1));
  CHECK(all[1].message == "input 'in' of node 'w' takes one connection");
  // A multiple port takes any number.
  CHECK(check(with_bars("  - {id: b2, type: test.bars}\n  - {id: c, type: test.count, inputs: [bars, b2, bars]}\n")).graph.has_value());
}

TEST_CASE("validator: E0207 cycle, naming the nodes on it") {
  const std::string y = with_bars(
      "  - {id: p1, type: test.pass, inputs: p3}\n"
      "  - {id: p2, type: test.pass, inputs: p1}\n"
      "  - {id: p3, type: test.pass, inputs: p2}\n"
      "  - {id: c, type: test.count, inputs: [p3, bars]}\n");
  const auto c = check(y);
  const auto d = c.one("E0207");
  CHECK(d.message.find("the pipeline has a cycle: ") == 0);
  CHECK(d.message.find("fills and order updates return to the strategy") != std::string::npos);
  // The cycle is printed as a closed path through p1, p2 and p3.
  const std::string path = d.message.substr(26, d.message.find(" (") - 26);
  CHECK((path == "p1 -> p2 -> p3 -> p1" || path == "p2 -> p3 -> p1 -> p2" || path == "p3 -> p1 -> p2 -> p3"));
  // Each arrow follows the data: p1 feeds p2, p2 feeds p3, p3 feeds p1.
  const std::string first = path.substr(0, 2);
  CHECK(d.pos == rt_test::id_at(y, first));
  CHECK(!c.graph);
  // A self-loop.
  const auto self = check(with_bars("  - {id: p, type: test.pass, inputs: p}\n  - {id: c, type: test.count, inputs: p}\n"));
  CHECK(self.one("E0207").message.find("cycle: p -> p (") != std::string::npos);
}

TEST_CASE("validator: E0208 dangling node") {
  const std::string y = with_bars("  - {id: v, type: test.value, inputs: bars}\n  - {id: c, type: test.count, inputs: bars}\n");
  const auto d = check(y).one("E0208");
  CHECK(d.pos == rt_test::id_at(y, "v"));
  CHECK(d.message.find("node 'v' (test.value) is dangling: nothing uses its outputs") == 0);
  // A source nobody reads is dangling too; executors are exempt (their fills go back upstream).
  const auto src = check("nodes:\n  - {id: lonely, type: test.bars}\n");
  CHECK(src.one("E0208").message.find("node 'lonely' (test.bars)") == 0);
  const auto exec = check(with_bars("  - {id: s, type: test.strategy, inputs: bars}\n  - {id: x, type: test.exec, inputs: {market: bars, orders: s}}\n"));
  INFO(exec.dump());
  CHECK(exec.graph.has_value());
}

TEST_CASE("validator: describe() adds parameters, E0501 when it fails or clashes") {
  SECTION("declared parameter, given") {
    const auto c = check("nodes:\n  - {id: d, type: test.described, params: {declare: depth, depth: 4}}\n");
    INFO(c.dump());
    REQUIRE(c.graph);
    const auto& n = rt_test::node(*c.graph, "d");
    REQUIRE(n.extra_params.size() == 1);
    CHECK(n.extra_params[0].name == "depth");
    CHECK(n.params.find("depth")->i == 4);
  }
  SECTION("declared parameters are checked like the others") {
    const std::string y = "nodes:\n  - {id: d, type: test.described, params: {declare: depth, depht: -1}}\n";
    const auto c = check(y);
    CHECK(c.one("E0104").message == "node 'd' (test.described) is missing required parameter 'depth'");
    CHECK(c.one("E0103").hint == "did you mean 'depth'?");
    const auto r = check("nodes:\n  - {id: d, type: test.described, params: {declare: depth, depth: -1}}\n");
    CHECK(r.one("E0106").message == "parameter 'depth' is -1, but must be >= 0 in node 'd'");
  }
  SECTION("describe fails") {
    const std::string y = "nodes:\n  - id: d\n    type: test.described\n    params:\n      declare: fail\n";
    const auto d = check(y).one("E0501");
    CHECK(d.pos == at(y, "fail"));
    CHECK(d.message == "node 'd': cannot describe parameters for declare=fail");
  }
  SECTION("a described parameter clashes with a declared one") {
    const auto d = check("nodes:\n  - {id: d, type: test.described, params: {declare: declare}}\n").one("E0501");
    CHECK(d.message == "node 'd': declared parameter 'declare' clashes with a parameter of test.described");
  }
}

TEST_CASE("validator: several problems in one file are all reported at once, in file order") {
  const std::string y =
      "nodes:\n"
      "  - {id: bars, type: test.bars, params: {count: -1}}\n"
      "  - {id: p, type: test.pas, inputs: bars}\n"
      "  - {id: s, type: test.all_params, inputs: [barz], params: {thresold: 1, speed: fsat}}\n"
      "  - {id: r, type: test.required, inputs: bars}\n"
      "  - {id: r, type: test.count, inputs: bars}\n";
  const auto c = check(y);
  INFO(c.dump());
  CHECK(!c.graph);
  const auto range = c.with("E0106");
  REQUIRE(range.size() == 2);
  CHECK(range[0].pos == at(y, "-1"));
  CHECK(range[1].pos == at(y, "fsat"));
  CHECK(c.one("E0101").pos == at(y, "test.pas"));
  CHECK(c.one("E0201").pos == at(y, "barz"));
  CHECK(c.one("E0103").pos == at(y, "thresold"));
  CHECK(c.one("E0104").pos == rt_test::id_at(y, "r"));
  CHECK(c.one("E0102").pos == rt_test::id_at(y, "r", 1));
  CHECK(c.errors() == 7);
  // sorted(): by line, then column.
  const auto sorted = c.diags.sorted();
  for (size_t i = 1; i < sorted.size(); ++i)
    CHECK(std::make_pair(sorted[i - 1].pos.line, sorted[i - 1].pos.column) <= std::make_pair(sorted[i].pos.line, sorted[i].pos.column));
}

TEST_CASE("validator: several structural problems are all reported at once too") {
  const std::string y =
      "mode: bakctest\n"
      "colour: red\n"
      "variables: {a: 1}\n"
      "nodes:\n"
      "  - {id: x, type: test.count, inputs: \"${b}\", extra: 1}\n"
      "  - id: y\n";
  const auto c = check(y, {{"z", "1"}});
  INFO(c.dump());
  CHECK(c.one("E0006").hint == "did you mean 'backtest'?");
  const auto unknown = c.with("E0003");
  REQUIRE(unknown.size() == 2);
  CHECK(unknown[0].pos == at(y, "colour"));
  CHECK(unknown[1].pos == at(y, "extra"));
  CHECK(c.one("E0301").message == "undefined variable 'b'");
  CHECK(c.one("E0005").message == "node 'y' needs a 'type'");
  CHECK(c.one("E0302").message.find("'z'") != std::string::npos);
}
