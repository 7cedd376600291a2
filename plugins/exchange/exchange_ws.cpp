// source.exchange_ws — live bars and trades from an exchange's public WebSocket streams.
//
// Subscribes to `streams` (Binance spelling: "btcusdt@kline_1m,ethusdt@kline_1m" or
// "btcusdt@trade") on one connection to `url`, and emits
//   - each CLOSED kline as a bar stamped with its open time (in-progress kline updates are
//     ignored), exactly as source.csv_bars stamps the same bar: the same pipeline gives the same
//     results in paper mode as in a backtest over the same data;
//   - each trade as a tick (price, quantity, trade id, aggressor).
// A node carries klines or trades, not both: a kline is only known once closed, after the trades
// it summarises, so the two would not be in time order. Use one node for each.
//
// Exactly once, in time order. Kline streams are merged by open time (ties in the order of
// `streams`); a bar waits until every other kline stream has delivered up to its time, at most
// `align_wait`, so that several symbols arrive in the same order a backtest merges them.
// Per stream, a kline at or before the last one emitted is a duplicate and dropped; one after a
// missing open time is held back while the missing klines are fetched from the exchange's REST
// API (`rest_url`, Binance's GET /api/v3/klines), and then everything goes out in order. A gap
// the REST API cannot fill after three tries is reported (log and `gaps_lost`) and skipped.
// Trades are checked by trade id: repeats are dropped, jumps are counted and logged as gaps
// (the public trade API is not used to backfill them). A trade stamped before the previous one
// emitted is stamped with the previous time (counted as `late`).
//
// Faults: the client reconnects with exponential backoff and jitter (`reconnect_min` to
// `reconnect_max`, giving up after `max_reconnect_attempts` consecutive failures, 0 = never),
// pings when the connection is quiet (`ping_every`) and hangs up when nothing arrives for
// `stale_after`. Malformed and unexpected messages are counted and logged (the first ten of each,
// then every thousandth); `on_malformed: fail` stops the pipeline instead. A clean close with
// status 1000 and reason "replay finished" — what `qflow replay-server` sends at the end of its
// data — ends the source once the last gaps are filled and the klines that closed after the
// last one received (while the connection was down at the end) are fetched; any other close is
// reconnected.
//
// Threads: the client's service thread parses, orders and queues finished events; produce()
// takes them on the pipeline's thread, waiting at most a few milliseconds when there is nothing.
// When more than `max_queue` events wait, the socket is not read until produce() catches up
// (backpressure to the exchange, never a dropped message).
//
// State: per stream, the next kline open time expected and the last trade id; a resumed source
// asks the REST API for the klines it missed while stopped.
#include "feed_parser.hpp"
#include "ws_client.hpp"

#include <qflow/sdk.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>

namespace qflow::exchange {
namespace {

constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();
constexpr int kBackfillTries = 3;
constexpr uint32_t kBackfillLimit = 1000;

// The first multiple of `interval` at or after t (klines open on multiples of their interval).
int64_t align_up(int64_t t, int64_t interval) {
  const int64_t r = t % interval;
  return r == 0 ? t : t + (r > 0 ? interval - r : -r);
}

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> split_streams(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '/' || c == '\t' || c == '\n') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

class ExchangeWsSource final : public WsClientHandler {
 public:
  static NodeSpec spec() {
    return NodeSpec("source.exchange_ws", "source")
        .summary("Live klines or trades from an exchange's public WebSocket streams (Binance format)")
        .doc("Subscribes to `streams` on one WebSocket connection and emits each closed kline as a bar "
             "stamped with its open time, or each trade as a tick. Exactly once and in time order: "
             "duplicates are dropped, missing klines are fetched from the REST API, several symbols are "
             "merged by time. Reconnects with exponential backoff and jitter, pings a quiet connection "
             "and hangs up a stale one; malformed messages are counted and logged. Ends when "
             "`qflow replay-server` closes with \"replay finished\".")
        .param(ParamSpec::string("url").required().doc("the stream server: wss://stream.binance.com:9443, ws://127.0.0.1:9000, ..."))
        .param(ParamSpec::string("streams").required()
                   .doc("comma-separated stream names: btcusdt@kline_1m, ethusdt@kline_1m, or btcusdt@trade"))
        .param(ParamSpec::choice("exchange", {"binance"}).default_value("binance").doc("the wire format"))
        .param(ParamSpec::string("rest_url").default_value("")
                   .doc("the REST API for backfilling klines (https://api.binance.com); empty = the stream server's host and port"))
        .param(ParamSpec::boolean("backfill").default_value("true").doc("fetch missing klines from the REST API"))
        .param(ParamSpec::path("ca_file").default_value("")
                   .doc("PEM certificates to trust for wss:// and https://; empty = the system store"))
        .param(ParamSpec::duration("stale_after").default_value("0")
                   .doc("reconnect when no message came for this long; 0 = two of the longest kline interval plus 30 s (60 s for trades)"))
        .param(ParamSpec::duration("ping_every").default_value("20s").min(1'000'000'000).doc("ping a connection quiet for this long"))
        .param(ParamSpec::duration("reconnect_min").default_value("250ms").min(1'000'000).doc("first reconnect delay"))
        .param(ParamSpec::duration("reconnect_max").default_value("30s").min(1'000'000).doc("longest reconnect delay"))
        .param(ParamSpec::integer("max_reconnect_attempts").default_value("0").min(0)
                   .doc("consecutive failed connections before the source fails; 0 = keep trying"))
        .param(ParamSpec::duration("align_wait").default_value("2s").min(0)
                   .doc("how long a bar waits for the other kline streams to reach its time"))
        .param(ParamSpec::choice("on_malformed", {"count", "fail"}).default_value("count")
                   .doc("count and log malformed messages, or fail the pipeline"))
        .param(ParamSpec::integer("max_queue").default_value("1000000").min(1000)
                   .doc("events waiting for the pipeline before the socket is no longer read"))
        .output("bars", Kind::bar, "closed klines, stamped with their open time")
        .output("trades", Kind::tick, "trades");
  }

  explicit ExchangeWsSource(const NodeConfig& cfg)
      : backfill_(cfg.params().boolean("backfill")),
        align_wait_ns_(cfg.params().duration_ns("align_wait")),
        fail_on_malformed_(cfg.params().string("on_malformed") == "fail"),
        max_queue_(static_cast<size_t>(cfg.params().integer("max_queue"))),
        id_(cfg.id()) {
    parser_ = make_feed_parser(cfg.params().string("exchange"));
    if (!parser_) throw std::invalid_argument("unknown exchange '" + cfg.params().string("exchange") + "'");
    std::vector<StreamSpec> specs;
    for (const std::string& name : split_streams(cfg.params().string("streams"))) {
      StreamSpec s = parser_->resolve(name);
      for (const StreamSpec& other : specs)
        if (other.name == s.name) throw std::invalid_argument("stream '" + s.name + "' is listed twice");
      specs.push_back(std::move(s));
    }
    if (specs.empty()) throw std::invalid_argument("`streams` names no stream");
    const bool klines = specs.front().kind == StreamSpec::Kind::kline;
    for (const StreamSpec& s : specs)
      if ((s.kind == StreamSpec::Kind::kline) != klines)
        throw std::invalid_argument("streams mix klines and trades; a kline is known only after the trades it covers, "
                                    "so the two cannot be emitted in time order by one node: use one source node for each");
    klines_ = klines;
    parser_->subscribe(specs);
    for (StreamSpec& s : specs) {
      Stream st;
      st.spec = std::move(s);
      streams_.push_back(std::move(st));
    }

    WsClientOptions o;
    std::string why;
    const std::optional<Url> url = parse_url(cfg.params().string("url"), why);
    if (!url) throw std::invalid_argument("url: " + why);
    o.stream = *url;
    o.stream.path = parser_->stream_path();
    if (!cfg.params().string("rest_url").empty()) {
      const std::optional<Url> rest = parse_url(cfg.params().string("rest_url"), why);
      if (!rest) throw std::invalid_argument("rest_url: " + why);
      o.rest = *rest;
    } else {
      o.rest = *url;
    }
    o.ca_file = cfg.params().string("ca_file");
    o.ping_every_ns = cfg.params().duration_ns("ping_every");
    o.reconnect_min_ns = cfg.params().duration_ns("reconnect_min");
    o.reconnect_max_ns = std::max(o.reconnect_min_ns, cfg.params().duration_ns("reconnect_max"));
    o.max_attempts = static_cast<uint32_t>(cfg.params().integer("max_reconnect_attempts"));
    o.seed = cfg.seed();
    int64_t stale = cfg.params().duration_ns("stale_after");
    if (stale == 0) {
      int64_t longest = 0;
      for (const Stream& s : streams_) longest = std::max(longest, s.spec.interval_ns);
      stale = klines_ ? 2 * longest + 30'000'000'000 : 60'000'000'000;
    }
    o.stale_after_ns = stale;
    options_ = std::move(o);
  }

  ~ExchangeWsSource() override {
    if (client_) client_->stop();
  }

  void start(Context& ctx) {
    for (Stream& s : streams_) s.symbol = ctx.intern(s.spec.symbol);
    client_ = std::make_unique<WsClient>(options_, *this);
    client_->start();
    ctx.log(LogLevel::info, "connecting to " + std::string(options_.stream.tls ? "wss://" : "ws://") + options_.stream.host +
                                ":" + std::to_string(options_.stream.port) + options_.stream.path);
  }

  SourceStatus produce(Context& ctx, uint32_t max_events) {
    bool done = false;
    std::string fatal;
    if (taken_head_ == taken_.size()) {
      taken_.clear();
      taken_head_ = 0;
      std::unique_lock lock(queue_mutex_);
      if (ready_.empty() && logs_.empty() && !done_ && fatal_.empty()) {
        consumer_waiting_ = true;
        queue_cv_.wait_for(lock, std::chrono::milliseconds(2));
        consumer_waiting_ = false;
      }
      taken_.swap(ready_);
      logs_taken_.swap(logs_);
      done = done_;
      fatal = fatal_;
      if (paused_ && taken_.size() < max_queue_ / 2) {
        paused_ = false;
        client_->pause_reading(false);
      }
    } else {
      std::lock_guard lock(queue_mutex_);
      logs_taken_.swap(logs_);
      done = done_;
      fatal = fatal_;
    }
    for (const auto& [level, text] : logs_taken_) ctx.log(level, text);
    logs_taken_.clear();
    if (!fatal.empty()) throw std::runtime_error(fatal);
    const size_t n = std::min<size_t>(max_events, taken_.size() - taken_head_);
    for (size_t i = 0; i < n; ++i) ctx.emit(klines_ ? 0 : 1, taken_[taken_head_ + i]);
    taken_head_ += n;
    if (taken_head_ < taken_.size()) return SourceStatus::more;
    if (done) {
      std::lock_guard lock(queue_mutex_);
      if (ready_.empty()) return SourceStatus::done;
    }
    return n ? SourceStatus::more : SourceStatus::idle;
  }

  void stop(Context& ctx) {
    if (client_) {
      client_->stop();
      const WsClient::Stats st = client_->stats();
      std::lock_guard lock(feed_mutex_);
      ctx.log(LogLevel::info,
              "feed: " + std::to_string(st.messages) + " messages, " + std::to_string(counters_.bars) + " bars, " +
                  std::to_string(counters_.trades) + " trades, " + std::to_string(counters_.duplicates) + " duplicates, " +
                  std::to_string(counters_.late) + " late, " + std::to_string(counters_.gaps) + " gaps (" +
                  std::to_string(counters_.backfilled) + " bars backfilled, " + std::to_string(counters_.gaps_lost) +
                  " bars lost), " + std::to_string(counters_.malformed) + " malformed, " +
                  std::to_string(counters_.unexpected) + " unexpected, " + std::to_string(st.connects) + " connections, " +
                  std::to_string(st.stale_hangups) + " stale hang-ups");
    }
  }

  void save_state(StateWriter& w) const {
    std::lock_guard lock(feed_mutex_);
    w.put<uint32_t>(static_cast<uint32_t>(streams_.size()));
    for (const Stream& s : streams_) {
      w.put_string(s.spec.name);
      // What was emitted: the held-back klines will be asked for again.
      w.put<int64_t>(s.emitted_next);
      w.put<int64_t>(s.last_trade_id);
    }
  }

  void restore_state(StateReader& r) {
    const auto n = r.get<uint32_t>();
    if (n != streams_.size()) throw std::runtime_error("the saved feed has " + std::to_string(n) + " streams, this node " +
                                                       std::to_string(streams_.size()));
    for (Stream& s : streams_) {
      const std::string name = r.get_string();
      if (name != s.spec.name) throw std::runtime_error("the saved feed's stream '" + name + "' is not '" + s.spec.name + "'");
      s.next_open = s.emitted_next = r.get<int64_t>();
      s.last_trade_id = r.get<int64_t>();
    }
  }

  // ---- WsClientHandler: the service thread ----
  void on_connected() override { log(LogLevel::info, "connected"); }

  void on_message(std::string_view text) override {
    FeedRecord rec;
    std::string why;
    const ParseOutcome outcome = parser_->parse(text, rec, why);
    std::lock_guard lock(feed_mutex_);
    switch (outcome) {
      case ParseOutcome::record:
        if (rec.kind == StreamSpec::Kind::kline) {
          if (!rec.closed) {
            ++counters_.partial;
            return;
          }
          on_kline(rec);
        } else {
          on_trade(rec);
        }
        return;
      case ParseOutcome::ignored: return;
      case ParseOutcome::unexpected:
        note_bad(counters_.unexpected, "unexpected message", why, text);
        return;
      case ParseOutcome::malformed:
        note_bad(counters_.malformed, "malformed message", why, text);
        if (fail_on_malformed_) fail("malformed message: " + why);
        return;
    }
  }

  void on_disconnected(const Disconnect& d) override {
    if (d.clean && d.code == 1000 && d.reason == "replay finished") {
      client_->finish();
      log(LogLevel::info, "the feed ended (replay finished)");
      std::lock_guard lock(feed_mutex_);
      ended_ = true;
      // Klines that closed while the connection was down at the end come after the last one
      // received: no later kline will reveal that gap, so ask for them.
      for (Stream& s : streams_)
        if (s.spec.kind == StreamSpec::Kind::kline && !s.backfill_request) request_tail(s);
      release();
      return;
    }
    log(LogLevel::warn, std::string(d.connected ? "disconnected: " : "connection failed: ") + d.reason +
                            (d.clean ? " (close status " + std::to_string(d.code) + ")" : "") + "; reconnecting");
  }

  void on_response(uint64_t id, int status, std::string body, std::string error) override {
    std::lock_guard lock(feed_mutex_);
    for (size_t i = 0; i < streams_.size(); ++i) {
      Stream& s = streams_[i];
      if (s.backfill_request != id) continue;
      s.backfill_request = 0;
      const bool tail = s.tail;
      s.tail = false;
      std::vector<FeedRecord> records;
      std::string why = error;
      if (why.empty() && status != 200) why = "HTTP status " + std::to_string(status);
      if (why.empty() && !parser_->parse_backfill(body, static_cast<uint32_t>(i), records, why) && why.empty())
        why = "unreadable answer";
      if (tail) {
        took_tail(s, why, records);
      } else if (!why.empty()) {
        backfill_failed(s, "backfill of " + s.spec.name + " failed: " + why);
      } else {
        const int64_t wanted = s.next_open;
        for (const FeedRecord& r : records) {
          if (r.time_ns < s.next_open || r.time_ns > s.backfill_to) continue;
          if (s.held.emplace(r.time_ns, bar_of(s, r)).second) ++counters_.backfilled;
        }
        if (s.held.empty() || s.held.begin()->first != wanted)
          backfill_failed(s, "the REST API had no kline of " + s.spec.name + " at " + std::to_string(wanted / 1'000'000) + " ms yet");
        else
          s.backfill_failures = 0;
      }
      if (ended_ && !s.backfill_request) request_tail(s);  // a gap's backfill went first
      release();
      return;
    }
  }

  void on_gave_up(const std::string& why) override { fail(why); }

  void on_tick() override {
    std::lock_guard lock(feed_mutex_);
    release();
  }

  void on_turn_end() override {
    std::lock_guard lock(queue_mutex_);
    if (!wake_due_) return;
    wake_due_ = false;
    queue_cv_.notify_one();
  }

  // Ticks are needed while a bar waits for another stream or a backfill is pending or retried.
  bool wants_tick() override {
    std::lock_guard lock(feed_mutex_);
    for (const Stream& s : streams_)
      if (s.waiting_since || s.retry_at || s.backfill_request || !s.held.empty()) return true;
    return false;
  }

 private:
  struct Stream {
    StreamSpec spec;
    uint32_t symbol = 0;
    int64_t next_open = kUnknown;     // the next kline open time to emit
    int64_t emitted_next = kUnknown;  // what save_state records (equal to next_open)
    std::map<int64_t, qf_event> held;  // closed klines at or after next_open, by open time
    uint64_t backfill_request = 0;     // in flight
    int64_t backfill_to = 0;
    int backfill_failures = 0;
    bool tail = false, tail_done = false;  // fetching, or fetched, what closed after the feed ended
    int64_t tail_from = 0;
    int tail_failures = 0;
    int64_t retry_at = 0;              // steady ns
    int64_t waiting_since = 0;         // steady ns: when a bar of another stream began waiting for this one
    int64_t last_trade_id = -1;
    int64_t gap_noted = kUnknown;      // the start of the last gap reported
  };
  struct Counters {
    uint64_t bars = 0, trades = 0, partial = 0, duplicates = 0, late = 0, gaps = 0, backfilled = 0, gaps_lost = 0,
             malformed = 0, unexpected = 0;
  };

  qf_event bar_of(const Stream& s, const FeedRecord& r) const {
    return make_bar(s.symbol, r.time_ns, r.open, r.high, r.low, r.close, r.volume, s.spec.interval_ns);
  }

  void log(LogLevel level, std::string text) {
    std::lock_guard lock(queue_mutex_);
    if (logs_.size() < 10000) logs_.emplace_back(level, id_ + ": " + std::move(text));
    if (consumer_waiting_) queue_cv_.notify_one();
  }

  void fail(std::string why) {
    std::lock_guard lock(queue_mutex_);
    if (fatal_.empty()) fatal_ = std::move(why);
    queue_cv_.notify_one();
  }

  void note_bad(uint64_t& counter, const char* what, const std::string& why, std::string_view text) {
    ++counter;
    if (counter <= 10 || counter % 1000 == 0) {
      std::string sample(text.substr(0, 200));
      log(LogLevel::warn, std::string(what) + " #" + std::to_string(counter) + ": " + why + " — " + sample +
                              (text.size() > 200 ? "..." : ""));
    }
  }

  void push(const qf_event& ev) {
    std::lock_guard lock(queue_mutex_);
    ready_.push_back(ev);
    wake_due_ = consumer_waiting_;  // at the end of the client's turn: one wake-up per read, not per message
    if (!paused_ && ready_.size() >= max_queue_) {
      paused_ = true;
      client_->pause_reading(true);
    }
  }

  // ---- klines ----
  void on_kline(const FeedRecord& r) {
    Stream& s = streams_[r.stream];
    if (s.next_open != kUnknown && r.time_ns < s.next_open) {
      ++counters_.duplicates;
      return;
    }
    if (s.next_open == kUnknown) {
      if (r.time_ns <= frontier_) {
        ++counters_.late;  // the others went past it while this stream was silent
        return;
      }
      s.next_open = s.emitted_next = r.time_ns;  // the stream starts here
    }
    if (!s.held.emplace(r.time_ns, bar_of(s, r)).second) {
      ++counters_.duplicates;
      return;
    }
    release();
  }

  // (next expected time, stream index) of stream i; whether it is known.
  bool covers(size_t i, int64_t t, size_t best) const {
    const Stream& s = streams_[i];
    if (s.next_open == kUnknown) return ended_ && s.held.empty();
    if (s.next_open > t || (s.next_open == t && i > best)) return true;
    // Nothing more will come for it, unless a backfill is still on its way.
    return ended_ && s.backfill_request == 0 && (s.held.empty() || s.held.begin()->first > t) && s.backfill_failures >= kBackfillTries;
  }

  // Emits every bar that can go out in time order; asks for what is missing.
  void release() {
    const int64_t now = steady_ns();
    for (;;) {
      // The earliest contiguous bar of any stream.
      size_t best = streams_.size();
      int64_t best_t = 0;
      for (size_t i = 0; i < streams_.size(); ++i) {
        const Stream& s = streams_[i];
        if (s.held.empty()) continue;
        const int64_t t = s.held.begin()->first;
        if (s.next_open != kUnknown && t != s.next_open) continue;  // a gap first
        if (best == streams_.size() || t < best_t) best = i, best_t = t;
      }
      if (best == streams_.size()) break;
      bool ready = true;
      for (size_t i = 0; i < streams_.size(); ++i) {
        if (i == best || covers(i, best_t, best)) continue;
        Stream& s = streams_[i];
        if (!s.waiting_since) s.waiting_since = now;
        if (now - s.waiting_since < align_wait_ns_ && !ended_) {
          ready = false;
          continue;
        }
        // Waited long enough: a stream that never spoke starts here; a known one has a gap.
        if (s.next_open == kUnknown) {
          s.next_open = s.emitted_next = align_up(best_t + (i < best ? 1 : 0), s.spec.interval_ns);
          continue;
        }
        if (s.gap_noted != s.next_open) {
          s.gap_noted = s.next_open;
          ++counters_.gaps;
          log(LogLevel::warn, "gap in " + s.spec.name + ": nothing from " + format_ms(s.next_open) + " while " +
                                  streams_[best].spec.name + " reached " + format_ms(best_t) +
                                  (backfill_ ? ", fetching it" : ", backfill is off"));
        }
        request_backfill(s, best_t, now);
        if (s.backfill_request || s.backfill_failures < kBackfillTries) ready = false;
        else skip_gap(s, best_t + s.spec.interval_ns);
      }
      if (!ready) break;
      Stream& s = streams_[best];
      const qf_event ev = s.held.begin()->second;
      s.held.erase(s.held.begin());
      s.next_open = s.emitted_next = best_t + s.spec.interval_ns;
      s.waiting_since = 0;
      frontier_ = best_t;
      ++counters_.bars;
      push(ev);
    }
    // Gaps inside a stream: fetch them.
    for (Stream& s : streams_) {
      if (s.next_open == kUnknown || s.held.empty() || s.held.begin()->first == s.next_open) continue;
      const int64_t to = s.held.begin()->first - s.spec.interval_ns;
      if (s.gap_noted != s.next_open) {
        s.gap_noted = s.next_open;
        ++counters_.gaps;
        log(LogLevel::warn, "gap in " + s.spec.name + ": " + std::to_string((to - s.next_open) / s.spec.interval_ns + 1) +
                                " kline(s) missing from " + format_ms(s.next_open) +
                                (backfill_ ? ", fetching them" : ", backfill is off"));
      }
      request_backfill(s, to, now);
      if (s.backfill_request == 0 && s.backfill_failures >= kBackfillTries) {
        skip_gap(s, s.held.begin()->first);
      }
    }
    maybe_done();
  }

  void request_backfill(Stream& s, int64_t to, int64_t now) {
    if (s.backfill_request || !backfill_) {
      if (!backfill_) s.backfill_failures = kBackfillTries;
      return;
    }
    if (s.backfill_failures >= kBackfillTries || now < s.retry_at) return;
    s.backfill_to = to;
    const size_t index = static_cast<size_t>(&s - streams_.data());
    s.backfill_request = client_->get(parser_->backfill_path(static_cast<uint32_t>(index), s.next_open, to, kBackfillLimit));
  }

  // After the feed ended: the klines after the newest one held or emitted, a page at a time,
  // until a page comes back short. Once per stream (tail_done), tried kBackfillTries times.
  void request_tail(Stream& s) {
    if (!backfill_ || s.tail_done || s.next_open == kUnknown) return;
    s.tail = true;
    const int64_t from = s.held.empty() ? s.next_open : s.held.rbegin()->first + s.spec.interval_ns;
    s.backfill_to = from + static_cast<int64_t>(kBackfillLimit - 1) * s.spec.interval_ns;
    s.tail_from = from;
    const size_t index = static_cast<size_t>(&s - streams_.data());
    s.backfill_request = client_->get(parser_->backfill_path(static_cast<uint32_t>(index), from, s.backfill_to, kBackfillLimit));
  }
  void took_tail(Stream& s, const std::string& why, const std::vector<FeedRecord>& records) {
    if (!why.empty()) {
      if (++s.tail_failures < kBackfillTries) {
        log(LogLevel::warn, "fetching the last klines of " + s.spec.name + " failed: " + why + "; trying again");
        request_tail(s);
      } else {
        log(LogLevel::error, "fetching the last klines of " + s.spec.name + " failed: " + why +
                                 "; what closed after " + format_ms(s.tail_from - s.spec.interval_ns) + " is not in this run");
        s.tail_done = true;
      }
      return;
    }
    s.tail_failures = 0;
    for (const FeedRecord& r : records) {
      if (r.time_ns < s.tail_from || r.time_ns > s.backfill_to) continue;
      if (s.held.emplace(r.time_ns, bar_of(s, r)).second) ++counters_.backfilled;
    }
    if (records.size() >= kBackfillLimit) {
      request_tail(s);  // a full page: there may be more
      return;
    }
    s.tail_done = true;
  }

  void backfill_failed(Stream& s, const std::string& why) {
    ++s.backfill_failures;
    s.retry_at = steady_ns() + 250'000'000 * s.backfill_failures;
    log(LogLevel::warn, why + (s.backfill_failures < kBackfillTries ? "; trying again" : "; giving up on that gap"));
  }

  void skip_gap(Stream& s, int64_t resume_at) {
    const int64_t lost = (resume_at - s.next_open) / s.spec.interval_ns;
    counters_.gaps_lost += static_cast<uint64_t>(std::max<int64_t>(lost, 0));
    log(LogLevel::error, std::to_string(lost) + " kline(s) of " + s.spec.name + " from " + format_ms(s.next_open) +
                             " could not be recovered and are skipped");
    s.next_open = s.emitted_next = resume_at;
    s.backfill_failures = 0;
    s.retry_at = 0;
  }

  void maybe_done() {
    if (!ended_) return;
    for (const Stream& s : streams_)
      if (!s.held.empty() || s.backfill_request) return;
    std::lock_guard lock(queue_mutex_);
    done_ = true;
    queue_cv_.notify_one();
  }

  static std::string format_ms(int64_t ns) { return qflow::format_time(ns); }

  // ---- trades ----
  void on_trade(const FeedRecord& r) {
    Stream& s = streams_[r.stream];
    if (s.last_trade_id >= 0 && r.trade_id <= s.last_trade_id) {
      ++counters_.duplicates;
      return;
    }
    if (s.last_trade_id >= 0 && r.trade_id > s.last_trade_id + 1) {
      ++counters_.gaps;
      log(LogLevel::warn, "gap in " + s.spec.name + ": trade ids " + std::to_string(s.last_trade_id + 1) + " to " +
                              std::to_string(r.trade_id - 1) + " missing");
    }
    s.last_trade_id = r.trade_id;
    qf_event ev = make_event(Kind::tick, s.symbol, r.time_ns);
    if (ev.time_ns < frontier_) {
      ev.time_ns = frontier_;
      ++counters_.late;
    }
    frontier_ = ev.time_ns;
    ev.u.tick.price = r.price;
    ev.u.tick.size = r.quantity;
    ev.u.tick.aggressor = r.aggressor;
    ev.u.tick.trade_id = r.trade_id;
    ++counters_.trades;
    push(ev);
  }

  // Configuration.
  std::unique_ptr<FeedParser> parser_;
  WsClientOptions options_;
  const bool backfill_;
  const int64_t align_wait_ns_;
  const bool fail_on_malformed_;
  const size_t max_queue_;
  const std::string id_;
  bool klines_ = true;

  // The feed: service thread (and save_state, under the lock).
  mutable std::mutex feed_mutex_;
  std::vector<Stream> streams_;
  Counters counters_;
  int64_t frontier_ = kUnknown;  // time of the last event emitted
  bool ended_ = false;

  // Finished events on their way to the pipeline.
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<qf_event> ready_;
  std::vector<std::pair<LogLevel, std::string>> logs_;
  bool consumer_waiting_ = false;
  bool wake_due_ = false;
  bool paused_ = false;
  bool done_ = false;
  std::string fatal_;

  // The pipeline's thread.
  std::vector<qf_event> taken_;
  size_t taken_head_ = 0;
  std::vector<std::pair<LogLevel, std::string>> logs_taken_;
  std::unique_ptr<WsClient> client_;
};

}  // namespace

void register_exchange_ws(Registrar& r) { r.add<ExchangeWsSource>(); }

}  // namespace qflow::exchange
