// Recorded market data for the exchange simulator: a CSV file of bars or of trades, read whole
// into memory and validated before anything is served.
//
// Every number keeps the text it had in the file (trimmed, without a leading '+'), so the
// simulator sends exactly the digits a CSV backtest parses and paper trading sees the same
// doubles. Times are ns UTC (qflow::parse_time: "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS[.fff]", the ISO
// forms with T, Z or "+00:00").
//
// Bars: the header names the columns, case-insensitively: the time column (given, or the first of
// Date, Datetime, timestamp, time) holds the bar's open time; open, high, low, close; volume is
// optional (absent: "0"). A row is refused when its field count differs from the header's, a
// number or the time does not parse, a number is not finite, its time is not strictly after the
// previous row's, high < low, high < max(open, close), low > min(open, close), volume < 0, or it
// opens before the previous bar closed (bars of the interval would overlap). The interval is a
// Binance kline interval name, given, or else the smallest spacing between consecutive rows.
//
// Trades: a time column as above, a price column (given, or the first of price, close, last) and
// a quantity column (given, or the first of qty, quantity, volume, size); an optional
// is_buyer_maker column (true/false/1/0). Times may repeat but never go back; quantities are
// never negative.
//
// A file that breaks any rule is refused as a whole with std::runtime_error "path:LINE: reason".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::net {

// A Binance kline interval ("1s" ... "1M"). Every interval has a fixed length except "1M", a
// calendar month.
struct KlineInterval {
  std::string name;
  int64_t ns = 0;  // length; 0 for "1M"

  // The open time of the next bar: open + length, or the first day of the next month.
  int64_t close_of(int64_t open_ns) const;

  static std::optional<KlineInterval> named(std::string_view name);
  // The interval whose length is `ns` (28 to 31 days: "1M"), if Binance has one.
  static std::optional<KlineInterval> of_length(int64_t ns);
  // Every name, space separated, for error messages.
  static std::string all_names();
};

// Where one field's text sits in its series' arena.
struct FieldText {
  uint32_t offset = 0;
  uint32_t size = 0;
};

struct BarRow {
  int64_t open_ns = 0;
  int64_t close_ns = 0;  // the interval's end: the next bar's open time
  FieldText open, high, low, close, volume;
};

struct TradeRow {
  int64_t time_ns = 0;
  FieldText price, qty;
  bool buyer_maker = false;
};

struct BarColumns {
  std::string time;      // "" = the first of Date, Datetime, timestamp, time
  std::string interval;  // a Binance interval name; "" = inferred from the rows' spacing
};

struct TradeColumns {
  std::string time;   // "" = the first of Date, Datetime, timestamp, time
  std::string price;  // "" = the first of price, close, last
  std::string qty;    // "" = the first of qty, quantity, volume, size
};

// A loaded file's rows and the text of their numbers.
class MarketSeries {
 public:
  const std::string& path() const { return path_; }
  std::string_view text(FieldText f) const { return std::string_view(arena_).substr(f.offset, f.size); }

 protected:
  explicit MarketSeries(std::string path) : path_(std::move(path)) {}
  FieldText keep(std::string_view text);

 private:
  std::string path_;
  std::string arena_;
};

class BarSeries : public MarketSeries {
 public:
  static BarSeries load(const std::string& path, const BarColumns& columns = {});

  const KlineInterval& interval() const { return interval_; }
  const std::vector<BarRow>& rows() const { return rows_; }

 private:
  using MarketSeries::MarketSeries;
  KlineInterval interval_;
  std::vector<BarRow> rows_;
};

class TradeSeries : public MarketSeries {
 public:
  static TradeSeries load(const std::string& path, const TradeColumns& columns = {});

  const std::vector<TradeRow>& rows() const { return rows_; }

 private:
  using MarketSeries::MarketSeries;
  std::vector<TradeRow> rows_;
};

}  // namespace qflow::net
