// The standard sink library's entry point: nodes that turn a run's events into files.
#include "sinks.hpp"

QFLOW_PLUGIN("qflow-sinks", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_trades_csv(r);
  qflow::nodes::register_summary(r);
  qflow::nodes::register_table_csv(r);
})
