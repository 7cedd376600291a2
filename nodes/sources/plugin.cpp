// The standard source library's entry point.
#include "sources.hpp"

QFLOW_PLUGIN("qflow-sources", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_csv_bars(r);
  qflow::nodes::register_synthetic_bars(r);
})
