// Reading and validating the simulator's CSV files (market_file.hpp has the rules).
#include "market_file.hpp"

#include <qflow/time.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace qflow::net {
namespace {

constexpr int64_t kSecond = kNanosPerSecond;
constexpr int64_t kDay = 86400 * kSecond;

struct NamedLength {
  const char* name;
  int64_t ns;
};
constexpr NamedLength kIntervals[] = {
    {"1s", kSecond},         {"1m", 60 * kSecond},     {"3m", 180 * kSecond},   {"5m", 300 * kSecond},
    {"15m", 900 * kSecond},  {"30m", 1800 * kSecond},  {"1h", 3600 * kSecond},  {"2h", 7200 * kSecond},
    {"4h", 14400 * kSecond}, {"6h", 21600 * kSecond},  {"8h", 28800 * kSecond}, {"12h", 43200 * kSecond},
    {"1d", kDay},            {"3d", 3 * kDay},         {"1w", 7 * kDay},        {"1M", 0},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

// Appends an item to a separated list.
void add_to_list(std::string& list, std::string_view item, std::string_view separator = ", ") {
  if (!list.empty()) list += separator;
  list += item;
}

// A length in the largest unit that divides it exactly ("7m", "90s"), for error messages.
std::string length_text(int64_t ns) {
  struct Unit {
    const char* suffix;
    int64_t ns;
  };
  for (const Unit u : {Unit{"d", kDay}, Unit{"h", 3600 * kSecond}, Unit{"m", 60 * kSecond}, Unit{"s", kSecond},
                       Unit{"ms", 1'000'000}})
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.suffix;
  return std::to_string(ns) + "ns";
}

// A CSV file in memory, walked line by line; remembers the line number for errors.
class CsvText {
 public:
  explicit CsvText(const std::string& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream all;
    all << in.rdbuf();
    if (in.bad()) throw std::runtime_error(path + ": read error");
    text_ = std::move(all).str();
    rest_ = text_;
    if (rest_.starts_with("\xEF\xBB\xBF")) rest_.remove_prefix(3);
  }

  // The next non-blank line, split on ','; false at the end of the file.
  bool next(std::vector<std::string_view>& fields) {
    while (!rest_.empty()) {
      const size_t nl = rest_.find('\n');
      std::string_view line = rest_.substr(0, nl);
      rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
      ++line_;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (trim(line).empty()) continue;
      fields.clear();
      for (;;) {
        const size_t comma = line.find(',');
        fields.push_back(trim(line.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        line.remove_prefix(comma + 1);
      }
      return true;
    }
    return false;
  }

  [[noreturn]] void fail(const std::string& reason) const {
    throw std::runtime_error(path_ + ":" + std::to_string(line_) + ": " + reason);
  }
  size_t line() const { return line_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string text_;
  std::string_view rest_;
  size_t line_ = 0;
};

struct Column {
  size_t index = 0;
  std::string name;  // as written in the header
};

// Finds columns in the header: a given name, or the first of a list of usual names.
class Header {
 public:
  Header(const CsvText& csv, std::vector<std::string_view> fields) : csv_(csv) {
    for (std::string_view f : fields) names_.emplace_back(f);
    line_ = csv.line();
  }
  size_t size() const { return names_.size(); }

  std::optional<Column> find(std::string_view given, std::initializer_list<const char*> usual) const {
    if (!given.empty()) {
      for (size_t i = 0; i < names_.size(); ++i)
        if (iequals(names_[i], given)) return Column{i, names_[i]};
      return std::nullopt;
    }
    for (const char* name : usual)
      for (size_t i = 0; i < names_.size(); ++i)
        if (iequals(names_[i], name)) return Column{i, names_[i]};
    return std::nullopt;
  }

  Column require(std::string_view what, std::string_view given, std::initializer_list<const char*> usual) const {
    if (std::optional<Column> c = find(given, usual)) return *c;
    std::string wanted;
    if (!given.empty()) wanted.append("'").append(given).append("'");
    for (const char* name : usual) add_to_list(wanted, name);
    std::string found;
    for (const std::string& n : names_) add_to_list(found, n);
    throw std::runtime_error(csv_.path() + ":" + std::to_string(line_) + ": no " + std::string(what) + " column (" +
                             (given.empty() ? "looked for " : "") + wanted + "; columns found: " + found + ")");
  }

 private:
  const CsvText& csv_;
  std::vector<std::string> names_;
  size_t line_ = 0;
};

std::vector<std::string_view> read_header(CsvText& csv, const std::string& path) {
  std::vector<std::string_view> fields;
  if (!csv.next(fields)) throw std::runtime_error(path + ":1: empty file, expected a header line");
  return fields;
}

// The number's text without a leading '+', or an error naming the column.
std::string_view number(CsvText& csv, const std::vector<std::string_view>& fields, const Column& c, double& out) {
  std::string_view s = fields[c.index];
  if (s.starts_with('+')) s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
    if (std::isfinite(out)) return s;
    csv.fail("non-finite number '" + std::string(fields[c.index]) + "' in column '" + c.name + "'");
  }
  csv.fail((ec == std::errc::result_out_of_range ? "number out of range '" : "cannot parse number '") +
           std::string(fields[c.index]) + "' in column '" + c.name + "'");
}

int64_t row_time(CsvText& csv, const std::vector<std::string_view>& fields, const Column& c) {
  const std::optional<int64_t> t = parse_time(fields[c.index]);
  if (!t)
    csv.fail("cannot parse time '" + std::string(fields[c.index]) + "' in column '" + c.name +
             "' (expected YYYY-MM-DD, YYYY-MM-DD HH:MM:SS[.fff] or ISO 8601 UTC)");
  return *t;
}

void check_field_count(CsvText& csv, const std::vector<std::string_view>& fields, size_t header) {
  if (fields.size() != header)
    csv.fail("expected " + std::to_string(header) + " fields, found " + std::to_string(fields.size()));
}

}  // namespace

int64_t KlineInterval::close_of(int64_t open_ns) const {
  if (ns > 0) return open_ns + ns;
  const CivilTime t = civil_from_ns(open_ns);
  const int64_t year = t.month == 12 ? t.year + 1 : t.year;
  const unsigned month = t.month == 12 ? 1 : t.month + 1;
  return days_from_civil(year, month, 1) * kDay;
}

std::optional<KlineInterval> KlineInterval::named(std::string_view name) {
  for (const NamedLength& i : kIntervals)
    if (name == i.name) return KlineInterval{i.name, i.ns};
  return std::nullopt;
}

std::optional<KlineInterval> KlineInterval::of_length(int64_t ns) {
  if (ns >= 28 * kDay && ns <= 31 * kDay) return KlineInterval{"1M", 0};
  for (const NamedLength& i : kIntervals)
    if (i.ns == ns) return KlineInterval{i.name, i.ns};
  return std::nullopt;
}

std::string KlineInterval::all_names() {
  std::string out;
  for (const NamedLength& i : kIntervals) add_to_list(out, i.name, " ");
  return out;
}

FieldText MarketSeries::keep(std::string_view text) {
  if (arena_.size() + text.size() > std::numeric_limits<uint32_t>::max())
    throw std::runtime_error(path_ + ": too much text to hold (over 4 GiB of numbers)");
  const FieldText f{static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(text.size())};
  arena_.append(text);
  return f;
}

BarSeries BarSeries::load(const std::string& path, const BarColumns& columns) {
  BarSeries s(path);
  CsvText csv(path);
  const Header header(csv, read_header(csv, path));
  const Column time = header.require("time", columns.time, {"date", "datetime", "timestamp", "time"});
  const Column open = header.require("open", "open", {});
  const Column high = header.require("high", "high", {});
  const Column low = header.require("low", "low", {});
  const Column close = header.require("close", "close", {});
  const std::optional<Column> volume = header.find("volume", {});
  const FieldText zero = s.keep("0");

  std::optional<KlineInterval> interval;
  if (!columns.interval.empty()) {
    interval = KlineInterval::named(columns.interval);
    if (!interval)
      throw std::runtime_error(path + ": '" + columns.interval + "' is not a Binance kline interval (one of " +
                               KlineInterval::all_names() + ")");
  }
  std::vector<size_t> lines;  // each row's line, to name it when the spacing check fails
  std::vector<std::string_view> fields;
  while (csv.next(fields)) {
    check_field_count(csv, fields, header.size());
    BarRow r;
    r.open_ns = row_time(csv, fields, time);
    double o = 0, h = 0, l = 0, c = 0, v = 0;
    const std::string_view ot = number(csv, fields, open, o), ht = number(csv, fields, high, h),
                           lt = number(csv, fields, low, l), ct = number(csv, fields, close, c);
    std::string_view vt = "0";
    if (volume) vt = number(csv, fields, *volume, v);
    if (!s.rows_.empty() && r.open_ns <= s.rows_.back().open_ns)
      csv.fail(r.open_ns == s.rows_.back().open_ns
                   ? "duplicate time " + format_time(r.open_ns) + " (times must be strictly increasing)"
                   : "time " + format_time(r.open_ns) + " is before the previous row's " +
                         format_time(s.rows_.back().open_ns) + " (out of order)");
    if (h < l) csv.fail("high " + std::string(ht) + " < low " + std::string(lt));
    if (h < std::max(o, c)) csv.fail("high " + std::string(ht) + " is below the open or the close");
    if (l > std::min(o, c)) csv.fail("low " + std::string(lt) + " is above the open or the close");
    if (v < 0) csv.fail("negative volume " + std::string(vt));
    r.open = s.keep(ot);
    r.high = s.keep(ht);
    r.low = s.keep(lt);
    r.close = s.keep(ct);
    r.volume = volume ? s.keep(vt) : zero;
    s.rows_.push_back(r);
    lines.push_back(csv.line());
  }
  if (s.rows_.empty()) throw std::runtime_error(path + ":" + std::to_string(csv.line()) + ": no data rows after the header");

  if (!interval) {
    if (s.rows_.size() < 2)
      throw std::runtime_error(path + ": one row only, so the bar interval cannot be inferred; give it (one of " +
                               KlineInterval::all_names() + ")");
    int64_t least = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t i = 1; i < s.rows_.size(); ++i)
      if (s.rows_[i].open_ns - s.rows_[i - 1].open_ns < least) {
        least = s.rows_[i].open_ns - s.rows_[i - 1].open_ns;
        at = i;
      }
    interval = KlineInterval::of_length(least);
    if (!interval)
      throw std::runtime_error(path + ":" + std::to_string(lines[at]) + ": the smallest spacing between rows is " +
                               length_text(least) + " (from line " + std::to_string(lines[at - 1]) +
                               "), which is not a Binance kline interval (" + KlineInterval::all_names() +
                               "); give the feed its interval");
  }
  s.interval_ = *interval;
  for (size_t i = 0; i < s.rows_.size(); ++i) {
    BarRow& r = s.rows_[i];
    r.close_ns = s.interval_.close_of(r.open_ns);
    if (i + 1 < s.rows_.size() && s.rows_[i + 1].open_ns < r.close_ns)
      throw std::runtime_error(path + ":" + std::to_string(lines[i + 1]) + ": bar at " +
                               format_time(s.rows_[i + 1].open_ns) + " opens before the " + s.interval_.name +
                               " bar of line " + std::to_string(lines[i]) + " closes at " + format_time(r.close_ns));
  }
  return s;
}

TradeSeries TradeSeries::load(const std::string& path, const TradeColumns& columns) {
  TradeSeries s(path);
  CsvText csv(path);
  const Header header(csv, read_header(csv, path));
  const Column time = header.require("time", columns.time, {"date", "datetime", "timestamp", "time"});
  const Column price = header.require("price", columns.price, {"price", "close", "last"});
  const Column qty = header.require("quantity", columns.qty, {"qty", "quantity", "volume", "size"});
  const std::optional<Column> maker = header.find("is_buyer_maker", {});

  std::vector<std::string_view> fields;
  while (csv.next(fields)) {
    check_field_count(csv, fields, header.size());
    TradeRow r;
    r.time_ns = row_time(csv, fields, time);
    double p = 0, q = 0;
    const std::string_view pt = number(csv, fields, price, p), qt = number(csv, fields, qty, q);
    if (q < 0) csv.fail("negative quantity " + std::string(qt) + " in column '" + qty.name + "'");
    if (!s.rows_.empty() && r.time_ns < s.rows_.back().time_ns)
      csv.fail("time " + format_time(r.time_ns) + " is before the previous trade's " +
               format_time(s.rows_.back().time_ns) + " (out of order)");
    if (maker) {
      const std::string_view m = fields[maker->index];
      if (iequals(m, "true") || m == "1") r.buyer_maker = true;
      else if (iequals(m, "false") || m == "0") r.buyer_maker = false;
      else csv.fail(std::string("'").append(m) + "' in column '" + maker->name + "' is not true, false, 1 or 0");
    }
    r.price = s.keep(pt);
    r.qty = s.keep(qt);
    s.rows_.push_back(r);
  }
  if (s.rows_.empty()) throw std::runtime_error(path + ":" + std::to_string(csv.line()) + ": no data rows after the header");
  return s;
}

}  // namespace qflow::net
