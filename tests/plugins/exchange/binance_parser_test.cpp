// BinanceParser: stream names, messages as Binance sends them (built here from the real BTC and
// ETH CSV rows), the REST backfill answer, and every kind of bad message.
#include "feed_parser.hpp"

#include <qflow/abi.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace qflow::exchange;

namespace {

struct Row {
  int64_t open_ms;
  std::string o, h, l, c, v;
};

// "2024-10-01 03:00:00" → ms since the epoch (days from civil, Howard Hinnant's formula).
int64_t to_ms(const std::string& ts) {
  const int y0 = std::stoi(ts.substr(0, 4)), m = std::stoi(ts.substr(5, 2)), d = std::stoi(ts.substr(8, 2));
  const int H = std::stoi(ts.substr(11, 2)), M = std::stoi(ts.substr(14, 2)), S = std::stoi(ts.substr(17, 2));
  const int y = m <= 2 ? y0 - 1 : y0;
  const int era = y / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = int64_t{era} * 146097 + doe - 719468;
  return ((days * 24 + H) * 60 + M) * 60000 + S * 1000;
}

std::vector<Row> read_rows(const std::string& file, size_t n) {
  std::ifstream in(std::string(QFLOW_SHARED_DATA_DIR) + "/" + file);
  std::string line;
  std::getline(in, line);
  std::vector<Row> rows;
  while (rows.size() < n && std::getline(in, line)) {
    std::stringstream ss(line);
    std::string f[6];
    for (auto& x : f) std::getline(ss, x, ',');
    rows.push_back({to_ms(f[0]), f[1], f[2], f[3], f[4], f[5]});
  }
  return rows;
}

std::string kline_json(const std::string& symbol, const std::string& interval, int64_t interval_ms, const Row& r,
                       bool closed) {
  const int64_t close_ms = r.open_ms + interval_ms;
  return R"({"e":"kline","E":)" + std::to_string(close_ms) + R"(,"s":")" + symbol + R"(","k":{"t":)" +
         std::to_string(r.open_ms) + R"(,"T":)" + std::to_string(close_ms - 1) + R"(,"s":")" + symbol + R"(","i":")" +
         interval + R"(","f":-1,"L":-1,"o":")" + r.o + R"(","c":")" + r.c + R"(","h":")" + r.h + R"(","l":")" + r.l +
         R"(","v":")" + r.v + R"(","n":0,"x":)" + (closed ? "true" : "false") + R"(,"q":"0","V":"0","Q":"0","B":"0"}})";
}

std::string combined(const std::string& stream, const std::string& data) {
  return R"({"stream":")" + stream + R"(","data":)" + data + "}";
}

std::unique_ptr<FeedParser> parser_for(const std::vector<std::string>& names) {
  auto p = make_feed_parser("binance");
  std::vector<StreamSpec> specs;
  for (const auto& n : names) specs.push_back(p->resolve(n));
  p->subscribe(specs);
  return p;
}

}  // namespace

TEST_CASE("binance resolves stream names and builds the combined URL") {
  auto p = make_feed_parser("binance");
  REQUIRE(p);
  CHECK_FALSE(make_feed_parser("kraken"));
  const StreamSpec k = p->resolve("BTCUSDT@kline_1m");
  CHECK(k.kind == StreamSpec::Kind::kline);
  CHECK(k.name == "btcusdt@kline_1m");
  CHECK(k.symbol == "BTCUSDT");
  CHECK(k.interval == "1m");
  CHECK(k.interval_ns == 60'000'000'000);
  CHECK(p->resolve("ethusdt@kline_4h").interval_ns == 4 * 3600 * int64_t{1'000'000'000});
  CHECK(p->resolve("ethusdt@kline_1w").interval_ns == 7 * 86400 * int64_t{1'000'000'000});
  const StreamSpec t = p->resolve("ethusdt@trade");
  CHECK(t.kind == StreamSpec::Kind::trade);
  CHECK(t.symbol == "ETHUSDT");
  CHECK_THROWS_WITH(p->resolve("btcusdt@kline_1M"), Catch::Contains("1M is not supported"));
  CHECK_THROWS_WITH(p->resolve("btcusdt@kline_7m"), Catch::Contains("unknown kline interval '7m'"));
  CHECK_THROWS_WITH(p->resolve("btcusdt@depth"), Catch::Contains("unsupported stream type 'depth'"));
  CHECK_THROWS_WITH(p->resolve("btcusdt"), Catch::Contains("not a Binance stream name"));
  CHECK_THROWS_WITH(p->resolve("btc-usdt@trade"), Catch::Contains("letters and digits"));
  p->subscribe({k, t});
  CHECK(p->stream_path() == "/stream?streams=btcusdt@kline_1m/ethusdt@trade");
  CHECK(p->backfill_path(0, 1727751600000LL * 1'000'000, 1727751660000LL * 1'000'000, 1000) ==
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1727751600000&endTime=1727751660000&limit=1000");
}

TEST_CASE("binance klines of real BTC and ETH rows decode to exactly the CSV's numbers") {
  auto p = parser_for({"btcusdt@kline_1m", "ethusdt@kline_1m"});
  const auto btc = read_rows("binance_spot_btcusdt_1m_2024q4.csv", 500);
  const auto eth = read_rows("binance_spot_ethusdt_1m_2024q4.csv", 500);
  REQUIRE(btc.size() == 500);
  for (size_t i = 0; i < btc.size(); ++i) {
    for (int s = 0; s < 2; ++s) {
      const Row& r = s == 0 ? btc[i] : eth[i];
      const std::string sym = s == 0 ? "BTCUSDT" : "ETHUSDT";
      const std::string stream = s == 0 ? "btcusdt@kline_1m" : "ethusdt@kline_1m";
      FeedRecord rec;
      std::string why;
      REQUIRE(p->parse(combined(stream, kline_json(sym, "1m", 60000, r, true)), rec, why) == ParseOutcome::record);
      CHECK(rec.kind == StreamSpec::Kind::kline);
      CHECK(rec.stream == static_cast<uint32_t>(s));
      CHECK(rec.closed);
      CHECK(rec.time_ns == r.open_ms * 1'000'000);
      CHECK(rec.event_ns == (r.open_ms + 60000) * 1'000'000);
      CHECK(rec.open == std::strtod(r.o.c_str(), nullptr));
      CHECK(rec.high == std::strtod(r.h.c_str(), nullptr));
      CHECK(rec.low == std::strtod(r.l.c_str(), nullptr));
      CHECK(rec.close == std::strtod(r.c.c_str(), nullptr));
      CHECK(rec.volume == std::strtod(r.v.c_str(), nullptr));
    }
  }
  // The raw single-stream form: the payload alone, matched by symbol and interval.
  FeedRecord rec;
  std::string why;
  REQUIRE(p->parse(kline_json("ETHUSDT", "1m", 60000, eth[7], false), rec, why) == ParseOutcome::record);
  CHECK(rec.stream == 1);
  CHECK_FALSE(rec.closed);
  CHECK(rec.close == std::strtod(eth[7].c.c_str(), nullptr));
}

TEST_CASE("binance trades decode with their aggressor") {
  auto p = parser_for({"btcusdt@trade"});
  FeedRecord rec;
  std::string why;
  const std::string buyer_maker =
      R"({"e":"trade","E":1727751600123,"s":"BTCUSDT","t":4000000001,"p":"63443.76","q":"0.00150","T":1727751600120,"m":true,"M":true})";
  REQUIRE(p->parse(combined("btcusdt@trade", buyer_maker), rec, why) == ParseOutcome::record);
  CHECK(rec.kind == StreamSpec::Kind::trade);
  CHECK(rec.trade_id == 4000000001);
  CHECK(rec.price == 63443.76);
  CHECK(rec.quantity == 0.0015);
  CHECK(rec.time_ns == 1727751600120LL * 1'000'000);
  CHECK(rec.aggressor == QF_SIDE_SELL);  // the buyer rested: a seller hit it
  const std::string buyer_taker =
      R"({"e":"trade","E":1,"s":"BTCUSDT","t":2,"p":"1.5","q":"3","T":1,"m":false,"M":true})";
  REQUIRE(p->parse(buyer_taker, rec, why) == ParseOutcome::record);
  CHECK(rec.aggressor == QF_SIDE_BUY);
}

TEST_CASE("binance tells ignored, unexpected and malformed messages apart and says why") {
  auto p = parser_for({"btcusdt@kline_1m"});
  const Row r{1727751600000, "63443.76", "63460.0", "63440.0", "63440.01", "14.63212"};
  const std::string good = kline_json("BTCUSDT", "1m", 60000, r, true);
  FeedRecord rec;
  std::string why;
  CHECK(p->parse(R"({"result":null,"id":1})", rec, why) == ParseOutcome::ignored);

  struct Case {
    std::string text;
    ParseOutcome outcome;
    std::string why;
  };
  auto replace = [&](std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  const std::vector<Case> cases = {
      {combined("ethusdt@kline_1m", good), ParseOutcome::unexpected, "not subscribed"},
      {combined("btcusdt@kline_1m", replace(good, "\"e\":\"kline\"", "\"e\":\"depthUpdate\"")), ParseOutcome::unexpected, "depthUpdate"},
      {combined("btcusdt@kline_1m", replace(good, "\"i\":\"1m\"", "\"i\":\"5m\"")), ParseOutcome::unexpected, "matches no subscribed"},
      {kline_json("XRPUSDT", "1m", 60000, r, true), ParseOutcome::unexpected, "XRPUSDT"},
      {good.substr(0, good.size() / 2), ParseOutcome::malformed, "not valid JSON"},
      {"not json at all", ParseOutcome::malformed, "not valid JSON"},
      {R"({"stream":"btcusdt@kline_1m","data":"x"})", ParseOutcome::malformed, "object \"data\""},
      {R"({"stream":5,"data":{}})", ParseOutcome::malformed, "string \"stream\""},
      {combined("btcusdt@kline_1m", R"({"E":1})"), ParseOutcome::malformed, "no event type"},
      {combined("btcusdt@kline_1m", replace(good, "\"E\":", "\"X\":")), ParseOutcome::malformed, "\"E\""},
      {combined("btcusdt@kline_1m", replace(good, "\"o\":\"63443.76\"", "\"o\":\"abc\"")), ParseOutcome::malformed, "decimal"},
      {combined("btcusdt@kline_1m", replace(good, "\"o\":\"63443.76\"", "\"o\":null")), ParseOutcome::malformed, "decimal"},
      {combined("btcusdt@kline_1m", replace(good, "\"t\":1727751600000", "\"t\":\"1727751600000\"")), ParseOutcome::malformed, "k.t"},
      {combined("btcusdt@kline_1m", replace(good, "\"t\":1727751600000", "\"t\":9223372036854775807")), ParseOutcome::malformed, "k.t"},
      {combined("btcusdt@kline_1m", replace(good, "\"x\":true", "\"x\":1")), ParseOutcome::malformed, "k.x"},
      {combined("btcusdt@kline_1m", replace(good, "\"h\":\"63460.0\"", "\"h\":\"63000\"")), ParseOutcome::malformed, "impossible kline"},
      {combined("btcusdt@kline_1m", replace(good, "\"v\":\"14.63212\"", "\"v\":\"-1\"")), ParseOutcome::malformed, "impossible kline"},
      {combined("btcusdt@kline_1m", R"({"e":"kline","E":1,"k":5})"), ParseOutcome::malformed, "\"k\""},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    why.clear();
    CHECK(p->parse(c.text, rec, why) == c.outcome);
    CHECK_THAT(why, Catch::Contains(c.why));
  }
  // And the good one still parses after all that.
  CHECK(p->parse(combined("btcusdt@kline_1m", good), rec, why) == ParseOutcome::record);
  CHECK(rec.close == 63440.01);
}

TEST_CASE("binance backfill answers decode, and errors say what the exchange said") {
  auto p = parser_for({"btcusdt@kline_1m"});
  const auto rows = read_rows("binance_spot_btcusdt_1m_2024q4.csv", 3);
  std::string body = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (i) body += ',';
    body += '[';
    body += std::to_string(r.open_ms);
    for (const std::string* f : {&r.o, &r.h, &r.l, &r.c, &r.v}) {
      body += ",\"";
      body += *f;
      body += '"';
    }
    body += ',';
    body += std::to_string(r.open_ms + 59999);
    body += R"(,"0",0,"0","0","0"])";
  }
  body += "]";
  std::vector<FeedRecord> out;
  std::string why;
  REQUIRE(p->parse_backfill(body, 0, out, why));
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(out[i].time_ns == rows[i].open_ms * 1'000'000);
    CHECK(out[i].closed);
    CHECK(out[i].open == std::strtod(rows[i].o.c_str(), nullptr));
    CHECK(out[i].close == std::strtod(rows[i].c.c_str(), nullptr));
    CHECK(out[i].volume == std::strtod(rows[i].v.c_str(), nullptr));
  }
  out.clear();
  CHECK(p->parse_backfill("[]", 0, out, why));
  CHECK(out.empty());
  CHECK_FALSE(p->parse_backfill(R"({"code":-1121,"msg":"Invalid symbol."})", 0, out, why));
  CHECK(why == "the exchange answered Invalid symbol.");
  CHECK_FALSE(p->parse_backfill("[[1,\"2\"]]", 0, out, why));
  CHECK_THAT(why, Catch::Contains("kline 0"));
  CHECK_FALSE(p->parse_backfill("[[1,\"2\",\"3\",\"1\",\"2\",\"x\"]]", 0, out, why));
  CHECK_FALSE(p->parse_backfill("<html>", 0, out, why));
  CHECK_THAT(why, Catch::Contains("not valid JSON"));
}
