// The pair-statistics library's entry point (pairs trading: correlation, hedge ratio, spread,
// unit-root and cointegration tests, half-life).
#include "stats.hpp"

QFLOW_PLUGIN("qflow-stats", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::stats::register_correlation(r);
  qflow::nodes::stats::register_ols(r);
  qflow::nodes::stats::register_spread(r);
  qflow::nodes::stats::register_adf(r);
  qflow::nodes::stats::register_half_life(r);
  qflow::nodes::stats::register_cointegration(r);
})
