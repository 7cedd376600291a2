// Every node type the process knows, each an owned copy of the spec its library registered,
// together with the library that must stay loaded while any node of that type lives.
#pragma once

#include <qflow/abi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qflow {

struct ParamDecl {
  std::string name;
  int32_t type = QF_PARAM_STRING;
  uint32_t flags = 0;
  std::optional<std::string> default_value;
  double min_value = 0, max_value = 0;
  std::vector<std::string> choices;
  std::string doc;

  bool required() const { return flags & QF_PARAM_REQUIRED; }
  static ParamDecl from(const qf_param_spec& p);
};

struct PortDecl {
  std::string name;
  uint32_t kinds = 0;
  uint32_t flags = 0;
  std::string doc;
};

const char* param_type_name(int32_t type);

// A loaded library; node types hold it so it outlives every node created from it.
class PluginLibrary;

struct NodeType {
  std::string name, role, summary, doc;
  std::string warmup;  // when the first output comes; empty = not said
  std::vector<ParamDecl> params;
  std::vector<PortDecl> inputs, outputs;
  uint32_t flags = 0;
  std::string library;  // path of the library that registered it
  std::shared_ptr<PluginLibrary> keep_loaded;
  void* type_data = nullptr;
  decltype(qf_node_spec::create) create = nullptr;
  decltype(qf_node_spec::describe) describe = nullptr;

  bool is_source() const { return role == "source"; }
  bool is_sink() const { return role == "sink"; }
  bool simulates_market() const { return flags & QF_NODE_SIMULATES_MARKET; }
  bool batched() const { return flags & QF_NODE_BATCHED; }
  const ParamDecl* param(const std::string& n) const;
  int input_port(const std::string& n) const;
  int output_port(const std::string& n) const;

  static NodeType from(const qf_node_spec& spec);
};

class NodeRegistry {
 public:
  // Adds a type; returns the library already defining the name when it is a duplicate.
  std::optional<std::string> add(std::shared_ptr<const NodeType> type);
  const NodeType* find(const std::string& name) const;
  std::shared_ptr<const NodeType> shared(const std::string& name) const;
  std::vector<std::string> names() const;
  std::vector<const NodeType*> all() const;  // sorted by name

 private:
  std::map<std::string, std::shared_ptr<const NodeType>> types_;
};

}  // namespace qflow
