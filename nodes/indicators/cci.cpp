// indicator.cci — commodity channel index.
//
// TA-Lib (0.4) CCI(n), default n = 14: with the typical price tp = (high + low + close) / 3, its
// mean m over the last n bars and the mean absolute deviation D = (1/n) * sum |tp_i - m|,
//   CCI = (tp - m) / (0.015 * D),
// and 0 when tp = m or D = 0 (a flat window), as TA-Lib does. First value at bar n-1.
//
// Cost: the deviation is about the *current* mean, so no running sum of |tp_i - m| survives a
// step. But the deviations about the mean sum to zero, so
//   sum |tp_i - m| = 2 * sum_{tp_i > m} (tp_i - m) = 2 * (S_above - k_above * m),
// with S_above and k_above the sum and count of the window's values above m. From n =
// kTreeFrom (1,500) on, the window lives in a treap (a search tree balanced by random
// priorities, here a hash of each value's arrival number: the shape does not depend on the
// data, and a restored window rebuilds the very same tree) whose nodes carry their subtree's
// count and sum, so S_above and k_above are one walk from the root and replacing the oldest
// value by the newest is one delete and one insert: expected O(log n) per bar, no allocation
// (a pool of n nodes). Below that, a two-pass loop over the contiguous window, four independent
// sums at a time (the compiler vectorises them), costs less than the tree's pointer walks:
// measured per bar on a synthetic random walk, loop / tree 37 / 255 ns at n = 14, 100 / 485 at
// 200, 560 / 690 at 1,200, about even at 1,500, 1,040 / 720 at 2,000. So shorter windows, the
// common case, take the loop: O(n), n < 1,500.
//
// Numerics, both ways exact to well under 1e-9 at BTC price levels (sums near 10^6, deviations
// of cents): the loop measures every value from the newest one (offsets of nearby prices are
// exact subtractions) before summing, so nothing large cancels. The tree cannot move its sums
// to a new origin cheaply, so its subtree sums and S_above - k_above * m are double-double
// (Knuth's two-sum and an FMA two-product, about 106 bits), the mean is compared with each
// value exactly, and every node's sum is recomputed from its children on every change: nothing
// drifts, and values near the overflow limit poison the result only while they are in the
// window. A bar whose typical price is not finite (a non-finite high, low or close) is
// skipped: it changes nothing and emits nothing.
#include "indicators.hpp"

#include <qflow/indicator.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qflow::nodes {

class CciCore {
 public:
  static constexpr int kOutputs = 1;
  static constexpr size_t kTreeFrom = 1500;  // the window length from which the treap is used

  static NodeSpec spec() {
    return NodeSpec("indicator.cci", "indicator")
        .summary("Commodity channel index")
        .doc("TA-Lib CCI: (tp - SMA(tp)) / (0.015 * mean absolute deviation of tp) over the last n "
             "bars, tp = (high+low+close)/3; 0 when tp equals the mean or the deviation is 0. Bars "
             "with a non-finite high, low or close are skipped.")
        .warmup("the n-th bar, index n-1 counting from 0")
        .param(ParamSpec::integer("period").default_value("14").min(2).max(100'000).doc("bars in the window n"))
        .input("in", Kind::bar, "bars (high, low, close)")
        .output("value", Kind::value, "the CCI (unbounded; mostly within -300..300)");
  }

  explicit CciCore(const ParamView& p)
      : values_(static_cast<size_t>(p.integer("period"))), inv_n_(1.0 / static_cast<double>(values_.size())) {
    if (values_.size() >= kTreeFrom) nodes_.resize(values_.size());
  }

  bool update(const qf_event& ev) {
    const qf_bar& b = indicator_bar(ev);
    const double tp = (b.high + b.low + b.close) / 3.0;
    if (!std::isfinite(tp)) return false;  // a non-finite high, low or close, or an overflow
    push(tp);
    if (!ready()) return false;
    value_ = nodes_.empty() ? by_loop() : by_tree();
    return true;
  }
  bool ready() const { return seen_ >= values_.size(); }
  double value(int) const { return value_; }

  // The window's values, oldest first; restoring pushes them again with their arrival numbers,
  // which rebuilds the same tree (a treap's shape is a function of its keys and priorities).
  void save(StateWriter& w) const {
    w.put<uint64_t>(seen_);
    for (uint64_t s = seen_ - std::min<uint64_t>(seen_, values_.size()); s < seen_; ++s) w.put<double>(values_[slot(s)]);
  }
  void restore(StateReader& r) {
    const uint64_t seen = r.get<uint64_t>();
    root_ = kNil;
    seen_ = seen - std::min<uint64_t>(seen, values_.size());
    next_ = slot(seen_);
    while (seen_ < seen) push(r.get<double>());
  }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;

  // An unevaluated sum hi + lo with |lo| <= ulp(hi) / 2: about 106 significant bits.
  struct DoubleDouble {
    double hi = 0, lo = 0;

    static DoubleDouble two_sum(double a, double b) {
      const double s = a + b, bb = s - a;
      return {s, (a - (s - bb)) + (b - bb)};
    }
    static DoubleDouble fast_two_sum(double a, double b) {  // needs |a| >= |b| or a = 0
      const double s = a + b;
      return {s, b - (s - a)};
    }
    // Error within about 2^-104 * (|a| + |b|): all the sums here need.
    friend DoubleDouble operator+(DoubleDouble a, DoubleDouble b) {
      const DoubleDouble s = two_sum(a.hi, b.hi);
      return fast_two_sum(s.hi, s.lo + (a.lo + b.lo));
    }
    friend DoubleDouble operator+(DoubleDouble a, double b) {
      const DoubleDouble s = two_sum(a.hi, b);
      return fast_two_sum(s.hi, s.lo + a.lo);
    }
    friend DoubleDouble operator*(DoubleDouble a, double b) {
      const double p = a.hi * b;
      return fast_two_sum(p, std::fma(a.hi, b, -p) + a.lo * b);
    }
  };

  // A value of the window in the treap; node i holds values_[i].
  struct Node {
    uint64_t seq = 0;   // the value's arrival number: orders equal values
    uint64_t prio = 0;  // heap order of the treap, a hash of seq
    uint32_t left = kNil, right = kNil;
    uint32_t count = 0;  // values in this subtree
    DoubleDouble sum;    // their sum
  };

  uint32_t slot(uint64_t seq) const { return static_cast<uint32_t>(seq % values_.size()); }
  uint32_t newest() const { return static_cast<uint32_t>((next_ == 0 ? values_.size() : next_) - 1); }

  // Replaces the oldest value (when the window is full) by x.
  void push(double x) {
    const uint32_t s = static_cast<uint32_t>(next_);  // slot(seen_)
    next_ = next_ + 1 == values_.size() ? 0 : next_ + 1;
    if (nodes_.empty()) {
      values_[s] = x;
      ++seen_;
      return;
    }
    if (count_of(root_) == nodes_.size()) root_ = erase(root_, s);
    values_[s] = x;
    nodes_[s] = Node{seen_, mix(seen_), kNil, kNil, 1, DoubleDouble{x, 0}};
    uint32_t below, above;
    split(root_, s, below, above);
    root_ = merge(merge(below, s), above);
    ++seen_;
  }

  // Two passes over the window, every value measured from the newest one, c: the mean is
  // c + mo, tp - m = -mo, and the CCI -mo / (0.015 deviation / n) = -offsets / (0.015 deviation).
  double by_loop() const {
    const double c = values_[newest()];
    const double offsets = sum4([c](double v) { return v - c; });
    const double mo = offsets * inv_n_;
    const double deviation = sum4([c, mo](double v) { return std::abs((v - c) - mo); });
    if (offsets == 0 || deviation == 0) return 0.0;
    return -offsets / (0.015 * deviation);
  }
  // sum f(v) over the window in four independent running sums (latency, not the adder, bounds
  // a single one).
  template <class F>
  double sum4(F f) const {
    const double* v = values_.data();
    const size_t n = values_.size();
    double a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      a += f(v[i]);
      b += f(v[i + 1]);
      c += f(v[i + 2]);
      d += f(v[i + 3]);
    }
    for (; i < n; ++i) a += f(v[i]);
    return (a + b) + (c + d);
  }

  double by_tree() const {
    const double n = static_cast<double>(values_.size());
    if (values_[extreme(&Node::left)] == values_[extreme(&Node::right)]) return 0.0;  // flat: D = 0
    // The mean m = T / n as a double-double.
    const DoubleDouble total = nodes_[root_].sum;
    const double q = total.hi / n;
    const DoubleDouble rest = total + DoubleDouble{q, 0} * -n;
    const DoubleDouble mean = DoubleDouble::fast_two_sum(q, (rest.hi + rest.lo) / n);
    // S_above and k_above: values x with x > m, i.e. (x - m.hi) > m.lo (exact for x near m).
    DoubleDouble above;
    double count = 0;
    for (uint32_t t = root_; t != kNil;) {
      const Node& v = nodes_[t];
      if (values_[t] - mean.hi > mean.lo) {
        above = above + sum_of(v.right) + values_[t];
        count += 1 + count_of(v.right);
        t = v.left;
      } else {
        t = v.right;
      }
    }
    // n * sum |x - m| / 2 = n * S_above - k_above * T.
    const DoubleDouble half = above * n + total * -count;
    const double deviation = 2 * (half.hi + half.lo) / (n * n);
    const double distance = (values_[newest()] - mean.hi) - mean.lo;
    if (distance == 0 || deviation == 0) return 0.0;
    return distance / (0.015 * deviation);
  }

  // The node at the end of the tree that `side` leads to (left: the smallest value).
  uint32_t extreme(uint32_t Node::*side) const {
    uint32_t t = root_;
    while (nodes_[t].*side != kNil) t = nodes_[t].*side;
    return t;
  }

  uint32_t count_of(uint32_t t) const { return t == kNil ? 0 : nodes_[t].count; }
  DoubleDouble sum_of(uint32_t t) const { return t == kNil ? DoubleDouble{} : nodes_[t].sum; }
  bool less(uint32_t a, uint32_t b) const {
    return values_[a] < values_[b] || (values_[a] == values_[b] && nodes_[a].seq < nodes_[b].seq);
  }
  bool outranks(uint32_t a, uint32_t b) const {
    const Node &x = nodes_[a], &y = nodes_[b];
    return x.prio > y.prio || (x.prio == y.prio && x.seq < y.seq);
  }
  void pull(uint32_t t) {
    Node& v = nodes_[t];
    v.count = 1 + count_of(v.left) + count_of(v.right);
    v.sum = (sum_of(v.left) + values_[t]) + sum_of(v.right);
  }

  // Splits tree t into the nodes ordered before node k and the others.
  void split(uint32_t t, uint32_t k, uint32_t& before, uint32_t& after) {
    if (t == kNil) {
      before = after = kNil;
      return;
    }
    if (less(t, k)) {
      split(nodes_[t].right, k, nodes_[t].right, after);
      before = t;
    } else {
      split(nodes_[t].left, k, before, nodes_[t].left);
      after = t;
    }
    pull(t);
  }
  // Joins two trees, every node of `a` ordered before every node of `b`.
  uint32_t merge(uint32_t a, uint32_t b) {
    if (a == kNil) return b;
    if (b == kNil) return a;
    if (outranks(a, b)) {
      nodes_[a].right = merge(nodes_[a].right, b);
      pull(a);
      return a;
    }
    nodes_[b].left = merge(a, nodes_[b].left);
    pull(b);
    return b;
  }
  // Tree t without node k.
  uint32_t erase(uint32_t t, uint32_t k) {
    if (t == kNil) throw std::logic_error("indicator.cci: window value missing from its tree");
    if (t == k) return merge(nodes_[t].left, nodes_[t].right);
    if (less(k, t))
      nodes_[t].left = erase(nodes_[t].left, k);
    else
      nodes_[t].right = erase(nodes_[t].right, k);
    pull(t);
    return t;
  }

  // SplitMix64's finaliser: well-spread priorities from consecutive arrival numbers.
  static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }

  std::vector<double> values_;  // the window: arrival s in slot s % n
  double inv_n_;                // 1 / n
  std::vector<Node> nodes_;     // the treap over values_, from n = kTreeFrom on (else empty)
  uint32_t root_ = kNil;
  uint64_t seen_ = 0;           // values pushed so far
  size_t next_ = 0;             // slot(seen_): where the next value goes
  double value_ = 0;            // of the last bar
};

void register_cci(Registrar& r) { r.add<IndicatorNode<CciCore>>(); }

}  // namespace qflow::nodes
