// example.momentum — rate of change over n bars, as an out-of-tree plugin.
//
//   momentum_t = x_t / x_{t-n} - 1          (n = `period`, x = the bar's `field`, close by default)
//
// A fraction, not a percentage: 0.05 means the price is 5% above where it was n bars ago.
// Warm-up: the first value is emitted on input index n (the (n+1)-th input), once x_{t-n}
// exists; nothing is emitted before. When x_{t-n} is 0 the ratio is undefined and nothing is
// emitted for that input either. The input is a bar stream or a value stream (e.g. another
// node's output). The state is the last n inputs, so a restored instance continues exactly
// where the saved one stopped.
//
// This file is the whole plugin: the node, its spec and the library's entry point. It uses
// nothing but the installed SDK (<qflow/sdk.hpp>); see README.md for how to build and run it.
#include <qflow/sdk.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace momentum_example {

class MomentumIndicator {
 public:
  static qflow::NodeSpec spec() {
    using qflow::Kind;
    using qflow::ParamSpec;
    return qflow::NodeSpec("example.momentum", "indicator")
        .summary("Rate of change over n bars: x_t / x_{t-n} - 1")
        .doc("Momentum as a fraction: the input now divided by the input `period` bars ago, minus 1. "
             "First value at input index n; no value during warm-up or when x_{t-n} is 0. Bars "
             "contribute their `field` column.")
        .param(ParamSpec::integer("period").required().min(1).max(1'000'000).doc("look-back n in bars"))
        .param(ParamSpec::choice("field", {"open", "high", "low", "close", "volume"})
                   .default_value("close")
                   .doc("bar column to use when the input is a bar stream"))
        .input("in", Kind::bar | Kind::value, "bars or a value series")
        .output("value", Kind::value, "x_t / x_{t-n} - 1, from input index n on");
  }

  explicit MomentumIndicator(const qflow::NodeConfig& cfg)
      : history_(static_cast<size_t>(cfg.params().integer("period"))), field_(field_index(cfg)) {}

  void on_event(qflow::Context& ctx, uint32_t, const qf_event& ev) {
    const double x = input_number(ev);
    if (count_ == history_.size()) {
      // history_[next_] is the oldest input we hold: x_{t-n}. It is overwritten by x_t below.
      const double base = history_[next_];
      if (base != 0.0) ctx.emit_value(0, ev.symbol, x / base - 1.0);
    } else {
      ++count_;
    }
    history_[next_] = x;
    if (++next_ == history_.size()) next_ = 0;
  }

  // Oldest first, so the layout does not depend on where the ring happened to start.
  void save_state(qflow::StateWriter& w) const {
    std::vector<double> held;
    held.reserve(count_);
    for (size_t i = 0; i < count_; ++i) held.push_back(at_age(count_ - 1 - i));
    w.put_vector(held);
  }
  void restore_state(qflow::StateReader& r) {
    const std::vector<double> held = r.get_vector<double>();
    if (held.size() > history_.size())
      throw std::runtime_error("momentum state holds " + std::to_string(held.size()) + " inputs, more than period " +
                               std::to_string(history_.size()));
    count_ = held.size();
    for (size_t i = 0; i < held.size(); ++i) history_[i] = held[i];
    next_ = count_ == history_.size() ? 0 : count_;
  }

 private:
  static int field_index(const qflow::NodeConfig& cfg) {
    const std::string f = cfg.params().string("field");
    for (int i = 0; i < 5; ++i)
      if (f == qflow::kBarFields[i]) return i;
    throw std::invalid_argument("unknown field '" + f + "'");
  }

  double input_number(const qf_event& ev) const {
    if (ev.kind == QF_KIND_BAR) return qflow::bar_field(ev.u.bar, field_);
    if (ev.kind == QF_KIND_VALUE) return ev.u.value.value;
    throw std::invalid_argument(std::string("unexpected ") + qflow::kind_name(ev.kind) + " event");
  }

  // The input `age` steps back from the newest (0 = newest); age < count_.
  double at_age(size_t age) const {
    const size_t n = history_.size();
    return history_[(next_ + n - 1 - age) % n];
  }

  std::vector<double> history_;  // ring of the last n inputs; next_ is where the next one goes
  size_t next_ = 0;
  size_t count_ = 0;  // inputs held, up to n
  int field_;
};

}  // namespace momentum_example

QFLOW_PLUGIN("qflow-example-momentum", "0.1.0",
             [](qflow::Registrar& r) { r.add<momentum_example::MomentumIndicator>(); })
