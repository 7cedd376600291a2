#include "node_registry.hpp"

namespace qflow {

namespace {
std::string str(const char* s) { return s ? s : ""; }
}  // namespace

ParamDecl ParamDecl::from(const qf_param_spec& p) {
  ParamDecl d;
  d.name = str(p.name);
  d.type = p.type;
  d.flags = p.flags;
  if (p.default_value) d.default_value = p.default_value;
  d.min_value = p.min_value;
  d.max_value = p.max_value;
  for (uint32_t i = 0; i < p.choice_count; ++i) d.choices.push_back(str(p.choices[i]));
  d.doc = str(p.doc);
  return d;
}

const char* param_type_name(int32_t type) {
  switch (type) {
    case QF_PARAM_INT: return "integer";
    case QF_PARAM_DOUBLE: return "number";
    case QF_PARAM_BOOL: return "boolean";
    case QF_PARAM_STRING: return "string";
    case QF_PARAM_CHOICE: return "choice";
    case QF_PARAM_PATH: return "path";
    case QF_PARAM_DURATION: return "duration";
    case QF_PARAM_TIME: return "time";
    default: return "unknown";
  }
}

NodeType NodeType::from(const qf_node_spec& spec) {
  NodeType t;
  t.name = str(spec.type_name);
  t.role = str(spec.role);
  t.summary = str(spec.summary);
  t.doc = str(spec.doc);
  t.warmup = str(spec.warmup);
  for (uint32_t i = 0; i < spec.param_count; ++i) t.params.push_back(ParamDecl::from(spec.params[i]));
  for (uint32_t i = 0; i < spec.input_count; ++i)
    t.inputs.push_back({str(spec.inputs[i].name), spec.inputs[i].kinds, spec.inputs[i].flags, str(spec.inputs[i].doc)});
  for (uint32_t i = 0; i < spec.output_count; ++i)
    t.outputs.push_back({str(spec.outputs[i].name), spec.outputs[i].kinds, spec.outputs[i].flags, str(spec.outputs[i].doc)});
  t.flags = spec.flags;
  t.type_data = spec.type_data;
  t.create = spec.create;
  t.describe = spec.describe;
  return t;
}

const ParamDecl* NodeType::param(const std::string& n) const {
  for (const ParamDecl& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

int NodeType::input_port(const std::string& n) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == n) return static_cast<int>(i);
  return -1;
}

int NodeType::output_port(const std::string& n) const {
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].name == n) return static_cast<int>(i);
  return -1;
}

std::optional<std::string> NodeRegistry::add(std::shared_ptr<const NodeType> type) {
  auto it = types_.find(type->name);
  if (it != types_.end()) return it->second->library;
  types_.emplace(type->name, std::move(type));
  return std::nullopt;
}

const NodeType* NodeRegistry::find(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second.get();
}

std::shared_ptr<const NodeType> NodeRegistry::shared(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : it->second;
}

std::vector<std::string> NodeRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : types_) out.push_back(n);
  return out;
}

std::vector<const NodeType*> NodeRegistry::all() const {
  std::vector<const NodeType*> out;
  for (const auto& [n, t] : types_) out.push_back(t.get());
  return out;
}

}  // namespace qflow
