// bench.order_probe — a benchmark-only sink: notes when each order reaches it (steady clock, ns)
// and writes the times, one per line, to `path` at stop. Placed beside an executor on a
// strategy's orders, it sees each order when the executor does.
#include <qflow/sdk.hpp>

#include <chrono>
#include <fstream>
#include <vector>

namespace {

class OrderProbe {
 public:
  static qflow::NodeSpec spec() {
    return qflow::NodeSpec("bench.order_probe", "sink")
        .summary("Benchmarks: when each order arrived (steady clock)")
        .param(qflow::ParamSpec::string("path").required().doc("where the times go, one per line"))
        .input("orders", qflow::Kind::order, "the orders to time");
  }
  explicit OrderProbe(const qflow::NodeConfig& cfg) : path_(cfg.params().string("path")) { times_.reserve(1 << 20); }
  void on_event(qflow::Context&, uint32_t, const qf_event& ev) {
    if (ev.u.order.type == QF_ORDER_CANCEL) return;
    times_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  void stop(qflow::Context&) {
    std::ofstream out(path_);
    for (int64_t t : times_) out << t << '\n';
  }

 private:
  std::string path_;
  std::vector<int64_t> times_;
};

}  // namespace

QFLOW_PLUGIN("qflow-bench-probe", "0.1.0", [](qflow::Registrar& r) { r.add<OrderProbe>(); })
