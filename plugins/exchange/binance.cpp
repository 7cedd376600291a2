// Binance spot public streams (https://developers.binance.com, "WebSocket Streams").
//
// Streams: "<symbol>@kline_<interval>" and "<symbol>@trade", symbols in lower case. Several
// streams share one connection through the combined endpoint `/stream?streams=a/b/c`, where each
// message is {"stream": "<name>", "data": <payload>}; a single raw stream (`/ws/<name>`) sends
// the bare payload, which is accepted too.
//   kline: {"e":"kline","E":<ms>,"s":"BTCUSDT","k":{"t":<open ms>,"T":<close ms>,"s":"BTCUSDT",
//           "i":"1m","o":"..","h":"..","l":"..","c":"..","v":"..","x":<closed>,...}}
//   trade: {"e":"trade","E":<ms>,"s":"BTCUSDT","t":<trade id>,"p":"..","q":"..","T":<ms>,
//           "m":<buyer is the maker>,...}
// Prices and quantities are decimal strings, parsed correctly rounded (std::from_chars), so a
// bar from the stream holds exactly the doubles a CSV of the same text gives. A buyer-maker
// trade was initiated by a seller: its aggressor is SELL.
// Backfill: GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit= answers
// [[open ms, "o", "h", "l", "c", "v", close ms, ...], ...]; errors are {"code":..,"msg":..}.
#include "feed_parser.hpp"
#include "json_scan.hpp"

#include <qflow/abi.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace qflow::exchange {

int64_t interval_ns_of(std::string_view name) {
  struct Entry {
    std::string_view name;
    int64_t seconds;
  };
  static constexpr Entry kIntervals[] = {{"1s", 1},         {"1m", 60},        {"3m", 180},       {"5m", 300},
                                         {"15m", 900},      {"30m", 1800},     {"1h", 3600},      {"2h", 7200},
                                         {"4h", 14400},     {"6h", 21600},     {"8h", 28800},     {"12h", 43200},
                                         {"1d", 86400},     {"3d", 259200},    {"1w", 604800}};
  for (const Entry& e : kIntervals)
    if (e.name == name) return e.seconds * 1'000'000'000;
  return 0;
}

namespace {

constexpr int64_t kNsPerMs = 1'000'000;

bool ms_to_ns(int64_t ms, int64_t& ns) { return !__builtin_mul_overflow(ms, kNsPerMs, &ns); }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

class BinanceParser final : public FeedParser {
 public:
  std::string_view exchange() const override { return "binance"; }

  StreamSpec resolve(std::string_view name) const override {
    const size_t at = name.find('@');
    if (at == std::string_view::npos || at == 0)
      throw std::invalid_argument("'" + std::string(name) + "' is not a Binance stream name (<symbol>@kline_<interval> or <symbol>@trade)");
    const std::string_view symbol = name.substr(0, at);
    for (char c : symbol)
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
        throw std::invalid_argument("'" + std::string(name) + "': a symbol is letters and digits");
    const std::string_view what = name.substr(at + 1);
    StreamSpec s;
    s.symbol = upper(symbol);
    if (what == "trade") {
      s.kind = StreamSpec::Kind::trade;
      s.name = lower(symbol) + "@trade";
      return s;
    }
    if (what.substr(0, 6) == "kline_") {
      s.kind = StreamSpec::Kind::kline;
      s.interval = std::string(what.substr(6));
      s.interval_ns = interval_ns_of(s.interval);
      if (s.interval_ns == 0)
        throw std::invalid_argument("'" + std::string(name) + "': unknown kline interval '" + s.interval +
                                    "' (1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; 1M is not supported)");
      s.name = lower(symbol) + "@kline_" + s.interval;
      return s;
    }
    throw std::invalid_argument("'" + std::string(name) + "': unsupported stream type '" + std::string(what) +
                                "' (kline_<interval> or trade)");
  }

  void subscribe(const std::vector<StreamSpec>& streams) override { streams_ = streams; }

  std::string stream_path() const override {
    std::string path = "/stream?streams=";
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (i) path += '/';
      path += streams_[i].name;
    }
    return path;
  }

  ParseOutcome parse(std::string_view message, FeedRecord& out, std::string& why) override {
    if (!top_.parse(message)) {
      why = "not valid JSON: " + top_.error();
      return ParseOutcome::malformed;
    }
    const JsonObject* data = &top_;
    int named = -1;  // the stream the envelope names, if any
    if (const JsonMember* stream = top_.find("stream")) {
      const JsonMember* payload = top_.find("data");
      if (stream->type != JsonType::string || !payload || payload->type != JsonType::object) {
        why = "a combined-stream message needs a string \"stream\" and an object \"data\"";
        return ParseOutcome::malformed;
      }
      const std::string_view name = stream->raw.substr(1, stream->raw.size() - 2);
      named = find_by_name(name);
      if (named < 0) {
        why = "a message of stream '" + std::string(name) + "', which was not subscribed";
        return ParseOutcome::unexpected;
      }
      if (!data_.parse(payload->raw)) {
        why = "bad \"data\": " + data_.error();
        return ParseOutcome::malformed;
      }
      data = &data_;
    } else if (top_.find("result") && top_.find("id")) {
      return ParseOutcome::ignored;  // the answer to a SUBSCRIBE request
    }
    const std::optional<std::string_view> event = data->string("e");
    if (!event) {
      why = "no event type \"e\"";
      return ParseOutcome::malformed;
    }
    const std::optional<int64_t> event_ms = data->integer("E");
    if (!event_ms || !ms_to_ns(*event_ms, out.event_ns)) return missing("E", why);
    if (*event == "kline") return kline(*data, named, out, why);
    if (*event == "trade") return trade(*data, named, out, why);
    why = "event type '" + std::string(*event) + "', which qflow does not read";
    return ParseOutcome::unexpected;
  }

  std::string backfill_path(uint32_t stream, int64_t from_ns, int64_t to_ns, uint32_t limit) const override {
    const StreamSpec& s = streams_.at(stream);
    return "/api/v3/klines?symbol=" + s.symbol + "&interval=" + s.interval + "&startTime=" +
           std::to_string(from_ns / kNsPerMs) + "&endTime=" + std::to_string(to_ns / kNsPerMs) + "&limit=" +
           std::to_string(limit);
  }

  bool parse_backfill(std::string_view body, uint32_t stream, std::vector<FeedRecord>& out,
                      std::string& why) const override {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded()) {
      why = "the klines answer is not valid JSON: '" + std::string(body.substr(0, 120)) + (body.size() > 120 ? "...'" : "'");
      return false;
    }
    if (j.is_object()) {
      why = "the exchange answered " + (j.contains("msg") && j["msg"].is_string() ? j["msg"].get<std::string>() : j.dump());
      return false;
    }
    if (!j.is_array()) {
      why = "the klines answer is not an array";
      return false;
    }
    const StreamSpec& s = streams_.at(stream);
    for (size_t i = 0; i < j.size(); ++i) {
      const nlohmann::json& row = j[i];
      FeedRecord r;
      r.kind = StreamSpec::Kind::kline;
      r.stream = stream;
      r.closed = true;
      std::optional<double> v[5];
      bool ok = row.is_array() && row.size() >= 6 && row[0].is_number_integer() &&
                ms_to_ns(row[0].get<int64_t>(), r.time_ns);
      for (size_t k = 0; ok && k < 5; ++k) {
        if (row[k + 1].is_string())
          v[k] = parse_decimal(row[k + 1].get_ref<const std::string&>());
        ok = v[k].has_value();
      }
      if (!ok) {
        why = "kline " + std::to_string(i) + " of the answer is malformed";
        return false;
      }
      r.open = *v[0], r.high = *v[1], r.low = *v[2], r.close = *v[3], r.volume = *v[4];
      r.event_ns = r.time_ns + s.interval_ns;
      out.push_back(r);
    }
    return true;
  }

 private:
  static ParseOutcome missing(const char* field, std::string& why) {
    why = std::string("field \"") + field + "\" missing or of the wrong type";
    return ParseOutcome::malformed;
  }

  int find_by_name(std::string_view name) const {
    for (size_t i = 0; i < streams_.size(); ++i)
      if (streams_[i].name == name) return static_cast<int>(i);
    return -1;
  }

  int find(StreamSpec::Kind kind, std::string_view symbol, std::string_view interval) const {
    for (size_t i = 0; i < streams_.size(); ++i)
      if (streams_[i].kind == kind && streams_[i].symbol == symbol && streams_[i].interval == interval)
        return static_cast<int>(i);
    return -1;
  }

  ParseOutcome resolve_stream(int named, int found, std::string_view symbol, std::string& why, FeedRecord& out) {
    if (found < 0 || (named >= 0 && named != found)) {
      why = "a record of " + std::string(symbol) + " that matches no subscribed stream";
      return ParseOutcome::unexpected;
    }
    out.stream = static_cast<uint32_t>(found);
    return ParseOutcome::record;
  }

  ParseOutcome kline(const JsonObject& data, int named, FeedRecord& out, std::string& why) {
    const JsonMember* k = data.find("k");
    if (!k || k->type != JsonType::object) return missing("k", why);
    if (!kline_.parse(k->raw)) {
      why = "bad \"k\": " + kline_.error();
      return ParseOutcome::malformed;
    }
    const auto symbol = kline_.string("s");
    const auto interval = kline_.string("i");
    const auto open_ms = kline_.integer("t");
    const auto closed = kline_.boolean("x");
    const auto o = kline_.decimal("o"), h = kline_.decimal("h"), l = kline_.decimal("l"), c = kline_.decimal("c"),
               v = kline_.decimal("v");
    if (!symbol) return missing("k.s", why);
    if (!interval) return missing("k.i", why);
    if (!open_ms || !ms_to_ns(*open_ms, out.time_ns)) return missing("k.t", why);
    if (!closed) return missing("k.x", why);
    if (!o || !h || !l || !c || !v) return missing("k.o/h/l/c/v (decimal strings)", why);
    if (*h < *l || *h < std::max(*o, *c) || *l > std::min(*o, *c) || *v < 0) {
      why = "an impossible kline (high below low, open or close, or negative volume)";
      return ParseOutcome::malformed;
    }
    out.kind = StreamSpec::Kind::kline;
    out.closed = *closed;
    out.open = *o, out.high = *h, out.low = *l, out.close = *c, out.volume = *v;
    return resolve_stream(named, find(StreamSpec::Kind::kline, *symbol, *interval), *symbol, why, out);
  }

  ParseOutcome trade(const JsonObject& data, int named, FeedRecord& out, std::string& why) {
    const auto symbol = data.string("s");
    const auto id = data.integer("t");
    const auto price = data.decimal("p"), qty = data.decimal("q");
    const auto time_ms = data.integer("T");
    const auto maker = data.boolean("m");
    if (!symbol) return missing("s", why);
    if (!id) return missing("t", why);
    if (!price || !qty) return missing("p/q (decimal strings)", why);
    if (!time_ms || !ms_to_ns(*time_ms, out.time_ns)) return missing("T", why);
    if (*price <= 0 || *qty < 0) {
      why = "a trade with a non-positive price or a negative quantity";
      return ParseOutcome::malformed;
    }
    out.kind = StreamSpec::Kind::trade;
    out.closed = true;
    out.trade_id = *id;
    out.price = *price;
    out.quantity = *qty;
    out.aggressor = !maker ? 0 : *maker ? QF_SIDE_SELL : QF_SIDE_BUY;
    return resolve_stream(named, find(StreamSpec::Kind::trade, *symbol, ""), *symbol, why, out);
  }

  std::vector<StreamSpec> streams_;
  JsonObject top_, data_, kline_;
};

}  // namespace

std::unique_ptr<FeedParser> make_feed_parser(std::string_view exchange) {
  if (exchange == "binance") return std::make_unique<BinanceParser>();
  return nullptr;
}

std::vector<std::string> known_exchanges() { return {"binance"}; }

}  // namespace qflow::exchange
