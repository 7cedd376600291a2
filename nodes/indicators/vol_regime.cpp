// indicator.vol_regime — the volatility regime: low, normal or high by the percentile rank of
// the current volatility among the recent ones.
//
// The volatility is indicator.volatility's (population std of the last `period` one-bar log
// returns times sqrt(period)). The lookback holds the last `lookback` volatility values, the
// current one included, and the current one is ranked against the other L = lookback - 1:
//   percentile = (#others strictly below + #others equal / 2) / L      (0..1; the mid-rank,
// so a value above all others is 1, below all 0, and a flat history gives 0.5). The regime is
// -1 (low) when percentile < `low`, 1 (high) when > `high`, 0 (normal) otherwise. No TA-Lib
// function; all outputs start when the lookback is full: bar period + lookback - 1 (519 for
// 20/500). Amortised O(log L) per bar: the volatility in O(1) (window_sums.hpp) and the
// ranks from an order-statistics tree (a treap with subtree sizes) of the lookback's values.
// A NaN volatility (an undefined return in its window) is kept out of the tree: its bar's
// outputs are NaN and it counts in neither the ranks nor L.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace qflow::nodes {

// A multiset of doubles counting the members below (or at most) a value in O(log size): a
// treap keyed by (value, insertion number), each node knowing its subtree's size. Nodes live
// in a vector and are recycled through a free list.
class RankTree {
 public:
  void insert(double v, uint64_t id) { root_ = insert(root_, make(v, id)); }
  void erase(double v, uint64_t id) { root_ = erase(root_, v, id); }
  // Members strictly below v (or_equal: at most v).
  size_t count_below(double v, bool or_equal) const {
    size_t count = 0;
    for (int32_t t = root_; t >= 0;) {
      const Node& n = nodes_[static_cast<size_t>(t)];
      if (n.value < v || (or_equal && n.value == v)) {
        count += size(n.left) + 1;
        t = n.right;
      } else {
        t = n.left;
      }
    }
    return count;
  }
  size_t size() const { return size(root_); }
  void clear() {
    nodes_.clear();
    free_.clear();
    root_ = -1;
  }

 private:
  struct Node {
    double value;
    uint64_t id, priority;
    int32_t left, right;
    uint32_t size;
  };
  size_t size(int32_t t) const { return t < 0 ? 0 : nodes_[static_cast<size_t>(t)].size; }
  static bool before(double v, uint64_t id, const Node& n) { return v < n.value || (v == n.value && id < n.id); }
  Node& at(int32_t t) { return nodes_[static_cast<size_t>(t)]; }
  void fix(int32_t t) { at(t).size = static_cast<uint32_t>(size(at(t).left) + size(at(t).right) + 1); }

  int32_t make(double v, uint64_t id) {
    uint64_t z = id + 0x9e3779b97f4a7c15ULL;  // splitmix64 of the id: priorities without a RNG's state
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    const Node n{v, id, z ^ (z >> 31), -1, -1, 1};
    if (!free_.empty()) {
      const int32_t t = free_.back();
      free_.pop_back();
      at(t) = n;
      return t;
    }
    nodes_.push_back(n);
    return static_cast<int32_t>(nodes_.size() - 1);
  }
  // Splits t into the keys before (v, id) and the rest.
  void split(int32_t t, double v, uint64_t id, int32_t& l, int32_t& r) {
    if (t < 0) {
      l = r = -1;
      return;
    }
    if (before(v, id, at(t))) {
      split(at(t).left, v, id, l, at(t).left);
      r = t;
    } else {
      split(at(t).right, v, id, at(t).right, r);
      l = t;
    }
    fix(t);
  }
  int32_t merge(int32_t l, int32_t r) {
    if (l < 0) return r;
    if (r < 0) return l;
    if (at(l).priority > at(r).priority) {
      at(l).right = merge(at(l).right, r);
      fix(l);
      return l;
    }
    at(r).left = merge(l, at(r).left);
    fix(r);
    return r;
  }
  int32_t insert(int32_t t, int32_t n) {
    if (t < 0) return n;
    if (at(n).priority > at(t).priority) {
      split(t, at(n).value, at(n).id, at(n).left, at(n).right);
      fix(n);
      return n;
    }
    if (before(at(n).value, at(n).id, at(t)))
      at(t).left = insert(at(t).left, n);
    else
      at(t).right = insert(at(t).right, n);
    fix(t);
    return t;
  }
  int32_t erase(int32_t t, double v, uint64_t id) {
    if (t < 0) throw std::logic_error("RankTree::erase of a missing value");
    if (at(t).value == v && at(t).id == id) {
      free_.push_back(t);
      return merge(at(t).left, at(t).right);
    }
    if (before(v, id, at(t)))
      at(t).left = erase(at(t).left, v, id);
    else
      at(t).right = erase(at(t).right, v, id);
    fix(t);
    return t;
  }

  std::vector<Node> nodes_;
  std::vector<int32_t> free_;
  int32_t root_ = -1;
};

class VolRegimeCore {
 public:
  static constexpr int kOutputs = 3;
  static NodeSpec spec() {
    return NodeSpec("indicator.vol_regime", "indicator")
        .summary("Volatility regime (-1 low, 0 normal, 1 high) by the volatility's rolling percentile")
        .doc("The volatility of indicator.volatility ranked among the last `lookback` volatility "
             "values: percentile = (others below + others equal / 2) / (lookback - 1); regime -1 "
             "when below `low`, 1 when above `high`, else 0.")
        .warmup("bar period + lookback - 1 (519 for 20/500)")
        .param(ParamSpec::integer("period").default_value("20").min(2).max(100'000).doc("returns per volatility value"))
        .param(ParamSpec::integer("lookback").default_value("500").min(2).max(1'000'000).doc("volatility values ranked against, the current one included"))
        .param(ParamSpec::number("low").default_value("0.2").min(0).max(1).doc("percentile below which the regime is low"))
        .param(ParamSpec::number("high").default_value("0.8").min(0).max(1).doc("percentile above which the regime is high"))
        .param(field_param())
        .input("in", Kind::bar | Kind::value, "bars or a price series")
        .output("regime", Kind::value, "-1 low, 0 normal, 1 high")
        .output("percentile", Kind::value, "the volatility's mid-rank percentile, 0..1")
        .output("volatility", Kind::value, "the volatility ranked");
  }

  explicit VolRegimeCore(const ParamView& p)
      : vol_(static_cast<size_t>(p.integer("period"))),
        history_(static_cast<size_t>(p.integer("lookback"))),
        low_(p.number("low")),
        high_(p.number("high")),
        field_(field_index(p.string("field"))) {
    if (low_ > high_) throw std::invalid_argument("low must not be above high");
  }

  bool update(const qf_event& ev) {
    vol_.push(indicator_input(ev, field_));
    if (!vol_.ready()) return false;
    const double v = vol_.value();
    if (history_.full()) {
      const double old = history_.front();
      if (!std::isnan(old)) ranks_.erase(old, next_id_ - history_.size());
    }
    history_.push(v);
    const uint64_t id = next_id_++;
    if (std::isnan(v)) {
      percentile_ = regime_ = std::numeric_limits<double>::quiet_NaN();
    } else {
      const size_t others = ranks_.size();
      const size_t below = ranks_.count_below(v, false), equal = ranks_.count_below(v, true) - below;
      ranks_.insert(v, id);
      percentile_ = others == 0 ? std::numeric_limits<double>::quiet_NaN()
                                : (static_cast<double>(below) + 0.5 * static_cast<double>(equal)) / static_cast<double>(others);
      regime_ = percentile_ < low_ ? -1.0 : percentile_ > high_ ? 1.0 : 0.0;
      if (others == 0) regime_ = percentile_;
    }
    return history_.full();
  }
  bool ready() const { return history_.full(); }
  double value(int k) const { return k == 0 ? regime_ : k == 1 ? percentile_ : history_[history_.size() - 1]; }

  // The tree is rebuilt from the history on restore.
  void save(StateWriter& w) const {
    vol_.save(w);
    history_.save(w);
    w.put<uint64_t>(next_id_);
    w.put<double>(regime_);
    w.put<double>(percentile_);
  }
  void restore(StateReader& r) {
    vol_.restore(r);
    history_.restore(r);
    next_id_ = r.get<uint64_t>();
    regime_ = r.get<double>();
    percentile_ = r.get<double>();
    ranks_.clear();
    for (size_t i = 0; i < history_.size(); ++i)
      if (!std::isnan(history_[i])) ranks_.insert(history_[i], next_id_ - history_.size() + i);
  }

 private:
  RollingVolatility vol_;
  RingWindow history_;   // the last `lookback` volatility values, oldest first
  double low_, high_;
  int field_;
  RankTree ranks_;       // history_'s non-NaN values, keyed by (value, id)
  uint64_t next_id_ = 0;  // the id of the next volatility value; history_[i] has next_id_ - size + i
  double regime_ = 0, percentile_ = 0;
};

void register_vol_regime(Registrar& r) { r.add<IndicatorNode<VolRegimeCore>>(); }

}  // namespace qflow::nodes
