// PipelineDef + NodeRegistry → Graph. Every check of a pipeline against node specs lives here:
// types, parameters, inputs and port kinds, duplicates, cycles and dangling nodes.
#include "graph.hpp"

#include <qflow/events.hpp>
#include <qflow/time.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

namespace qflow {

ParamSet& ParamSet::operator=(const ParamSet& o) {
  if (this == &o) return *this;
  values_.clear();
  names_.clear();
  strings_.clear();
  texts_.clear();
  for (size_t i = 0; i < o.values_.size(); ++i) add(o.values_[i], o.names_[i], o.texts_[i]);
  return *this;
}

void ParamSet::add(qf_param_value v, const std::string& name, const std::string& text) {
  v.name = names_.emplace_back(name).c_str();
  const std::string& s = strings_.emplace_back(v.s.data ? std::string(v.s.data, v.s.size) : std::string());
  v.s = qf_str{s.c_str(), s.size()};
  texts_.push_back(text);
  values_.push_back(v);
}

const qf_param_value* ParamSet::find(const std::string& name) const {
  for (const qf_param_value& v : values_)
    if (name == v.name) return &v;
  return nullptr;
}

std::string ParamSet::text(const std::string& name) const {
  for (size_t i = 0; i < values_.size(); ++i)
    if (names_[i] == name) return texts_[i];
  return {};
}

uint32_t Graph::stream_count() const {
  if (nodes.empty()) return 0;
  return stream_base.back() + static_cast<uint32_t>(nodes.back().type->outputs.size());
}

namespace {

namespace fs = std::filesystem;

std::string fmt_number(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

struct Converted {
  qf_param_value value{};
  std::string error_code;  // empty when fine
  std::string error;
  std::string hint;
};

// Converts one written value to the declared type, with range and choice checks.
Converted convert(const ParamDecl& decl, const Scalar& s, const fs::path& base_dir) {
  Converted c;
  qf_param_value& v = c.value;
  v.type = decl.type;
  v.is_set = 1;
  const std::string& t = s.text;
  auto wrong = [&](const std::string& expected) {
    c.error_code = "E0105";
    c.error = "parameter '" + decl.name + "' expects " + expected + ", got " + (s.is_null ? "nothing" : "'" + t + "'");
    return c;
  };
  if (s.is_null) {
    const std::string type = param_type_name(decl.type);
    return wrong((type == "integer" ? "an " : "a ") + type);
  }
  auto range = [&](double x) {
    const bool low = (decl.flags & QF_PARAM_HAS_MIN) && x < decl.min_value;
    const bool high = (decl.flags & QF_PARAM_HAS_MAX) && x > decl.max_value;
    if (low || high) {
      c.error_code = "E0106";
      std::string bounds;
      if (decl.flags & QF_PARAM_HAS_MIN) bounds += ">= " + fmt_number(decl.min_value);
      if (decl.flags & QF_PARAM_HAS_MAX) bounds += std::string(bounds.empty() ? "" : " and ") + "<= " + fmt_number(decl.max_value);
      c.error = "parameter '" + decl.name + "' is " + t + ", but must be " + bounds;
    }
  };
  switch (decl.type) {
    case QF_PARAM_INT: {
      const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v.i);
      if (ec != std::errc() || p != t.data() + t.size()) return wrong("an integer");
      v.d = static_cast<double>(v.i);
      range(v.d);
      break;
    }
    case QF_PARAM_DOUBLE: {
      const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v.d);
      if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(v.d)) return wrong("a number");
      range(v.d);
      break;
    }
    case QF_PARAM_BOOL:
      if (t == "true" || t == "yes" || t == "on") v.i = 1;
      else if (t == "false" || t == "no" || t == "off") v.i = 0;
      else return wrong("true or false");
      break;
    case QF_PARAM_DURATION: {
      const auto d = parse_duration(t);
      if (!d) return wrong("a duration such as 500ms, 1m, 4h or 1d");
      v.i = *d;
      break;
    }
    case QF_PARAM_TIME: {
      const auto d = parse_time(t);
      if (!d) return wrong("an ISO 8601 UTC time such as 2024-10-01 or 2024-10-01T03:00:00Z");
      v.i = *d;
      break;
    }
    case QF_PARAM_CHOICE:
      if (std::find(decl.choices.begin(), decl.choices.end(), t) == decl.choices.end()) {
        std::string list;
        for (const std::string& ch : decl.choices) list += (list.empty() ? "" : ", ") + ch;
        c.error_code = "E0106";
        c.error = "parameter '" + decl.name + "' is '" + t + "', but must be one of: " + list;
        c.hint = did_you_mean(t, decl.choices);
      }
      v.s = qf_str{t.data(), t.size()};
      break;
    case QF_PARAM_PATH: {
      if (t.empty()) {  // an optional path left empty stays empty ("none")
        v.s = qf_str{t.data(), 0};
        break;
      }
      fs::path p(t);
      if (p.is_relative()) p = (s.from_command_line ? fs::current_path() : base_dir) / p;
      static thread_local std::string resolved;
      resolved = p.lexically_normal().string();
      v.s = qf_str{resolved.data(), resolved.size()};
      break;
    }
    default:
      v.s = qf_str{t.data(), t.size()};
      break;
  }
  return c;
}

bool valid_id(const std::string& id) {
  if (id.empty() || !(std::isalpha(static_cast<unsigned char>(id[0])) || id[0] == '_')) return false;
  return std::all_of(id.begin(), id.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
  });
}

class Validator {
 public:
  Validator(const PipelineDef& def, const NodeRegistry& registry, Diagnostics& diags)
      : def_(def), registry_(registry), diags_(diags) {}

  std::optional<Graph> run();

 private:
  void error(Position p, const std::string& code, const std::string& msg, const std::string& hint = {}) {
    diags_.error(def_.file, p, code, msg, hint);
  }
  void check_params(const NodeDef& nd, GraphNode& gn);
  void resolve_inputs(const NodeDef& nd, GraphNode& gn);
  void check_cycles(Graph& g);
  void check_dangling(const Graph& g);

  const PipelineDef& def_;
  const NodeRegistry& registry_;
  Diagnostics& diags_;
  std::map<std::string, uint32_t> index_;  // node id → index
  std::vector<GraphNode> nodes_;
  std::vector<std::string> ids_;
};

std::optional<Graph> Validator::run() {
  // Ids first, so that inputs can refer to nodes declared later.
  std::map<std::string, Position> first_seen;
  for (const NodeDef& nd : def_.nodes) {
    if (nd.id.empty()) continue;
    if (!valid_id(nd.id))
      error(nd.pos, "E0107", "node id '" + nd.id + "' must start with a letter or '_' and use only letters, digits, '_' and '-'");
    auto [it, fresh] = first_seen.emplace(nd.id, nd.pos);
    if (!fresh)
      error(nd.pos, "E0102", "duplicate node id '" + nd.id + "' (first defined at line " + std::to_string(it->second.line) + ")");
  }
  for (const NodeDef& nd : def_.nodes) {
    if (nd.id.empty() || index_.count(nd.id)) continue;
    index_[nd.id] = static_cast<uint32_t>(nodes_.size());
    ids_.push_back(nd.id);
    GraphNode gn;
    gn.id = nd.id;
    gn.pos = nd.pos;
    gn.type = registry_.shared(nd.type);
    if (!gn.type && !nd.type.empty())
      error(nd.type_pos, "E0101", "unknown node type '" + nd.type + "' in node '" + nd.id + "'",
            did_you_mean(nd.type, registry_.names()));
    nodes_.push_back(std::move(gn));
  }
  std::set<std::string> done;
  for (const NodeDef& nd : def_.nodes) {
    if (nd.id.empty() || !done.insert(nd.id).second) continue;
    GraphNode& gn = nodes_[index_[nd.id]];
    if (!gn.type || nd.malformed) continue;
    check_params(nd, gn);
    resolve_inputs(nd, gn);
  }
  if (diags_.has_errors()) return std::nullopt;

  Graph g;
  g.file = def_.file;
  g.name = def_.name;
  g.mode = def_.mode == "paper" ? QF_MODE_PAPER : def_.mode == "live" ? QF_MODE_LIVE : QF_MODE_BACKTEST;
  g.seed = def_.seed;
  g.output = def_.output;
  g.batch_size = def_.batch_size;
  g.max_batches_in_flight = def_.max_batches_in_flight;
  g.vectorize = def_.vectorize;
  g.facts = def_.facts;
  g.checkpoint_every_ns = def_.checkpoint_every_ns;
  g.checkpoint_events = def_.checkpoint_events;
  g.simulator = def_.simulator;
  g.nodes = std::move(nodes_);
  uint32_t base = 0;
  for (const GraphNode& n : g.nodes) {
    g.stream_base.push_back(base);
    base += static_cast<uint32_t>(n.type->outputs.size());
  }
  check_cycles(g);
  if (!diags_.has_errors()) check_dangling(g);
  if (diags_.has_errors()) return std::nullopt;
  return g;
}

void Validator::check_params(const NodeDef& nd, GraphNode& gn) {
  const NodeType& type = *gn.type;
  std::map<std::string, const ParamEntry*> given;
  for (const ParamEntry& p : nd.params) given[p.name] = &p;
  bool ok = true;
  auto take = [&](const ParamDecl& decl) {
    auto it = given.find(decl.name);
    if (it != given.end()) {
      const ParamEntry& e = *it->second;
      given.erase(it);
      if (!e.is_scalar) {
        error(e.value.pos, "E0105", "parameter '" + decl.name + "' of node '" + nd.id + "' expects a single " +
                                        param_type_name(decl.type) + ", not a list or mapping");
        ok = false;
        return;
      }
      Converted c = convert(decl, e.value, def_.base_dir);
      if (!c.error_code.empty()) {
        error(e.value.pos, c.error_code, c.error + " in node '" + nd.id + "'", c.hint);
        ok = false;
        return;
      }
      gn.params.add(c.value, decl.name, e.value.text);
    } else if (decl.default_value) {
      Scalar s;
      s.text = *decl.default_value;
      Converted c = convert(decl, s, def_.base_dir);
      if (!c.error_code.empty()) {
        error(nd.pos, "E0105", "node type '" + type.name + "' declares an invalid default: " + c.error);
        ok = false;
        return;
      }
      gn.params.add(c.value, decl.name, s.text);
    } else if (decl.required()) {
      error(nd.pos, "E0104", "node '" + nd.id + "' (" + type.name + ") is missing required parameter '" + decl.name + "'");
      ok = false;
    } else {
      qf_param_value v{};
      v.type = decl.type;
      gn.params.add(v, decl.name, "");
    }
  };
  for (const ParamDecl& decl : type.params) take(decl);

  if (type.describe && ok) {
    struct Builder {
      std::vector<ParamDecl>* out;
    } b{&gn.extra_params};
    qf_spec_builder builder{&b, [](qf_spec_builder* self, const qf_param_spec* p) -> int32_t {
                              static_cast<Builder*>(self->opaque)->out->push_back(ParamDecl::from(*p));
                              return QF_OK;
                            }};
    qf_error err{};
    const auto& fixed = gn.params.values();
    if (type.describe(type.type_data, fixed.data(), static_cast<uint32_t>(fixed.size()), &builder, &err) != QF_OK) {
      Position where = nd.pos;
      for (const ParamEntry& p : nd.params)
        if (p.name == (type.params.empty() ? std::string() : type.params.front().name)) where = p.value.pos;
      error(where, "E0501", "node '" + nd.id + "': " + std::string(err.message));
      return;
    }
    for (const ParamDecl& decl : gn.extra_params) {
      if (type.param(decl.name)) {
        error(nd.pos, "E0501", "node '" + nd.id + "': declared parameter '" + decl.name + "' clashes with a parameter of " + type.name);
        continue;
      }
      take(decl);
    }
  }
  std::vector<std::string> names;
  for (const ParamDecl& d : type.params) names.push_back(d.name);
  for (const ParamDecl& d : gn.extra_params) names.push_back(d.name);
  for (const auto& [name, entry] : given)
    error(entry->name_pos, "E0103", "unknown parameter '" + name + "' in node '" + nd.id + "' (" + type.name + ")",
          did_you_mean(name, names));
}

void Validator::resolve_inputs(const NodeDef& nd, GraphNode& gn) {
  const NodeType& type = *gn.type;
  std::vector<std::string> port_names;
  for (const PortDecl& p : type.inputs) port_names.push_back(p.name);
  size_t list_port = 0;
  std::vector<int> per_port(type.inputs.size(), 0);
  std::vector<bool> attempted(type.inputs.size(), false);  // a failed reference already explains a gap
  for (const InputRef& in : nd.inputs) {
    // The destination port.
    int port = -1;
    if (nd.inputs_by_port) {
      port = type.input_port(in.port);
      if (port < 0) {
        error(in.pos, "E0204", "node '" + nd.id + "' (" + type.name + ") has no input port '" + in.port + "'" +
                                   (port_names.empty() ? " (it takes no inputs)" : ""),
              did_you_mean(in.port, port_names));
        continue;
      }
    } else {
      if (list_port >= type.inputs.size()) {
        error(in.pos, "E0206", "too many inputs for node '" + nd.id + "' (" + type.name + " takes " +
                                   std::to_string(type.inputs.size()) + ")");
        continue;
      }
      port = static_cast<int>(list_port);
      if (!(type.inputs[list_port].flags & QF_PORT_MULTIPLE)) ++list_port;
    }
    const PortDecl& dest = type.inputs[static_cast<size_t>(port)];
    attempted[static_cast<size_t>(port)] = true;
    // The producer.
    const size_t dot = in.ref.find('.');
    const std::string node_id = in.ref.substr(0, dot);
    const std::string out_name = dot == std::string::npos ? std::string() : in.ref.substr(dot + 1);
    auto it = index_.find(node_id);
    if (it == index_.end()) {
      error(in.pos, "E0201", "node '" + nd.id + "' takes input from unknown node '" + node_id + "'", did_you_mean(node_id, ids_));
      continue;
    }
    const GraphNode& producer = nodes_[it->second];
    if (!producer.type) continue;  // already reported
    int out = -1;
    if (!out_name.empty()) {
      out = producer.type->output_port(out_name);
      if (out < 0) {
        std::vector<std::string> outs;
        for (const PortDecl& p : producer.type->outputs) outs.push_back(p.name);
        error(in.pos, "E0202", "node '" + node_id + "' (" + producer.type->name + ") has no output '" + out_name + "'",
              did_you_mean(out_name, outs));
        continue;
      }
      if (!(producer.type->outputs[static_cast<size_t>(out)].kinds & dest.kinds)) {
        error(in.pos, "E0203", "'" + in.ref + "' produces " + kinds_to_string(producer.type->outputs[static_cast<size_t>(out)].kinds) +
                                   " but input '" + dest.name + "' of node '" + nd.id + "' accepts " + kinds_to_string(dest.kinds));
        continue;
      }
    } else {
      std::vector<uint32_t> compatible;
      for (size_t i = 0; i < producer.type->outputs.size(); ++i)
        if (producer.type->outputs[i].kinds & dest.kinds) compatible.push_back(static_cast<uint32_t>(i));
      if (!compatible.empty()) out = static_cast<int>(compatible.front());
      const bool outputs_named = std::any_of(nd.inputs.begin(), nd.inputs.end(), [&](const InputRef& other) {
        return other.ref.size() > node_id.size() && other.ref.compare(0, node_id.size() + 1, node_id + ".") == 0;
      });
      // Outputs that are facets of one computation (values: macd, signal, hist), as opposed to
      // alternative streams (a feed's bars and trades, an executor's fills and account).
      constexpr uint32_t kFacets = QF_KIND_BIT(QF_KIND_VALUE) | QF_KIND_BIT(QF_KIND_SIGNAL);
      const bool all_facets = std::all_of(compatible.begin(), compatible.end(), [&](uint32_t o) {
        return (producer.type->outputs[o].kinds & ~kFacets) == 0;
      });
      if (compatible.size() > 1 && all_facets && (dest.flags & QF_PORT_MULTIPLE) && !outputs_named) {
        // A node of several value outputs named alone, into a port that takes many, and none of
        // its outputs named by this node: every output, each labelled `node.output` (a strategy
        // reads macd.signal; a table gets a column each).
        for (uint32_t o : compatible) {
          ++per_port[static_cast<size_t>(port)];
          gn.slots.push_back(Slot{static_cast<uint32_t>(port), it->second, o, producer.type->outputs[o].kinds,
                                  in.ref + "." + producer.type->outputs[o].name});
        }
        continue;
      }
      if (out < 0) {
        std::string produced;
        for (const PortDecl& p : producer.type->outputs) produced += (produced.empty() ? "" : ", ") + p.name + " (" + kinds_to_string(p.kinds) + ")";
        error(in.pos, "E0203", "node '" + node_id + "' produces nothing that input '" + dest.name + "' of node '" + nd.id +
                                   "' accepts (" + kinds_to_string(dest.kinds) + "); its outputs: " +
                                   (produced.empty() ? "none" : produced));
        continue;
      }
    }
    if (++per_port[static_cast<size_t>(port)] > 1 && !(dest.flags & QF_PORT_MULTIPLE)) {
      error(in.pos, "E0206", "input '" + dest.name + "' of node '" + nd.id + "' takes one connection");
      continue;
    }
    gn.slots.push_back(Slot{static_cast<uint32_t>(port), it->second, static_cast<uint32_t>(out),
                            producer.type->outputs[static_cast<size_t>(out)].kinds, in.ref});
  }
  for (size_t p = 0; p < type.inputs.size(); ++p)
    if (per_port[p] == 0 && !attempted[p] && !(type.inputs[p].flags & QF_PORT_OPTIONAL))
      error(nd.pos, "E0205", "input '" + type.inputs[p].name + "' of node '" + nd.id + "' (" + type.name + ") is not connected");
}

void Validator::check_cycles(Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<std::vector<uint32_t>> succ(n);
  std::vector<int> indeg(n, 0);
  for (uint32_t i = 0; i < n; ++i)
    for (const Slot& s : g.nodes[i].slots) {
      succ[s.producer].push_back(i);
      ++indeg[i];
    }
  // Kahn's algorithm, taking the lowest index first so the order follows the file.
  std::set<uint32_t> ready;
  for (uint32_t i = 0; i < n; ++i)
    if (indeg[i] == 0) ready.insert(i);
  while (!ready.empty()) {
    const uint32_t v = *ready.begin();
    ready.erase(ready.begin());
    g.topo_order.push_back(v);
    for (uint32_t w : succ[v])
      if (--indeg[w] == 0) ready.insert(w);
  }
  if (g.topo_order.size() == n) return;
  // Walk back along inputs from a node left over to name one cycle.
  uint32_t v = 0;
  while (indeg[v] == 0) ++v;
  std::vector<uint32_t> path;
  std::vector<int> at(n, -1);
  while (at[v] < 0) {
    at[v] = static_cast<int>(path.size());
    path.push_back(v);
    for (const Slot& s : g.nodes[v].slots)
      if (indeg[s.producer] > 0) {
        v = s.producer;
        break;
      }
  }
  // `path` runs against the data flow (consumer, then its producer); print it along the flow.
  std::string cycle = g.nodes[v].id;
  for (size_t i = path.size(); i-- > static_cast<size_t>(at[v]);) cycle += " -> " + g.nodes[path[i]].id;
  error(g.nodes[v].pos, "E0207", "the pipeline has a cycle: " + cycle +
                                     " (fills and order updates return to the strategy on their own; do not wire them back)");
}

void Validator::check_dangling(const Graph& g) {
  std::vector<bool> used(g.nodes.size(), false);
  for (const GraphNode& n : g.nodes)
    for (const Slot& s : n.slots) used[s.producer] = true;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    if (used[i] || n.type->is_sink() || n.type->simulates_market()) continue;
    error(n.pos, "E0208", "node '" + n.id + "' (" + n.type->name + ") is dangling: nothing uses its outputs; connect it to a node or a sink, or remove it");
  }
}

}  // namespace

std::optional<Graph> build_graph(const PipelineDef& def, const NodeRegistry& registry, Diagnostics& diags) {
  return Validator(def, registry, diags).run();
}

}  // namespace qflow
