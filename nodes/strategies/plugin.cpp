// The standard strategy library's entry point.
#include <qflow/sdk.hpp>

namespace qflow::nodes {
void register_sma_cross(Registrar& r);
}  // namespace qflow::nodes

QFLOW_PLUGIN("qflow-strategies", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_sma_cross(r);
})
