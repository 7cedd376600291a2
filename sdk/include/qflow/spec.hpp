// Declaring a node type's spec in C++: parameters, ports and documentation, written once.
// NodeSpec owns its strings and exposes a qf_node_spec whose pointers stay valid as long as the
// NodeSpec lives (the plugin keeps it in a function-local static).
#pragma once

#include <qflow/abi.h>
#include <qflow/events.hpp>

#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

namespace qflow {

class ParamSpec {
 public:
  static ParamSpec integer(std::string name) { return ParamSpec(std::move(name), QF_PARAM_INT); }
  static ParamSpec number(std::string name) { return ParamSpec(std::move(name), QF_PARAM_DOUBLE); }
  static ParamSpec boolean(std::string name) { return ParamSpec(std::move(name), QF_PARAM_BOOL); }
  static ParamSpec string(std::string name) { return ParamSpec(std::move(name), QF_PARAM_STRING); }
  static ParamSpec path(std::string name) { return ParamSpec(std::move(name), QF_PARAM_PATH); }
  static ParamSpec duration(std::string name) { return ParamSpec(std::move(name), QF_PARAM_DURATION); }
  static ParamSpec time(std::string name) { return ParamSpec(std::move(name), QF_PARAM_TIME); }
  static ParamSpec choice(std::string name, std::initializer_list<std::string> choices) {
    ParamSpec p(std::move(name), QF_PARAM_CHOICE);
    p.choices_.assign(choices.begin(), choices.end());
    return p;
  }

  ParamSpec& doc(std::string text) { doc_ = std::move(text); return *this; }
  ParamSpec& default_value(std::string text) { default_ = std::move(text); has_default_ = true; return *this; }
  ParamSpec& required() { flags_ |= QF_PARAM_REQUIRED; return *this; }
  ParamSpec& reloadable() { flags_ |= QF_PARAM_RELOADABLE; return *this; }
  ParamSpec& min(double v) { min_ = v; flags_ |= QF_PARAM_HAS_MIN; return *this; }
  ParamSpec& max(double v) { max_ = v; flags_ |= QF_PARAM_HAS_MAX; return *this; }

  const std::string& name() const { return name_; }

 private:
  friend class NodeSpec;
  ParamSpec(std::string name, int32_t type) : name_(std::move(name)), type_(type) {}

  std::string name_;
  int32_t type_;
  uint32_t flags_ = 0;
  std::string default_;
  bool has_default_ = false;
  double min_ = 0, max_ = 0;
  std::vector<std::string> choices_;
  std::string doc_;
};

struct PortSpec {
  std::string name;
  Kinds kinds;
  std::string doc;
  uint32_t flags = 0;
};

class NodeSpec {
 public:
  NodeSpec(std::string type_name, std::string role)
      : type_name_(std::move(type_name)), role_(std::move(role)) {}

  NodeSpec& summary(std::string text) { summary_ = std::move(text); return *this; }
  NodeSpec& doc(std::string text) { doc_ = std::move(text); return *this; }
  NodeSpec& param(ParamSpec p) { params_.push_back(std::move(p)); return *this; }
  NodeSpec& input(std::string name, Kinds kinds, std::string doc, uint32_t flags = 0) {
    inputs_.push_back(PortSpec{std::move(name), kinds, std::move(doc), flags});
    return *this;
  }
  NodeSpec& output(std::string name, Kinds kinds, std::string doc) {
    outputs_.push_back(PortSpec{std::move(name), kinds, std::move(doc), 0});
    return *this;
  }
  // When the first output comes, in words: "the 14th input", "bar 2n-1 (27 for n = 14)".
  NodeSpec& warmup(std::string text) { warmup_ = std::move(text); return *this; }
  NodeSpec& simulates_market() { flags_ |= QF_NODE_SIMULATES_MARKET; return *this; }
  NodeSpec& batched() { flags_ |= QF_NODE_BATCHED; return *this; }

  const std::string& type_name() const { return type_name_; }

  // Builds the C view. `create`, `describe` and `type_data` come from the registering code.
  const qf_node_spec* build(decltype(qf_node_spec::create) create,
                            decltype(qf_node_spec::describe) describe, void* type_data) {
    c_params_.clear();
    choice_ptrs_.clear();
    for (const ParamSpec& p : params_) c_params_.push_back(c_param(p, choice_ptrs_.emplace_back()));
    auto ports = [](const std::vector<PortSpec>& in, std::vector<qf_port_spec>& out) {
      out.clear();
      for (const PortSpec& p : in) out.push_back(qf_port_spec{p.name.c_str(), p.kinds.bits(), p.flags, p.doc.c_str()});
    };
    ports(inputs_, c_inputs_);
    ports(outputs_, c_outputs_);
    spec_ = qf_node_spec{};
    spec_.struct_size = sizeof(qf_node_spec);
    spec_.type_name = type_name_.c_str();
    spec_.role = role_.c_str();
    spec_.summary = summary_.c_str();
    spec_.doc = doc_.c_str();
    spec_.params = c_params_.data();
    spec_.param_count = static_cast<uint32_t>(c_params_.size());
    spec_.inputs = c_inputs_.data();
    spec_.input_count = static_cast<uint32_t>(c_inputs_.size());
    spec_.outputs = c_outputs_.data();
    spec_.output_count = static_cast<uint32_t>(c_outputs_.size());
    spec_.flags = flags_;
    spec_.type_data = type_data;
    spec_.create = create;
    spec_.describe = describe;
    spec_.warmup = warmup_.empty() ? nullptr : warmup_.c_str();
    return &spec_;
  }

  // For `describe` implementations: the C view of extra parameters.
  static qf_param_spec c_param(const ParamSpec& p, std::vector<const char*>& choice_storage) {
    choice_storage.clear();
    for (const std::string& c : p.choices_) choice_storage.push_back(c.c_str());
    qf_param_spec c{};
    c.name = p.name_.c_str();
    c.type = p.type_;
    c.flags = p.flags_;
    c.default_value = p.has_default_ ? p.default_.c_str() : nullptr;
    c.min_value = p.min_;
    c.max_value = p.max_;
    c.choices = choice_storage.empty() ? nullptr : choice_storage.data();
    c.choice_count = static_cast<uint32_t>(choice_storage.size());
    c.doc = p.doc_.c_str();
    return c;
  }

 private:
  std::string type_name_, role_, summary_, doc_, warmup_;
  std::vector<ParamSpec> params_;
  std::vector<PortSpec> inputs_, outputs_;
  uint32_t flags_ = 0;

  qf_node_spec spec_{};
  std::vector<qf_param_spec> c_params_;
  std::deque<std::vector<const char*>> choice_ptrs_;  // deque: stable addresses
  std::vector<qf_port_spec> c_inputs_, c_outputs_;
};

}  // namespace qflow
