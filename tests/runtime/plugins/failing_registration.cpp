// A plugin that loads fine but fails while registering: first it hands the host a malformed
// spec (no create function), then its registration reports an error of its own.
#include <qflow/abi.h>

#include <cstdio>

namespace {

int32_t register_nodes(qf_registrar* r, qf_error* err) {
  qf_node_spec spec{};
  spec.struct_size = sizeof spec;
  spec.type_name = "badreg.no_create";
  spec.role = "sink";
  r->register_node(r, &spec);
  std::snprintf(err->message, sizeof err->message, "licence file missing");
  return QF_ERROR;
}

}  // namespace

extern "C" QF_EXPORT const qf_plugin_info* qflow_plugin(void) {
  static const qf_plugin_info info = {sizeof(qf_plugin_info), QF_ABI_VERSION, "qflow-test-badreg", "0.0.1",
                                      &register_nodes};
  return &info;
}
