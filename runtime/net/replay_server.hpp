// The exchange simulator: replays recorded bars and trades over WebSocket and HTTP in Binance's
// public spot wire format, the test bed and default feed for paper trading.
//
// Streams (all on one port, ws:// or wss:// with a certificate):
//   /stream?streams=btcusdt@kline_1m/ethusdt@trade   each message {"stream":NAME,"data":DATA}
//   /ws/btcusdt@kline_1m                             each message is DATA alone
// A bar feed is the stream <symbol>@kline_<interval>; a trade feed <symbol>@trade (symbols lower
// case in stream names, upper case in messages). A kline is sent closed (x=true) when its interval
// ends, its event time E being that end; with partial_klines an x=false copy of the same bar goes
// just before it, with E one ms earlier (its close time T). Trades carry ids 1, 2, 3... per feed and E = their time. Every time in a message
// is the recorded data's own (ms), never the wall clock; every number is the CSV's text.
//
// HTTP on the same port: GET /api/v3/klines (symbol, interval, startTime, endTime, limit: default
// 500, at most 1000) answers with the klines already sent out, never one the replay has not
// reached; GET /api/v3/ping → {}, GET /api/v3/time → {"serverTime": the replay's now}. Errors are
// Binance's {"code":-1121,"msg":"Invalid symbol."} with status 400; an unknown path is 404.
// GET /control/stats and POST /control/fault {"kind":..,"count":n,"ms":n} drive the faults.
//
// Timeline: one clock for every client, like an exchange. Messages of all feeds are merged by
// release time (feed order breaks ties). The clock starts when the first client subscribes (or at
// start() with start_immediately); at speed S message i is due at start + (release_i -
// release_0) / S. At speed 0 ("max") there is no pacing: each connection is sent messages as fast
// as its socket takes them, and the replay's position is the furthest any connection has got. A
// connection starts at the current position: it gets no history (that is what /api/v3/klines is
// for). When a connection has been sent everything, it is closed with status 1000 and the reason
// "replay finished"; a subscription naming an unknown stream is closed with 1008 and a reason
// saying which. A ping goes to each client every ping_every.
//
// Faults, to test clients. Each connection numbers the messages of its streams 1, 2, 3... as the
// replay reaches them; message k is dropped when drop_every divides k, else replaced by a
// malformed one when malformed_every does (in turn: truncated JSON, not JSON, JSON missing fields,
// an unknown event type), else sent twice when duplicate_every does, else swapped with the next
// one when reorder_every does. disconnect_every drops every connection without a close frame;
// stall_every/stall_for stops all sending, pings included, for a while (the clock goes on, so the
// messages due meanwhile come in a burst after). inject() and POST /control/fault apply the same
// faults on demand to the next `count` messages of every open connection (of the next connection
// to subscribe when none is open); an injected fault comes before the periodic ones. Counters in
// stats() are exact, so a test can tell precisely what a client should have received.
//
// Threads: the constructor loads and validates every file (throws std::runtime_error with
// "path:LINE: reason"); start() binds and runs one service thread, which alone calls
// libwebsockets. inject(), stats(), finished(), stop() may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qflow::net {

struct ReplayFeed {
  enum Kind { bars, ticks };
  std::string symbol;  // BTCUSDT (upper-cased); letters and digits
  std::string path;    // the CSV file
  Kind kind = bars;
  std::string interval;  // bars: a Binance interval name ("1m", "1d"); "" = inferred from the rows
  std::string time_column;   // "" = the first of Date, Datetime, timestamp, time
  std::string price_column;  // ticks: "" = the first of price, close, last
  std::string qty_column;    // ticks: "" = the first of qty, quantity, volume, size
};

struct ReplayFaults {
  int64_t disconnect_every_ns = 0;  // 0 = never
  uint64_t drop_every = 0;          // 0 = never; N = every Nth message of a connection
  uint64_t duplicate_every = 0;
  uint64_t malformed_every = 0;
  uint64_t reorder_every = 0;
  int64_t stall_every_ns = 0;  // with stall_for_ns, which must be shorter
  int64_t stall_for_ns = 0;
};

struct ReplayOptions {
  std::vector<ReplayFeed> feeds;
  double speed = 1;  // replayed time per wall time; 0 = as fast as each client reads ("max")
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port (see port())
  std::string cert, key;  // PEM files; both set = wss:// and https://
  ReplayFaults faults;
  bool start_immediately = false;  // start the clock at start(), not at the first subscription
  bool exit_at_end = false;        // stop serving once the replay finished (see finished())
  bool partial_klines = false;
  int64_t ping_every_ns = 20 * int64_t{1'000'000'000};  // 0 = no pings
  bool record_send_times = false;  // keep when each data frame was written (benchmarks)
};

struct ReplayFault {
  enum class Kind { disconnect, drop, duplicate, malformed, stall, reorder };
  Kind kind = Kind::drop;
  uint64_t count = 1;        // drop, duplicate, malformed, reorder: how many messages
  int64_t duration_ns = 0;   // stall: how long

  // "drop", "stall"...; false if the name is none of them.
  static bool kind_named(const std::string& name, Kind& out);
};

struct ReplayStats {
  uint64_t sent = 0;         // data frames written, copies and malformed ones included
  uint64_t dropped = 0;
  uint64_t duplicated = 0;   // extra copies sent
  uint64_t malformed = 0;    // messages replaced by malformed ones
  uint64_t reordered = 0;    // messages held back and sent after the next one
  uint64_t disconnects = 0;  // connections dropped by a disconnect fault
  uint64_t stalls = 0;       // stalls begun
  uint64_t clients = 0;      // connections subscribed now
  uint64_t connections = 0;  // connections subscribed since start
  uint64_t position = 0;     // messages of the timeline the replay has reached
  uint64_t total = 0;        // messages in the timeline
};

class ReplayServer {
 public:
  using Fault = ReplayFault;
  using Stats = ReplayStats;

  explicit ReplayServer(ReplayOptions options);
  ~ReplayServer();
  ReplayServer(const ReplayServer&) = delete;
  ReplayServer& operator=(const ReplayServer&) = delete;

  void start();  // throws std::runtime_error when it cannot listen
  void stop();   // closes every connection (1001 "server stopping") and joins the thread

  int port() const;
  bool tls() const;
  // Every stream's name, in feed order ("btcusdt@kline_1m").
  std::vector<std::string> streams() const;
  // ws[s]://host:port/stream?streams=a/b (every stream when `streams` is empty).
  std::string url(const std::vector<std::string>& streams = {}) const;
  // ws[s]://host:port/ws/<stream>
  std::string raw_url(const std::string& stream) const;
  // http[s]://host:port
  std::string http_url() const;

  void inject(const Fault& fault);
  Stats stats() const;
  // With record_send_times: the steady-clock time (ns) each data frame was handed to the
  // socket, in sending order, over every connection. Read it once the replay finished.
  std::vector<int64_t> send_times() const;
  // The replay reached its end and every connection has been closed.
  bool finished() const;
  // Returns once finished() or stop() was called.
  void wait_finished();

 private:
  struct Service;  // the timeline and the service thread's state
  std::unique_ptr<Service> service_;
};

}  // namespace qflow::net
