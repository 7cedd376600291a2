#include "planner.hpp"

#include <qflow/events.hpp>

#include <algorithm>
#include <map>
#include <numeric>

namespace qflow {

namespace {
struct DisjointSets {
  std::vector<uint32_t> parent;
  explicit DisjointSets(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  uint32_t find(uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(uint32_t a, uint32_t b) { parent[find(a)] = find(b); }
};
}  // namespace

Plan make_plan(const Graph& g) {
  const size_t n = g.nodes.size();
  auto is_source = [&](uint32_t i) { return g.nodes[i].type->is_source(); };
  // Components of non-source nodes, then source groups joining sources to what they feed.
  DisjointSets sets(n);
  for (uint32_t i = 0; i < n; ++i)
    for (const Slot& s : g.nodes[i].slots)
      if (!is_source(s.producer)) sets.unite(s.producer, i);
  DisjointSets groups(n);
  for (uint32_t i = 0; i < n; ++i)
    for (const Slot& s : g.nodes[i].slots)
      if (is_source(s.producer)) groups.unite(s.producer, sets.find(i));
  for (uint32_t i = 0; i < n; ++i)
    if (!is_source(i)) groups.unite(i, sets.find(i));

  std::vector<uint32_t> rank(n);  // position in topological order
  for (uint32_t k = 0; k < n; ++k) rank[g.topo_order[k]] = k;

  Plan plan;
  std::map<uint32_t, int> group_stage;      // group root → sources stage
  std::map<uint32_t, int> component_stage;  // component root → compute stage
  std::map<uint32_t, int> batch_stage;      // component root → its batch stage, if any
  // Batch nodes: batched, one input, fed by a source or another batch node (topological order).
  std::vector<bool> in_batch(n, false);
  std::map<uint32_t, bool> component_batches;
  if (g.vectorize)
    for (uint32_t i : g.topo_order) {
      const GraphNode& gn = g.nodes[i];
      if (!gn.type->batched() || is_source(i) || gn.type->is_sink() || gn.slots.size() != 1) continue;
      const uint32_t p = gn.slots[0].producer;
      if (is_source(p) || in_batch[p]) in_batch[i] = true, component_batches[sets.find(i)] = true;
    }
  const uint32_t streams = g.stream_count();
  auto new_stage = [&](StagePlan::Kind kind, std::string name, int input) {
    StagePlan s;
    s.kind = kind;
    s.name = std::move(name);
    s.input = input;
    s.exported.assign(streams, false);
    plan.stages.push_back(std::move(s));
    return static_cast<int>(plan.stages.size() - 1);
  };
  // Walk nodes in file order so stage numbering follows the file.
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t grp = groups.find(i);
    if (!group_stage.count(grp)) group_stage[grp] = new_stage(StagePlan::Kind::sources, "sources" + std::to_string(group_stage.size()), -1);
    if (is_source(i)) {
      plan.stages[static_cast<size_t>(group_stage[grp])].nodes.push_back(i);
      continue;
    }
    const uint32_t comp = sets.find(i);
    if (component_batches.count(comp) && !batch_stage.count(comp))
      batch_stage[comp] = new_stage(StagePlan::Kind::batch, "indicators" + std::to_string(batch_stage.size()), group_stage[grp]);
    if (!component_stage.count(comp))
      component_stage[comp] = new_stage(StagePlan::Kind::compute, "compute" + std::to_string(component_stage.size()),
                                        batch_stage.count(comp) ? batch_stage[comp] : group_stage[grp]);
    const int compute = component_stage[comp];
    if (in_batch[i]) {
      plan.stages[static_cast<size_t>(batch_stage[comp])].nodes.push_back(i);
      continue;
    }
    // What this node reads from the sources or the batch stage must pass through the batch stage.
    if (batch_stage.count(comp))
      for (const Slot& s : g.nodes[i].slots)
        if (is_source(s.producer) || in_batch[s.producer])
          plan.stages[static_cast<size_t>(batch_stage[comp])].exported[g.stream(s.producer, s.producer_port)] = true;
    if (g.nodes[i].type->is_sink()) {
      const int sink = new_stage(StagePlan::Kind::sink, "sink:" + g.nodes[i].id, compute);
      plan.stages[static_cast<size_t>(sink)].nodes.push_back(i);
      for (const Slot& s : g.nodes[i].slots) plan.stages[static_cast<size_t>(compute)].exported[g.stream(s.producer, s.producer_port)] = true;
    } else {
      plan.stages[static_cast<size_t>(compute)].nodes.push_back(i);
    }
  }
  // A compute stage left without nodes (the component is only sinks, or indicators and sinks)
  // would copy every event it passes on: its sinks read its input stage's batches instead.
  for (StagePlan& s : plan.stages) {
    if (s.kind != StagePlan::Kind::compute || !s.nodes.empty()) continue;
    StagePlan& input = plan.stages[static_cast<size_t>(s.input)];
    for (StagePlan& reader : plan.stages)
      if (reader.input == static_cast<int>(&s - plan.stages.data())) reader.input = s.input;
    for (size_t k = 0; k < streams; ++k)
      if (s.exported[k]) input.exported[k] = true;
    s.input = -2;  // marks it for removal below
  }
  for (StagePlan& s : plan.stages)
    std::sort(s.nodes.begin(), s.nodes.end(), [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });
  // Stages were created in file order; make sure each comes after the stage it consumes.
  std::vector<StagePlan> ordered;
  std::vector<int> new_index(plan.stages.size(), -1);
  for (auto kind : {StagePlan::Kind::sources, StagePlan::Kind::batch, StagePlan::Kind::compute, StagePlan::Kind::sink})
    for (size_t i = 0; i < plan.stages.size(); ++i)
      if (plan.stages[i].kind == kind && plan.stages[i].input != -2) {
        new_index[i] = static_cast<int>(ordered.size());
        ordered.push_back(plan.stages[i]);
      }
  for (StagePlan& s : ordered)
    if (s.input >= 0) s.input = new_index[static_cast<size_t>(s.input)];
  plan.stages = std::move(ordered);
  return plan;
}

namespace {
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {  // a line break in a label
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}
}  // namespace

void write_dot(std::ostream& out, const Graph& g, const Plan* plan) {
  out << "digraph " << quote(g.name) << " {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  auto node_line = [&](uint32_t i, const std::string& indent) {
    const GraphNode& n = g.nodes[i];
    out << indent << quote(n.id) << " [label=" << quote(n.id + "\n" + n.type->name) << "];\n";
  };
  if (plan) {
    for (size_t s = 0; s < plan->stages.size(); ++s) {
      const StagePlan& st = plan->stages[s];
      out << "  subgraph cluster_" << s << " {\n    label=" << quote("stage " + st.name) << ";\n    style=rounded;\n";
      for (uint32_t i : st.nodes) node_line(i, "    ");
      out << "  }\n";
    }
  } else {
    for (uint32_t i = 0; i < g.nodes.size(); ++i) node_line(i, "  ");
  }
  for (uint32_t i = 0; i < g.nodes.size(); ++i) {
    const GraphNode& n = g.nodes[i];
    for (const Slot& s : n.slots) {
      const GraphNode& p = g.nodes[s.producer];
      out << "  " << quote(p.id) << " -> " << quote(n.id) << " [label="
          << quote(p.type->outputs[s.producer_port].name + " → " + n.type->inputs[s.port].name + "\n" + kinds_to_string(s.kinds))
          << "];\n";
    }
    // Feedback edges: fills and updates return to whoever sends orders to an executor.
    if (n.type->simulates_market())
      for (const Slot& s : n.slots)
        if (s.kinds & QF_KIND_BIT(QF_KIND_ORDER))
          out << "  " << quote(n.id) << " -> " << quote(g.nodes[s.producer].id) << " [style=dashed, label=\"fills (feedback)\"];\n";
  }
  out << "}\n";
}

}  // namespace qflow
