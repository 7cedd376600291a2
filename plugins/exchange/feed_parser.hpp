// The exchange side of source.exchange_ws: what one exchange's public stream looks like.
//
// A FeedParser knows one exchange's wire format: how its stream names are spelled, which URL
// subscribes to several streams at once, how a message decodes into a market record, and how to
// ask its REST API for the klines a disconnect made us miss. The WebSocket client, reconnects,
// heartbeats, gap and duplicate handling and time ordering (exchange_ws.cpp) are the same for
// every exchange. Adding an exchange means writing one class like BinanceParser (binance.cpp)
// and naming it in make_feed_parser().
//
// Parsers run on the client's service thread, one message at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::exchange {

struct StreamSpec {
  enum class Kind : uint8_t { kline, trade };
  Kind kind = Kind::kline;
  std::string name;      // as the exchange spells it: "btcusdt@kline_1m"
  std::string symbol;    // as qflow names it: "BTCUSDT"
  std::string interval;  // "1m" (klines)
  int64_t interval_ns = 0;
};

// One market record decoded from a message.
struct FeedRecord {
  StreamSpec::Kind kind = StreamSpec::Kind::kline;
  uint32_t stream = 0;   // index into the subscribed streams
  int64_t time_ns = 0;   // kline: open time; trade: trade time
  int64_t event_ns = 0;  // when the exchange says it sent the message
  bool closed = false;   // kline: final (not an in-progress update)
  double open = 0, high = 0, low = 0, close = 0, volume = 0;
  double price = 0, quantity = 0;
  int64_t trade_id = 0;
  int32_t aggressor = 0;  // QF_SIDE_BUY / QF_SIDE_SELL / 0
};

enum class ParseOutcome : uint8_t {
  record,      // `out` holds a market record
  ignored,     // well-formed and expected, but no market data (a subscription reply)
  unexpected,  // well-formed, but not something we subscribed to (another stream, event type)
  malformed    // not valid JSON, or a field missing or of the wrong type
};

class FeedParser {
 public:
  virtual ~FeedParser() = default;
  virtual std::string_view exchange() const = 0;
  // Resolves a stream name as a user writes it; throws std::invalid_argument saying why not.
  virtual StreamSpec resolve(std::string_view name) const = 0;
  // The streams this parser will be given messages of, in the order records refer to them.
  virtual void subscribe(const std::vector<StreamSpec>& streams) = 0;
  // Path and query of the WebSocket URL that carries all subscribed streams.
  virtual std::string stream_path() const = 0;
  // Decodes one text message. On `unexpected` and `malformed`, `why` says what was wrong.
  virtual ParseOutcome parse(std::string_view message, FeedRecord& out, std::string& why) = 0;
  // Path and query of the REST request for the closed klines of `stream` opening in
  // [from_ns, to_ns], at most `limit` of them; and the decoding of its answer.
  virtual std::string backfill_path(uint32_t stream, int64_t from_ns, int64_t to_ns, uint32_t limit) const = 0;
  virtual bool parse_backfill(std::string_view body, uint32_t stream, std::vector<FeedRecord>& out,
                              std::string& why) const = 0;
};

// "binance"; nullptr for an exchange we do not know.
std::unique_ptr<FeedParser> make_feed_parser(std::string_view exchange);
std::vector<std::string> known_exchanges();

// Kline interval names shared by the major exchanges ("1s", "1m", ..., "1w") to nanoseconds;
// 0 for anything else (including "1M", whose length varies).
int64_t interval_ns_of(std::string_view name);

}  // namespace qflow::exchange
