// The standard transform library's entry point.
#include "transforms.hpp"

QFLOW_PLUGIN("qflow-transforms", "0.1.0", [](qflow::Registrar& r) {
  qflow::nodes::register_resample(r);
  qflow::nodes::register_align(r);
  qflow::nodes::register_tick_bars(r);
  qflow::nodes::register_volume_bars(r);
})
