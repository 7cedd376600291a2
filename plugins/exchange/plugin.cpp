// The exchange connector library's entry point.
#include <qflow/sdk.hpp>

namespace qflow::exchange {
void register_exchange_ws(Registrar& r);
}

QFLOW_PLUGIN("qflow-exchange", "0.1.0", [](qflow::Registrar& r) { qflow::exchange::register_exchange_ws(r); })
