// A plugin built against ABI 1.1: its node spec ends before ABI 1.2's `warmup`. What lies in
// memory after the spec it hands over is not the host's to read; this one puts a string there
// so that a host reading past struct_size would show it.
#include <qflow/abi.h>

#include <cstddef>

namespace {

int32_t create(void*, const qf_node_config*, const qf_host_api*, qf_node_instance*, qf_error*) { return QF_ERROR; }

int32_t register_nodes(qf_registrar* r, qf_error*) {
  static qf_node_spec spec{};
  spec.struct_size = offsetof(qf_node_spec, warmup);  // what sizeof was in ABI 1.1
  spec.type_name = "old.sink";
  spec.role = "sink";
  spec.summary = "a node type from an ABI 1.1 plugin";
  spec.doc = "";
  spec.create = &create;
  spec.warmup = "beyond the 1.1 struct: never to be read";
  return r->register_node(r, &spec);
}

}  // namespace

extern "C" QF_EXPORT const qf_plugin_info* qflow_plugin(void) {
  static const qf_plugin_info info = {sizeof(qf_plugin_info), (1u << 16) | 1u, "qflow-test-abi11", "0.0.1", &register_nodes};
  return &info;
}
