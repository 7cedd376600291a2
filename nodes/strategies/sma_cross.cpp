// strategy.sma_cross — long-only moving-average crossover.
//
// In every cycle where both `fast` and `slow` delivered a value, diff = fast - slow. A cross up
// is diff > 0 while the last non-zero diff before this bar was negative; a cross down is diff < 0
// after a positive one (backtrader's CrossOver, which also compares against the last non-zero
// difference). A zero diff is neither and does not replace the last non-zero diff, so touching
// and parting again on the same side is no cross. When flat with no order pending, a cross up
// buys `size` at market; when long with no order pending, a cross down sells the whole position
// at market. The position comes from the fills fed back through on_feedback; an order stays
// pending until its FILLED, REJECTED, CANCELLED or EXPIRED update comes back. No order before
// both averages have warmed up.
#include <qflow/sdk.hpp>

#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace qflow::nodes {

class SmaCrossStrategy {
 public:
  static NodeSpec spec() {
    return NodeSpec("strategy.sma_cross", "strategy")
        .summary("Long-only crossover: buy when fast crosses above slow, close when it crosses below")
        .doc("diff = fast - slow on each bar where both arrived. Cross up: diff > 0 after a negative "
             "last non-zero diff; cross down: diff < 0 after a positive one (zero diffs are skipped). "
             "Flat and cross up: market buy `size`. Long and cross down: market sell the position. "
             "Nothing while an order is pending.")
        .param(ParamSpec::number("size").default_value("100").min(0).reloadable().doc("quantity bought on a cross up (> 0)"))
        .input("bars", Kind::bar, "the traded symbol's bars")
        .input("fast", Kind::value, "the fast average")
        .input("slow", Kind::value, "the slow average")
        .output("orders", Kind::order, "market orders, ids from 1");
  }

  explicit SmaCrossStrategy(const NodeConfig& cfg)
      : size_(cfg.params().number("size")), bars_(one_slot(cfg, 0, "bars")), fast_(one_slot(cfg, 1, "fast")),
        slow_(one_slot(cfg, 2, "slow")) {
    if (!(size_ > 0) || !std::isfinite(size_)) throw std::invalid_argument("size must be > 0");
  }

  void on_feedback(Context&, const qf_event& ev) {
    if (ev.kind == QF_KIND_FILL) {
      position_ += ev.u.fill.side * ev.u.fill.quantity;
    } else if (ev.kind == QF_KIND_ORDER_UPDATE && pending_ && ev.u.order_update.order_id == pending_id_) {
      switch (ev.u.order_update.status) {
        case QF_ORDER_FILLED:
        case QF_ORDER_REJECTED:
        case QF_ORDER_CANCELLED:
        case QF_ORDER_EXPIRED: pending_ = false; break;
        default: break;
      }
    }
  }

  void on_cycle(Context& ctx) {
    const std::optional<double> fast = ctx.value(fast_), slow = ctx.value(slow_);
    if (!fast || !slow) return;
    const double diff = *fast - *slow;
    if (!std::isfinite(diff)) return;
    const bool cross_up = diff > 0 && last_diff_ < 0;
    const bool cross_down = diff < 0 && last_diff_ > 0;
    if (diff != 0) last_diff_ = diff;
    if (pending_) return;
    if (cross_up && position_ == 0) place(ctx, QF_SIDE_BUY, size_);
    else if (cross_down && position_ > 0) place(ctx, QF_SIDE_SELL, position_);
  }

  void save_state(StateWriter& w) const {
    w.put<double>(position_);
    w.put<double>(last_diff_);
    w.put<uint8_t>(pending_);
    w.put<uint64_t>(pending_id_);
    w.put<uint64_t>(next_order_id_);
  }
  void restore_state(StateReader& r) {
    position_ = r.get<double>();
    last_diff_ = r.get<double>();
    pending_ = r.get<uint8_t>() != 0;
    pending_id_ = r.get<uint64_t>();
    next_order_id_ = r.get<uint64_t>();
  }

 private:
  static uint32_t one_slot(const NodeConfig& cfg, uint32_t port, const char* name) {
    const std::vector<uint32_t> slots = cfg.slots_of(port);
    if (slots.size() != 1) throw std::invalid_argument(std::string("input '") + name + "' needs exactly one connection");
    return slots[0];
  }

  void place(Context& ctx, int32_t side, double quantity) {
    const qf_event* trigger = ctx.input(bars_);
    if (!trigger) trigger = ctx.input(fast_);
    pending_id_ = next_order_id_++;
    pending_ = true;
    ctx.emit(0, make_market_order(trigger->symbol, pending_id_, side, quantity));
  }

  // configuration
  double size_;
  uint32_t bars_, fast_, slow_;

  // mutable state
  double position_ = 0;   // from fills
  double last_diff_ = 0;  // last non-zero fast - slow; 0 before the first
  bool pending_ = false;
  uint64_t pending_id_ = 0;
  uint64_t next_order_id_ = 1;
};

void register_sma_cross(Registrar& r) { r.add<SmaCrossStrategy>(); }

}  // namespace qflow::nodes
