// A plugin whose entry point claims the ABI version TEST_ABI_MAJOR.TEST_ABI_MINOR (set by the
// build). The host must refuse it before calling register_nodes; if it did call it, the type
// `abi.mismatch` would appear in the registry.
#include <qflow/sdk.hpp>

namespace {

class AbiMismatch {
 public:
  static qflow::NodeSpec spec() {
    return qflow::NodeSpec("abi.mismatch", "sink").input("in", qflow::Kinds::any(), "anything");
  }
  explicit AbiMismatch(const qflow::NodeConfig&) {}
};

int32_t register_nodes(qf_registrar* r, qf_error*) {
  qflow::Registrar reg(r);
  reg.add<AbiMismatch>();
  return QF_OK;
}

}  // namespace

extern "C" QF_EXPORT const qf_plugin_info* qflow_plugin(void) {
  static const qf_plugin_info info = {sizeof(qf_plugin_info), (TEST_ABI_MAJOR << 16) | TEST_ABI_MINOR,
                                      "qflow-test-abi", "0.0.1", &register_nodes};
  return &info;
}
