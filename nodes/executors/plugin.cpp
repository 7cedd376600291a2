// The standard executor library's entry point.
#include <qflow/sdk.hpp>

namespace qflow::nodes {
void register_paper(Registrar& r);
}  // namespace qflow::nodes

QFLOW_PLUGIN("qflow-executors", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_paper(r);
})
