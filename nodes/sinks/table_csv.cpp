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
// A slot may receive several events in one cycle (transform.align emits every leg of an
// instant at once, one per symbol). Such a cycle gives one row per symbol of the events of the
// slots that got several, in order of arrival, each with the time and symbol of its symbol's
// first event there. Every event then goes to the row of its symbol, or to the first row when
// no row has its symbol (a spread computed from both legs); of two events of one symbol on one
// slot the later stands. Events are gathered in on_event for this, since input() shows only
// a slot's last one; the buffers keep their capacity from cycle to cycle.
//
// The file is created in start(). The checkpointed state is the file's length alone, made
// durable when saved: a restored node cuts the file back to it and appends from there.
#include "sinks.hpp"

#include <algorithm>
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
             "got nothing that cycle (warm-up). An input that gets several events in one cycle (the legs "
             "of transform.align) gives one row per symbol of them, in arrival order; the other inputs' "
             "events go to the row of their symbol, else to the first. Numbers print as the shortest "
             "round-trip text.")
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

  void on_event(Context&, uint32_t slot, const qf_event& ev) { arrived_.push_back(Arrived{slot, ev}); }

  void on_cycle(Context& ctx) {
    const CycleScope cycle(arrived_);
    const size_t slots = layouts_.size();
    counts_.assign(slots, 0);
    bool several = false;
    for (const Arrived& a : arrived_) several |= ++counts_[a.slot] > 1;
    openers_.clear();
    if (several) {
      for (const Arrived& a : arrived_)
        if (counts_[a.slot] > 1 && row_of(a.ev.symbol) == kNoRow) openers_.push_back(&a.ev);
    }
    cells_.assign(std::max<size_t>(openers_.size(), 1) * slots, nullptr);
    for (const Arrived& a : arrived_) {
      const size_t r = row_of(a.ev.symbol);
      cells_[(r == kNoRow ? 0 : r) * slots + a.slot] = &a.ev;
    }
    if (!several) {  // one row, named after its first slot's event
      for (size_t i = 0; i < slots && openers_.empty(); ++i)
        if (cells_[i]) openers_.push_back(cells_[i]);
      if (openers_.empty()) return;
    }
    row_.clear();
    for (size_t r = 0; r < openers_.size(); ++r) {
      row_ += format_time(openers_[r]->time_ns);
      row_ += ',';
      append_cell(row_, ctx.lookup(openers_[r]->symbol));
      for (size_t i = 0; i < slots; ++i) append_cells(*layouts_[i], cells_[r * slots + i]);
      row_ += '\n';
    }
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

  static constexpr size_t kNoRow = static_cast<size_t>(-1);
  size_t row_of(uint32_t symbol) const {
    for (size_t r = 0; r < openers_.size(); ++r)
      if (openers_[r]->symbol == symbol) return r;
    return kNoRow;
  }

  struct Arrived {
    uint32_t slot;
    qf_event ev;
  };
  // Empties the cycle's events when on_cycle ends, even by an error.
  class CycleScope {
   public:
    explicit CycleScope(std::vector<Arrived>& events) : events_(events) {}
    ~CycleScope() { events_.clear(); }
    CycleScope(const CycleScope&) = delete;
    CycleScope& operator=(const CycleScope&) = delete;

   private:
    std::vector<Arrived>& events_;
  };

  OutputFile file_;
  std::string header_;
  std::vector<const Layout*> layouts_;  // per slot
  // Per cycle, reused across cycles:
  std::string row_;                       // the text of the cycle's rows
  std::vector<Arrived> arrived_;          // the events, in arrival order
  std::vector<uint32_t> counts_;          // per slot: how many events it got
  std::vector<const qf_event*> openers_;  // per row: the event giving its time and symbol
  std::vector<const qf_event*> cells_;    // per row and slot: the event in its cells, or null
};

void register_table_csv(Registrar& r) { r.add<TableCsvSink>(); }

}  // namespace qflow::nodes
