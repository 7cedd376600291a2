// sink.trades_csv — closed round trips, one CSV row per trip.
//
// Columns: symbol,direction,entry_time,entry_price,exit_time,exit_price,size,pnl_gross,
// commission,pnl_net. A trip runs from flat to flat per symbol (round_trips.hpp): direction is
// long or short; size is the quantity opened during the trip; entry_price and exit_price are the
// quantity-weighted mean prices of its opening and closing fills; pnl_gross is the realized pnl
// with the average-cost method; commission is that of all the trip's fills, a reversing fill's
// shared by quantity between the trip it closes and the one it opens; pnl_net = pnl_gross -
// commission. Times are ISO 8601 UTC of the first opening and the last closing fill; numbers
// are the shortest text that reads back to the same double.
//
// A row is written when its trip closes, so rows come in closing order and memory holds only
// the open trips. Trips still open at the end of the run are not written.
//
// The file is created in start(). The checkpointed state is the file's length, made durable
// when saved, and the open trips: a restored node cuts the file back to that length (dropping
// rows written after the checkpoint) and carries on with those trips.
#include "round_trips.hpp"
#include "sinks.hpp"

namespace qflow::nodes {

class TradesCsvSink {
 public:
  static NodeSpec spec() {
    return NodeSpec("sink.trades_csv", "sink")
        .summary("Closed round trips (flat to flat per symbol) to a CSV file")
        .doc("One row per closed round trip: symbol, direction, entry/exit time and mean price, size, "
             "gross pnl (average cost), commission, net pnl. A fill that reverses the position is split, "
             "its commission prorated by quantity. Trips still open at the end are not written.")
        .param(file_param("trades.csv"))
        .input("fills", Kind::fill, "fills from one or more executors", QF_PORT_MULTIPLE);
  }

  explicit TradesCsvSink(const NodeConfig& cfg) : file_(output_file_path(cfg)) {}

  void start(Context&) {
    file_.open("symbol,direction,entry_time,entry_price,exit_time,exit_price,size,pnl_gross,commission,pnl_net\n");
  }

  void on_event(Context& ctx, uint32_t, const qf_event& ev) {
    if (ev.kind != QF_KIND_FILL)
      throw std::invalid_argument(std::string("sink.trades_csv takes fills, got a ") + kind_name(ev.kind) + " event");
    if (const std::optional<RoundTrip> trip = book_.apply(ctx, ev.symbol, ev.time_ns, ev.u.fill)) write(ctx, *trip);
  }

  void stop(Context&) { file_.close(); }

  void save_state(StateWriter& w) const {
    w.put<uint64_t>(file_.sync());
    book_.save(w);
  }
  void restore_state(StateReader& r) {
    file_.resume_at(r.get<uint64_t>());
    book_.restore(r);
  }

 private:
  void write(const Context& ctx, const RoundTrip& t) {
    row_.clear();
    append_cell(row_, ctx.lookup(t.symbol));
    row_ += t.direction > 0 ? ",long," : ",short,";
    row_ += format_time(t.entry_time);
    row_ += ',';
    append_number(row_, t.entry_price());
    row_ += ',';
    row_ += format_time(t.exit_time);
    for (const double x : {t.exit_price(), t.size(), t.pnl_gross, t.commission, t.pnl_net()}) {
      row_ += ',';
      append_number(row_, x);
    }
    row_ += '\n';
    file_.write(row_);
  }

  OutputFile file_;
  RoundTripBook book_;
  std::string row_;  // reused: no allocation per row once it has grown
};

void register_trades_csv(Registrar& r) { r.add<TradesCsvSink>(); }

}  // namespace qflow::nodes
