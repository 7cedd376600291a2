// sink.table_csv — every input side by side, one CSV row per cycle.
//
// Columns: time,symbol, then per input slot in pipeline order, named after the slot's label:
//   bar      <label>.open,<label>.high,<label>.low,<label>.close,<label>.volume
//   value    <label>            (e.g. "fast", "macd.signal")
//   signal   <label>            (the signal's value)
//   tick     <label>.price,<label>.size
//   quote    <label>.bid,<label>.ask,<label>.bid_size,<label>.ask_size
//   position <label>.quantity,<label>.average_price,<label>.realized_pnl,<label>.unrealized_pnl
//   account  <label>.cash,<label>.equity,<label>.position_value,<label>.realized_pnl,<label>.commission
// The layout comes from the kinds the connected output declares; an output that may produce
// several kinds gets the value column when it can produce values or signals, the bar columns
// when it produces market data with bars among it, and is refused otherwise. An event that does
// not fit its slot's layout is an error.
//
// A row is written in on_cycle for each cycle in which any slot received an event; a slot that
// received nothing (an indicator warming up) leaves its cells empty. time is the ISO 8601 UTC
// time and symbol the symbol name of the first slot's event that arrived. Numbers are the
// shortest text that reads back to the same double, so the table can be compared exactly.
//
// The file is created in start(). The checkpointed state is the file's length alone, made
// durable when saved: a restored node cuts the file back to it and appends from there.
#include "sinks.hpp"

#include <vector>

namespace qflow::nodes {
namespace {

// Column suffixes ("" = the label alone) and which event kinds fill them.
struct Layout {
  const char* fields[6];  // null-terminated
  uint32_t kinds;
};
constexpr uint32_t bit(qf_event_kind k) { return QF_KIND_BIT(k); }
constexpr Layout kSingle{{"", nullptr}, bit(QF_KIND_VALUE) | bit(QF_KIND_SIGNAL)};
constexpr Layout kBar{{"open", "high", "low", "close", "volume", nullptr}, bit(QF_KIND_BAR)};
constexpr Layout kTick{{"price", "size", nullptr}, bit(QF_KIND_TICK)};
constexpr Layout kQuote{{"bid", "ask", "bid_size", "ask_size", nullptr}, bit(QF_KIND_QUOTE)};
constexpr Layout kPosition{{"quantity", "average_price", "realized_pnl", "unrealized_pnl", nullptr},
                          bit(QF_KIND_POSITION)};
constexpr Layout kAccount{{"cash", "equity", "position_value", "realized_pnl", "commission", nullptr},
                         bit(QF_KIND_ACCOUNT)};

}  // namespace

class TableCsvSink {
 public:
  static NodeSpec spec() {
    return NodeSpec("sink.table_csv", "sink")
        .summary("All inputs side by side, one CSV row per cycle")
        .doc("A row per cycle with time, symbol and, for each input in order, its bar columns "
             "(<label>.open ... <label>.volume) or its value under <label>; empty cells where an input "
             "got nothing that cycle (warm-up). Numbers print as the shortest round-trip text.")
        .param(file_param("table.csv"))
        .input("in", Kinds::any(), "any series: bars, values, signals, ticks, quotes, positions, accounts",
               QF_PORT_MULTIPLE);
  }

  explicit TableCsvSink(const NodeConfig& cfg) : file_(output_file_path(cfg)) {
    header_ = "time,symbol";
    for (const qf_slot_info& s : cfg.slots()) {
      const std::string label = s.label ? s.label : "";
      const Layout& layout = layout_of(s.kinds, label);
      layouts_.push_back(&layout);
      for (const char* const* f = layout.fields; *f; ++f) {
        header_ += ',';
        append_cell(header_, **f ? label + '.' + *f : label);
      }
    }
    header_ += '\n';
  }

  void start(Context&) { file_.open(header_); }

  void on_cycle(Context& ctx) {
    const qf_event* first = nullptr;
    for (uint32_t i = 0; i < layouts_.size() && !first; ++i) first = ctx.input(i);
    if (!first) return;
    row_.clear();
    row_ += format_time(first->time_ns);
    row_ += ',';
    append_cell(row_, ctx.lookup(first->symbol));
    for (uint32_t i = 0; i < layouts_.size(); ++i) append_cells(*layouts_[i], ctx.input(i));
    row_ += '\n';
    file_.write(row_);
  }

  void stop(Context&) { file_.close(); }

  void save_state(StateWriter& w) const { w.put<uint64_t>(file_.sync()); }
  void restore_state(StateReader& r) { file_.resume_at(r.get<uint64_t>()); }

 private:
  static const Layout& layout_of(uint32_t k, const std::string& label) {
    for (const Layout* l : {&kSingle, &kBar, &kTick, &kQuote, &kPosition, &kAccount})
      if (k != 0 && (k & ~l->kinds) == 0) return *l;
    if (k & kSingle.kinds) return kSingle;
    if ((k & bit(QF_KIND_BAR)) && (k & ~QF_KINDS_MARKET) == 0) return kBar;
    throw std::invalid_argument("sink.table_csv: input '" + label + "' carries " + kinds_to_string(k) +
                                "; a table column needs bars, values, signals, ticks, quotes, positions or accounts");
  }

  void append_cells(const Layout& layout, const qf_event* ev) {
    if (!ev) {
      for (const char* const* f = layout.fields; *f; ++f) row_ += ',';
      return;
    }
    if (!(layout.kinds & QF_KIND_BIT(ev->kind)))
      throw std::invalid_argument(std::string("sink.table_csv: a ") + kind_name(ev->kind) +
                                  " event arrived on an input whose columns were laid out for " +
                                  kinds_to_string(layout.kinds));
    const auto cells = [&](std::initializer_list<double> xs) {
      for (const double x : xs) {
        row_ += ',';
        append_number(row_, x);
      }
    };
    switch (ev->kind) {
      case QF_KIND_VALUE: return cells({ev->u.value.value});
      case QF_KIND_SIGNAL: return cells({ev->u.signal.value});
      case QF_KIND_BAR: {
        const qf_bar& b = ev->u.bar;
        return cells({b.open, b.high, b.low, b.close, b.volume});
      }
      case QF_KIND_TICK: return cells({ev->u.tick.price, ev->u.tick.size});
      case QF_KIND_QUOTE: {
        const qf_quote& q = ev->u.quote;
        return cells({q.bid, q.ask, q.bid_size, q.ask_size});
      }
      case QF_KIND_POSITION: {
        const qf_position& p = ev->u.position;
        return cells({p.quantity, p.average_price, p.realized_pnl, p.unrealized_pnl});
      }
      default: {
        const qf_account& a = ev->u.account;
        return cells({a.cash, a.equity, a.position_value, a.realized_pnl, a.commission});
      }
    }
  }

  OutputFile file_;
  std::string header_;
  std::vector<const Layout*> layouts_;  // per slot
  std::string row_;                     // reused across cycles
};

void register_table_csv(Registrar& r) { r.add<TableCsvSink>(); }

}  // namespace qflow::nodes
