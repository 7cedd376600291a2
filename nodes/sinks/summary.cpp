// sink.summary — the run in a few numbers: summary.json at the end, and one line on stdout.
//
// From the `account` input (one snapshot per market event, plus one flagged QF_EVENT_INITIAL
// before the first):
//   initial_value  equity of the initial snapshot, else of the first one
//   final_value    equity of the last snapshot
//   total_return   final_value / initial_value - 1
//   max_drawdown   max over time of (peak - equity) / peak, a fraction; peak is the running
//                  maximum of equity including the initial value
//   bars           number of snapshots not flagged initial
//   first_time, last_time  ISO 8601 UTC times of the first and last of those
// From the optional `fills` input, with the round trips of round_trips.hpp (flat to flat per
// symbol, average cost):
//   trades, winning_trades (pnl_net > 0), pnl_net (sum over closed trips), commission (every
//   fill's, open trips included)
// Values that cannot be known are null in the JSON: no snapshot at all, a zero initial value,
// or trade figures when `fills` is not connected. Memory is constant in the number of events
// (plus one open trip per symbol held).
//
// summary.json is written only at stop, so the checkpointed state is the accumulators alone:
// seen, initial, final, peak, max drawdown, bars, first and last time, the open round trips,
// trades, winning trades, net pnl and commission.
#include "round_trips.hpp"
#include "sinks.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace qflow::nodes {

class SummarySink {
 public:
  static NodeSpec spec() {
    return NodeSpec("sink.summary", "sink")
        .summary("Final value, return, max drawdown and trade counts to a JSON file and stdout")
        .doc("Reads account snapshots (and optionally fills) and writes, at the end of the run, "
             "initial_value, final_value, total_return, max_drawdown (fraction of the running peak, "
             "initial value included), bars, trades, winning_trades, pnl_net, commission, first_time, "
             "last_time. With `print`, also prints one line to stdout.")
        .param(file_param("summary.json"))
        .param(ParamSpec::boolean("print").default_value("true").doc("print a one-line summary to stdout at the end"))
        .input("account", Kind::account, "account snapshots of the executor")
        .input("fills", Kind::fill, "fills of the same executor, for trade counts", QF_PORT_OPTIONAL);
  }

  explicit SummarySink(const NodeConfig& cfg)
      : path_(output_file_path(cfg)), print_(cfg.params().boolean("print")), has_fills_(!cfg.slots_of(1).empty()) {}

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    if (ev.kind == QF_KIND_ACCOUNT)
      on_account(ev);
    else if (ev.kind == QF_KIND_FILL)
      on_fill(ctx, ev);
    else
      throw std::invalid_argument(std::string("sink.summary takes account snapshots and fills, got a ") +
                                  kind_name(ev.kind) + " event");
  }

  void stop(Context&) {
    const nlohmann::ordered_json j = to_json();
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << j.dump(2) << '\n';
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path_.string());
    if (print_) {
      const std::string line = summary_line();
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
    }
  }

  void save_state(StateWriter& w) const {
    w.put<uint8_t>(seen_);
    for (const double x : {initial_, final_, peak_, max_drawdown_}) w.put<double>(x);
    w.put<uint64_t>(bars_);
    w.put<int64_t>(first_time_);
    w.put<int64_t>(last_time_);
    book_.save(w);
    w.put<uint64_t>(trades_);
    w.put<uint64_t>(winning_);
    w.put<double>(pnl_net_);
    w.put<double>(commission_);
  }
  void restore_state(StateReader& r) {
    seen_ = r.get<uint8_t>() != 0;
    for (double* x : {&initial_, &final_, &peak_, &max_drawdown_}) *x = r.get<double>();
    bars_ = r.get<uint64_t>();
    first_time_ = r.get<int64_t>();
    last_time_ = r.get<int64_t>();
    book_.restore(r);
    trades_ = r.get<uint64_t>();
    winning_ = r.get<uint64_t>();
    pnl_net_ = r.get<double>();
    commission_ = r.get<double>();
  }

 private:
  void on_account(const qf_event& ev) {
    const double equity = ev.u.account.equity;
    const bool initial = (ev.flags & QF_EVENT_INITIAL) != 0;
    if (!seen_) {
      seen_ = true;
      initial_ = peak_ = equity;
    }
    final_ = equity;
    peak_ = std::max(peak_, equity);
    if (peak_ > 0) max_drawdown_ = std::max(max_drawdown_, (peak_ - equity) / peak_);
    if (initial) return;
    if (bars_ == 0) first_time_ = ev.time_ns;
    last_time_ = ev.time_ns;
    ++bars_;
  }

  void on_fill(const Context& ctx, const qf_event& ev) {
    commission_ += ev.u.fill.commission;
    if (const std::optional<RoundTrip> trip = book_.apply(ctx, ev.symbol, ev.time_ns, ev.u.fill)) {
      ++trades_;
      if (trip->pnl_net() > 0) ++winning_;
      pnl_net_ += trip->pnl_net();
    }
  }

  std::optional<double> total_return() const {
    if (!seen_ || initial_ == 0) return std::nullopt;
    return final_ / initial_ - 1.0;
  }

  nlohmann::ordered_json to_json() const {
    using json = nlohmann::ordered_json;
    const auto number = [](std::optional<double> x) { return x && std::isfinite(*x) ? json(*x) : json(nullptr); };
    const auto time = [&](int64_t t) { return bars_ > 0 ? json(format_time(t)) : json(nullptr); };
    json j;
    j["initial_value"] = seen_ ? number(initial_) : json(nullptr);
    j["final_value"] = seen_ ? number(final_) : json(nullptr);
    j["total_return"] = number(total_return());
    j["max_drawdown"] = seen_ ? number(max_drawdown_) : json(nullptr);
    j["bars"] = bars_;
    j["trades"] = has_fills_ ? json(trades_) : json(nullptr);
    j["winning_trades"] = has_fills_ ? json(winning_) : json(nullptr);
    j["pnl_net"] = has_fills_ ? number(pnl_net_) : json(nullptr);
    j["commission"] = has_fills_ ? number(commission_) : json(nullptr);
    j["first_time"] = time(first_time_);
    j["last_time"] = time(last_time_);
    return j;
  }

  // "summary: final value 101234.56, return +1.23%, trades 17, max drawdown 4.56%, bars 5036"
  std::string summary_line() const {
    char buf[256];
    std::string line = "summary: ";
    if (!seen_) {
      line += "no account snapshots";
    } else {
      std::snprintf(buf, sizeof buf, "final value %.2f, ", final_);
      line += buf;
      const std::optional<double> r = total_return();
      if (r)
        std::snprintf(buf, sizeof buf, "return %+.2f%%", *r * 100);
      else
        std::snprintf(buf, sizeof buf, "return n/a");
      line += buf;
    }
    if (has_fills_) line += ", trades " + std::to_string(trades_);
    if (seen_) {
      std::snprintf(buf, sizeof buf, ", max drawdown %.2f%%", max_drawdown_ * 100);
      line += buf;
    }
    line += ", bars " + std::to_string(bars_) + "\n";
    return line;
  }

  const std::filesystem::path path_;
  const bool print_;
  const bool has_fills_;

  // The accumulators: the checkpointed state.
  bool seen_ = false;  // any account snapshot yet
  double initial_ = 0, final_ = 0, peak_ = 0, max_drawdown_ = 0;
  uint64_t bars_ = 0;
  int64_t first_time_ = 0, last_time_ = 0;
  RoundTripBook book_;
  uint64_t trades_ = 0, winning_ = 0;
  double pnl_net_ = 0, commission_ = 0;
};

void register_summary(Registrar& r) { r.add<SummarySink>(); }

}  // namespace qflow::nodes
