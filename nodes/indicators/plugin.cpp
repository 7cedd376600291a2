// The standard indicator library's entry point.
#include "indicators.hpp"

QFLOW_PLUGIN("qflow-indicators", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_sma(r);
  qflow::nodes::register_ema(r);
  qflow::nodes::register_rsi(r);
})
