// YAML → PipelineDef. Structure only: duplicate and unknown keys, wrong YAML types, variables.
// Node types and parameters are checked later against the registry (pipeline_validator.cpp).
#include "pipeline.hpp"

#include <qflow/time.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <arpa/inet.h>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace qflow {

namespace {

Position pos_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

using Entries = std::vector<std::pair<YAML::Node, YAML::Node>>;

class Loader {
 public:
  Loader(std::string file, const LoadOptions& options, Diagnostics& diags)
      : file_(std::move(file)), options_(options), diags_(diags) {}

  PipelineDef load(const std::string& text);

 private:
  void error(Position p, const std::string& code, const std::string& msg, const std::string& hint = {}) {
    diags_.error(file_, p, code, msg, hint);
  }

  // The entries of a mapping, with duplicate and unknown keys reported. `where` names the
  // mapping in messages ("the pipeline", "node 'rsi'").
  Entries entries(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& where) {
    Entries out;
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) {
        error(pos_of(it->first), "E0004", "keys must be plain names in " + where);
        continue;
      }
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        error(pos_of(it->first), "E0002", "duplicate key '" + key + "' in " + where);
        continue;
      }
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(pos_of(it->first), "E0003", "unknown key '" + key + "' in " + where, did_you_mean(key, allowed));
        continue;
      }
      out.emplace_back(it->first, it->second);
    }
    return out;
  }

  bool expect(const YAML::Node& n, YAML::NodeType::value type, const std::string& what) {
    if (n.Type() == type) return true;
    const char* name = type == YAML::NodeType::Map ? "a mapping" : type == YAML::NodeType::Sequence ? "a list" : "a value";
    error(pos_of(n), "E0004", what + " must be " + name);
    return false;
  }

  Scalar scalar(const YAML::Node& n) {
    Scalar s;
    s.pos = pos_of(n);
    if (n.IsNull()) {
      s.is_null = true;
      return s;
    }
    s.text = substitute(n.Scalar(), s.pos, s.from_command_line);
    return s;
  }

  // ${name} → the variable's value; $${ → a literal ${.
  std::string substitute(const std::string& in, Position p, bool& from_cli) {
    std::string out;
    for (size_t i = 0; i < in.size();) {
      if (in.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
      } else if (in.compare(i, 2, "${") == 0) {
        const size_t end = in.find('}', i + 2);
        if (end == std::string::npos) {
          error(p, "E0301", "unterminated '${' in '" + in + "'");
          return in;
        }
        const std::string name = in.substr(i + 2, end - i - 2);
        auto it = variables_.find(name);
        if (it == variables_.end()) {
          std::vector<std::string> names;
          for (const auto& [k, v] : variables_) names.push_back(k);
          error(p, "E0301", "undefined variable '" + name + "'", did_you_mean(name, names));
        } else {
          out += it->second;
          if (cli_vars_.count(name)) from_cli = true;
        }
        i = end + 1;
      } else {
        out += in[i++];
      }
    }
    return out;
  }

  void load_variables(const YAML::Node& n);
  void load_simulator(const YAML::Node& n, PipelineDef& def);
  void load_engine(const YAML::Node& n, PipelineDef& def);
  void load_node(const YAML::Node& n, PipelineDef& def);
  void load_params(const YAML::Node& n, NodeDef& node);
  void load_inputs(const YAML::Node& n, NodeDef& node);

  std::string file_;
  const LoadOptions& options_;
  Diagnostics& diags_;
  std::map<std::string, std::string> variables_;
  std::set<std::string> cli_vars_;
};

// A port nobody listens on now, for a simulator with `port: 0`.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

const std::vector<std::string> kTopKeys = {"name", "description", "mode", "seed", "output",
                                           "plugins", "variables", "engine", "simulator", "nodes"};
const std::vector<std::string> kNodeKeys = {"id", "type", "params", "inputs", "variant", "variants", "description"};

PipelineDef Loader::load(const std::string& text) {
  PipelineDef def;
  def.file = file_;
  std::error_code ec;
  def.base_dir = std::filesystem::absolute(std::filesystem::path(file_), ec).parent_path();
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // ${name} inside {...} or [...] is the classic trap: braces end a flow collection.
    std::string hint;
    std::istringstream lines(text);
    std::string line;
    for (int i = 0; std::getline(lines, line) && i <= e.mark.line; ++i)
      if (i == e.mark.line && line.find("${") != std::string::npos && line.find_first_of("{[") < line.find("${"))
        hint = "inside { } or [ ], quote values that use variables: \"${name}\"";
    error({e.mark.line + 1, e.mark.column + 1}, "E0001", "YAML syntax error: " + e.msg, hint);
    return def;
  }
  if (!root.IsMap()) {
    error(pos_of(root), "E0004", "a pipeline file must be a mapping with at least a 'nodes:' list");
    return def;
  }
  const Entries top = entries(root, kTopKeys, "the pipeline");
  for (const auto& [k, v] : top)
    if (k.Scalar() == "variables") load_variables(v);
  for (const auto& [name, value] : options_.overrides) {
    if (!variables_.count(name)) {
      std::vector<std::string> names;
      for (const auto& [k, x] : variables_) names.push_back(k);
      diags_.error(file_, {}, "E0302", "--set " + name + ": the pipeline declares no variable '" + name + "'",
                   did_you_mean(name, names));
      continue;
    }
    variables_[name] = value;
    cli_vars_.insert(name);
  }
  // The simulator first: its URL is a variable the nodes may use.
  for (const auto& [k, v] : top)
    if (k.Scalar() == "simulator") load_simulator(v, def);
  def.variables = variables_;

  bool has_nodes = false;
  for (const auto& [k, v] : top) {
    const std::string key = k.Scalar();
    if (key == "variables" || key == "simulator") continue;
    if (key == "nodes") {
      has_nodes = true;
      if (!expect(v, YAML::NodeType::Sequence, "'nodes'")) continue;
      for (const YAML::Node& n : v) load_node(n, def);
      if (v.size() == 0) error(pos_of(v), "E0005", "the pipeline has no nodes");
      continue;
    }
    if (key == "engine") {
      load_engine(v, def);
      continue;
    }
    if (key == "plugins") {
      if (!expect(v, YAML::NodeType::Sequence, "'plugins'")) continue;
      for (const YAML::Node& p : v)
        if (expect(p, YAML::NodeType::Scalar, "a plugin entry")) def.plugins.push_back(scalar(p));
      continue;
    }
    if (!expect(v, YAML::NodeType::Scalar, "'" + key + "'")) continue;
    const Scalar s = scalar(v);
    if (key == "name") def.name = s.text;
    if (key == "description") def.description = s.text;
    if (key == "output") def.output = s.text;
    if (key == "mode") {
      def.mode = s.text;
      def.mode_pos = s.pos;
      const std::vector<std::string> modes = {"backtest", "paper", "live"};
      if (std::find(modes.begin(), modes.end(), s.text) == modes.end())
        error(s.pos, "E0006", "unknown mode '" + s.text + "' (backtest, paper or live)", did_you_mean(s.text, modes));
    }
    if (key == "seed") {
      const auto [p, e] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), def.seed);
      if (e != std::errc() || p != s.text.data() + s.text.size())
        error(s.pos, "E0006", "seed must be a non-negative integer, got '" + s.text + "'");
    }
  }
  if (!has_nodes) error(pos_of(root), "E0005", "the pipeline has no 'nodes:' list");
  if (def.name.empty()) def.name = std::filesystem::path(file_).stem().string();
  if (def.output.empty()) def.output = "runs/" + def.name;
  return def;
}

void Loader::load_variables(const YAML::Node& n) {
  if (!expect(n, YAML::NodeType::Map, "'variables'")) return;
  for (const auto& [k, v] : entries(n, {}, "'variables'")) {
    if (v.IsNull()) {  // `name:` with nothing: an empty value
      variables_[k.Scalar()] = "";
      continue;
    }
    if (!expect(v, YAML::NodeType::Scalar, "variable '" + k.Scalar() + "'")) continue;
    const std::string& text = v.Scalar();
    for (size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 2))
      if (at == 0 || text[at - 1] != '$') {  // $${ is an escaped, literal ${
        error(pos_of(v), "E0301", "variable '" + k.Scalar() + "' may not refer to other variables");
        break;
      }
    std::string value;  // stored with $${ already turned into ${
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 3, "$${") == 0) ++i;
      value += text[i];
    }
    variables_[k.Scalar()] = value;
  }
}

void Loader::load_simulator(const YAML::Node& n, PipelineDef& def) {
  SimulatorDef sim;
  sim.pos = pos_of(n);
  if (!expect(n, YAML::NodeType::Map, "'simulator'")) return;
  const std::vector<std::string> fault_keys{"disconnect_every", "drop_every", "duplicate_every", "malformed_every",
                                            "reorder_every", "stall_every", "stall_for"};
  for (const auto& [k, v] : entries(n, {"host", "port", "speed", "partial_klines", "feeds", "faults"}, "'simulator'")) {
    const std::string& key = k.Scalar();
    if (key == "feeds") {
      if (!expect(v, YAML::NodeType::Sequence, "'simulator.feeds'")) continue;
      for (const YAML::Node& f : v) {
        if (!expect(f, YAML::NodeType::Map, "a simulator feed")) continue;
        SimulatorFeed feed;
        feed.pos = pos_of(f);
        for (const auto& [fk, fv] : entries(f, {"symbol", "path", "kind", "interval"}, "a simulator feed")) {
          if (!expect(fv, YAML::NodeType::Scalar, "'" + fk.Scalar() + "'")) continue;
          const Scalar s = scalar(fv);
          if (fk.Scalar() == "symbol") feed.symbol = s.text;
          if (fk.Scalar() == "interval") feed.interval = s.text;
          if (fk.Scalar() == "kind") {
            feed.kind = s.text;
            if (s.text != "bars" && s.text != "ticks")
              error(s.pos, "E0006", "a simulator feed's kind is bars or ticks, got '" + s.text + "'");
          }
          if (fk.Scalar() == "path") {
            const std::filesystem::path p(s.text);
            std::error_code ec;
            feed.path = p.is_absolute() ? s.text
                                        : std::filesystem::absolute(s.from_command_line ? p : def.base_dir / p, ec)
                                              .lexically_normal()
                                              .string();
          }
        }
        if (feed.symbol.empty()) error(feed.pos, "E0006", "a simulator feed needs a symbol");
        if (feed.path.empty()) error(feed.pos, "E0006", "a simulator feed needs a path");
        sim.feeds.push_back(std::move(feed));
      }
      if (sim.feeds.empty()) error(pos_of(v), "E0006", "the simulator has no feeds");
      continue;
    }
    if (key == "faults") {
      if (!expect(v, YAML::NodeType::Map, "'simulator.faults'")) continue;
      for (const auto& [fk, fv] : entries(v, fault_keys, "'simulator.faults'")) {
        if (!expect(fv, YAML::NodeType::Scalar, "'" + fk.Scalar() + "'")) continue;
        const Scalar s = scalar(fv);
        const std::string& name = fk.Scalar();
        if (name == "disconnect_every" || name == "stall_every" || name == "stall_for") {
          const std::optional<int64_t> d = s.text == "0" ? std::optional<int64_t>(0) : parse_duration(s.text);
          if (!d || *d < 0) {
            error(s.pos, "E0006", name + " must be a duration such as 30s or 0 (never), got '" + s.text + "'");
            continue;
          }
          (name == "disconnect_every" ? sim.disconnect_every_ns : name == "stall_every" ? sim.stall_every_ns : sim.stall_for_ns) = *d;
        } else {
          uint64_t count = 0;
          const auto [p, e] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), count);
          if (e != std::errc() || p != s.text.data() + s.text.size()) {
            error(s.pos, "E0006", name + " must be a message count (0 = never), got '" + s.text + "'");
            continue;
          }
          (name == "drop_every" ? sim.drop_every : name == "duplicate_every" ? sim.duplicate_every
                                  : name == "malformed_every" ? sim.malformed_every : sim.reorder_every) = count;
        }
      }
      if (sim.stall_every_ns > 0 && sim.stall_for_ns >= sim.stall_every_ns)
        error(pos_of(v), "E0006", "stall_for must be shorter than stall_every");
      continue;
    }
    if (!expect(v, YAML::NodeType::Scalar, "'" + key + "'")) continue;
    const Scalar s = scalar(v);
    if (key == "host") sim.host = s.text;
    if (key == "partial_klines") {
      if (s.text != "true" && s.text != "false") error(s.pos, "E0006", "partial_klines must be true or false, got '" + s.text + "'");
      sim.partial_klines = s.text == "true";
    }
    if (key == "port") {
      const auto [p, e] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), sim.port);
      if (e != std::errc() || p != s.text.data() + s.text.size() || sim.port < 0 || sim.port > 65535)
        error(s.pos, "E0006", "the simulator's port must be 0 (any free port) to 65535, got '" + s.text + "'");
    }
    if (key == "speed") {
      if (s.text == "max") {
        sim.speed = 0;
      } else {
        char* end = nullptr;
        sim.speed = std::strtod(s.text.c_str(), &end);
        if (s.text.empty() || *end != '\0' || !(sim.speed > 0) || !std::isfinite(sim.speed))
          error(s.pos, "E0006", "the simulator's speed is a positive factor (1 = real time) or max, got '" + s.text + "'");
      }
    }
  }
  if (!n["feeds"]) error(sim.pos, "E0006", "the simulator needs 'feeds:' (symbol, path, kind, interval)");
  if (sim.port == 0) sim.port = options_.simulator_port ? options_.simulator_port : free_loopback_port();
  variables_["simulator.url"] = sim.url();
  def.simulator = std::move(sim);
}

void Loader::load_engine(const YAML::Node& n, PipelineDef& def) {
  if (!expect(n, YAML::NodeType::Map, "'engine'")) return;
  const std::vector<std::string> keys{"batch_size", "max_batches_in_flight", "vectorize", "facts", "checkpoint_every",
                                      "checkpoint_events"};
  for (const auto& [k, v] : entries(n, keys, "'engine'")) {
    if (!expect(v, YAML::NodeType::Scalar, "'" + k.Scalar() + "'")) continue;
    const Scalar s = scalar(v);
    const std::string& key = k.Scalar();
    if (key == "vectorize" || key == "facts") {
      if (s.text != "true" && s.text != "false")
        error(s.pos, "E0006", key + " must be true or false, got '" + s.text + "'");
      (key == "vectorize" ? def.vectorize : def.facts) = s.text == "true";
      continue;
    }
    if (key == "checkpoint_every") {
      const std::optional<int64_t> d = s.text == "0" ? std::optional<int64_t>(0) : parse_duration(s.text);
      if (!d || *d < 0) {
        error(s.pos, "E0006", "checkpoint_every must be a duration such as 1s, 500ms or 0 (off), got '" + s.text + "'");
        continue;
      }
      def.checkpoint_every_ns = *d;
      continue;
    }
    if (key == "checkpoint_events") {
      uint64_t value = 0;
      const auto [p, e] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), value);
      if (e != std::errc() || p != s.text.data() + s.text.size()) {
        error(s.pos, "E0006", "checkpoint_events must be a count of events (0: off), got '" + s.text + "'");
        continue;
      }
      def.checkpoint_events = value;
      continue;
    }
    uint32_t value = 0;
    const auto [p, e] = std::from_chars(s.text.data(), s.text.data() + s.text.size(), value);
    const uint32_t max = key == "batch_size" ? (1u << 20) : 4096u;
    if (e != std::errc() || p != s.text.data() + s.text.size() || value < 1 || value > max) {
      error(s.pos, "E0006", key + " must be an integer in [1, " + std::to_string(max) + "], got '" + s.text + "'");
      continue;
    }
    (key == "batch_size" ? def.batch_size : def.max_batches_in_flight) = value;
  }
}

void Loader::load_node(const YAML::Node& n, PipelineDef& def) {
  if (!expect(n, YAML::NodeType::Map, "a node")) return;
  const size_t problems_before = diags_.all().size();
  NodeDef node;
  node.pos = pos_of(n);
  // yaml-cpp's Node::operator= writes through to the referenced node; optional rebinds.
  std::optional<YAML::Node> params, inputs, variants;
  Scalar variant;
  bool has_variant = false, unknown_variant = false;
  for (const auto& [k, v] : entries(n, kNodeKeys, "a node")) {
    const std::string key = k.Scalar();
    if (key == "params") {
      params.emplace(v);
    } else if (key == "inputs") {
      inputs.emplace(v);
    } else if (key == "variants") {
      variants.emplace(v);
    } else if (expect(v, YAML::NodeType::Scalar, "'" + key + "'")) {
      const Scalar s = scalar(v);
      if (key == "id") node.id = s.text, node.pos = s.pos;
      if (key == "type") node.type = s.text, node.type_pos = s.pos;
      if (key == "description") node.description = s.text;
      if (key == "variant") variant = s, has_variant = true;
    }
  }
  if (node.id.empty()) error(node.pos, "E0005", "a node needs an 'id'");
  const std::string where = node.id.empty() ? std::string("a node") : "node '" + node.id + "'";
  if (params) load_params(*params, node);
  if (has_variant != variants.has_value()) {
    error(node.pos, "E0005", where + ": 'variant' and 'variants' go together");
  } else if (has_variant && expect(*variants, YAML::NodeType::Map, "'variants'")) {
    std::vector<std::string> names;
    std::optional<YAML::Node> chosen;
    for (const auto& [k, v] : entries(*variants, {}, "'variants' of " + where)) {
      names.push_back(k.Scalar());
      if (k.Scalar() == variant.text) chosen.emplace(v);
    }
    if (!chosen) {
      unknown_variant = true;
      error(variant.pos, "E0108", where + " has no variant '" + variant.text + "'", did_you_mean(variant.text, names));
    } else if (expect(*chosen, YAML::NodeType::Map, "variant '" + variant.text + "'")) {
      for (const auto& [k, v] : entries(*chosen, {"type", "params"}, "variant '" + variant.text + "' of " + where)) {
        if (k.Scalar() == "params") {
          load_params(v, node);
        } else if (expect(v, YAML::NodeType::Scalar, "'type'")) {
          const Scalar s = scalar(v);
          node.type = s.text;
          node.type_pos = s.pos;
        }
      }
    }
  }
  if (node.type.empty() && !node.id.empty() && !unknown_variant) error(node.pos, "E0005", where + " needs a 'type'");
  if (inputs) load_inputs(*inputs, node);
  node.malformed = diags_.all().size() != problems_before;
  def.nodes.push_back(std::move(node));
}

void Loader::load_params(const YAML::Node& n, NodeDef& node) {
  if (!expect(n, YAML::NodeType::Map, "'params'")) return;
  for (const auto& [k, v] : entries(n, {}, "the params of node '" + node.id + "'")) {
    ParamEntry e;
    e.name = k.Scalar();
    e.name_pos = pos_of(k);
    if (v.IsScalar() || v.IsNull()) {
      e.value = scalar(v);
      // yaml-cpp places an empty value at the next token, often on a later line: point at the key.
      if (e.value.is_null) e.value.pos = e.name_pos;
    } else {
      e.is_scalar = false;
      e.value.pos = pos_of(v);
    }
    // A variant's params override the node's own.
    auto same = std::find_if(node.params.begin(), node.params.end(), [&](const ParamEntry& p) { return p.name == e.name; });
    if (same != node.params.end())
      *same = e;
    else
      node.params.push_back(e);
  }
}

void Loader::load_inputs(const YAML::Node& n, NodeDef& node) {
  auto ref = [&](const YAML::Node& r, const std::string& port) {
    if (!expect(r, YAML::NodeType::Scalar, "an input reference")) return;
    const Scalar s = scalar(r);
    node.inputs.push_back(InputRef{port, s.text, s.pos});
  };
  if (n.IsScalar()) {
    ref(n, "");
  } else if (n.IsSequence()) {
    for (const YAML::Node& r : n) ref(r, "");
  } else if (n.IsMap()) {
    node.inputs_by_port = true;
    for (const auto& [k, v] : entries(n, {}, "the inputs of node '" + node.id + "'")) {
      if (v.IsSequence()) {
        for (const YAML::Node& r : v) ref(r, k.Scalar());
      } else {
        ref(v, k.Scalar());
      }
    }
  } else {
    error(pos_of(n), "E0004", "'inputs' must be a reference, a list of references or a mapping port: reference");
  }
}

}  // namespace

PipelineDef load_pipeline_text(const std::string& text, const std::string& file, const LoadOptions& options,
                               Diagnostics& diags) {
  return Loader(file, options, diags).load(text);
}

PipelineDef load_pipeline(const std::string& file, const LoadOptions& options, Diagnostics& diags) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    diags.error(file, {}, "E0007", "cannot read pipeline file: " + std::string(std::strerror(errno)));
    PipelineDef def;
    def.file = file;
    return def;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_pipeline_text(ss.str(), file, options, diags);
}

}  // namespace qflow
