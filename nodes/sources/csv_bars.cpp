// source.csv_bars — OHLCV bars streamed from a CSV file, in file order.
//
// The first non-blank line is the header. Columns are found by name, case-insensitively: the
// time column (`time_column`, or else the first header named Date, Datetime, timestamp or
// time), `open_column`, `high_column`, `low_column`, `close_column` and `volume_column` ("" =
// the file has no volume; bars then carry 0). Other columns are ignored. Fields are split on
// `delimiter` and trimmed of spaces; quoting is not supported.
//
// The event time is the bar's open time in ns UTC. `time_format: auto` reads "YYYY-MM-DD"
// (midnight UTC), "YYYY-MM-DD HH:MM:SS[.fff]" and the ISO forms with T and Z (qflow::parse_time);
// epoch_s/_ms/_us/_ns read an integer count since the Unix epoch. Numbers are parsed with
// std::from_chars, correctly rounded: a bar holds exactly what strtod gives for the same text.
//
// The file goes through a fixed read buffer, never whole into memory. CRLF line ends, a UTF-8
// BOM, a last line without newline and blank lines are accepted. A row is malformed when its
// field count differs from the header's, a number or the time does not parse, a number is not
// finite, its time is not strictly after the previous bar's, high < low, high < max(open,
// close), low > min(open, close) or volume < 0. `on_error: fail` stops at the first with
// "path:LINE: reason"; `skip` drops such rows and, at stop, logs a warning with their count and
// the first of them. The state is the byte offset and line number of the next row, the last
// time emitted and the skip counters: a restored node seeks straight to its next row.
#include "sources.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::nodes {
namespace {

// Reads a file line by line through one buffer, which grows only as far as the longest line.
class LineReader {
 public:
  static constexpr size_t kChunk = 64 * 1024;
  static constexpr size_t kMaxLine = 1 << 20;

  // Returns an error text (strerror) or "" on success.
  std::string open(const std::string& path) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) return std::strerror(errno);
    std::setvbuf(file_.get(), nullptr, _IONBF, 0);  // our buffer is the only one
    if (fseeko(file_.get(), 0, SEEK_END) != 0) return std::strerror(errno);
    const off_t size = ftello(file_.get());
    if (size < 0) return std::strerror(errno);
    size_ = static_cast<uint64_t>(size);
    buf_.resize(kChunk);
    seek(0);
    return {};
  }
  bool is_open() const { return file_ != nullptr; }
  uint64_t size() const { return size_; }
  // Byte offset of the next unread line.
  uint64_t offset() const { return base_ + pos_; }

  void seek(uint64_t offset) {
    if (fseeko(file_.get(), static_cast<off_t>(offset), SEEK_SET) != 0)
      throw std::runtime_error(std::string("cannot seek: ") + std::strerror(errno));
    base_ = offset;
    pos_ = end_ = 0;
    eof_ = false;
  }

  // The next line without its "\n" or "\r\n", valid until the next call; false at the end.
  bool next(std::string_view& line) {
    for (;;) {
      const char* begin = buf_.data() + pos_;
      if (const void* nl = std::memchr(begin, '\n', end_ - pos_)) {
        const size_t n = static_cast<size_t>(static_cast<const char*>(nl) - begin);
        line = chomp({begin, n});
        pos_ += n + 1;
        return true;
      }
      if (eof_) {
        if (pos_ == end_) return false;
        line = chomp({begin, end_ - pos_});
        pos_ = end_;
        return true;
      }
      if (pos_ > 0) {  // keep the partial line, drop what was consumed
        std::memmove(buf_.data(), begin, end_ - pos_);
        base_ += pos_;
        end_ -= pos_;
        pos_ = 0;
      }
      if (end_ == buf_.size()) {
        if (buf_.size() >= kMaxLine) throw std::runtime_error("line longer than 1 MiB");
        buf_.resize(buf_.size() * 2);
      }
      const size_t got = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_.get());
      if (got == 0) {
        if (std::ferror(file_.get())) throw std::runtime_error(std::string("read error: ") + std::strerror(errno));
        eof_ = true;
      }
      end_ += got;
    }
  }

 private:
  static std::string_view chomp(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;  // unread bytes are buf_[pos_, end_)
  uint64_t base_ = 0;         // file offset of buf_[0]
  uint64_t size_ = 0;
  bool eof_ = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) { return trim(s).empty(); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

enum class TimeFormat { automatic, epoch_s, epoch_ms, epoch_us, epoch_ns };

TimeFormat time_format_of(const std::string& s) {
  if (s == "auto") return TimeFormat::automatic;
  if (s == "epoch_s") return TimeFormat::epoch_s;
  if (s == "epoch_ms") return TimeFormat::epoch_ms;
  if (s == "epoch_us") return TimeFormat::epoch_us;
  if (s == "epoch_ns") return TimeFormat::epoch_ns;
  throw std::invalid_argument("unknown time_format '" + s + "'");
}

std::optional<int64_t> parse_event_time(std::string_view s, TimeFormat f) {
  if (f == TimeFormat::automatic) return parse_time(s);
  int64_t n = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  const int64_t mult = f == TimeFormat::epoch_s ? kNanosPerSecond
                       : f == TimeFormat::epoch_ms ? 1'000'000
                       : f == TimeFormat::epoch_us ? 1'000
                                                   : 1;
  int64_t ns = 0;
  if (__builtin_mul_overflow(n, mult, &ns)) return std::nullopt;
  return ns;
}

}  // namespace

class CsvBarsSource {
 public:
  static NodeSpec spec() {
    return NodeSpec("source.csv_bars", "source")
        .summary("OHLCV bars from a CSV file")
        .doc("Streams bars from a CSV file with a header, in file order, with bounded memory. Columns "
             "are matched by name, case-insensitively; the time is the bar's open time (dates are "
             "midnight UTC). Malformed rows (wrong field count, unparsable or non-finite numbers, "
             "times not strictly increasing, inconsistent high/low, negative volume) stop the run "
             "with file:line, or are skipped and counted with on_error: skip.")
        .param(ParamSpec::path("path").required().doc("the CSV file"))
        .param(ParamSpec::string("symbol").required().doc("symbol of the bars"))
        .param(ParamSpec::duration("interval").required().doc("bar length, stored in each bar"))
        .param(ParamSpec::string("time_column").default_value("")
                   .doc("time column; \"\" = the first of Date, Datetime, timestamp, time"))
        .param(ParamSpec::string("open_column").default_value("open").doc("open column"))
        .param(ParamSpec::string("high_column").default_value("high").doc("high column"))
        .param(ParamSpec::string("low_column").default_value("low").doc("low column"))
        .param(ParamSpec::string("close_column").default_value("close").doc("close column"))
        .param(ParamSpec::string("volume_column").default_value("volume")
                   .doc("volume column; \"\" = the file has none (volume 0)"))
        .param(ParamSpec::choice("time_format", {"auto", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns"})
                   .default_value("auto")
                   .doc("auto: YYYY-MM-DD[ HH:MM:SS[.fff]] or ISO 8601 UTC; epoch_*: integer since 1970"))
        .param(ParamSpec::string("delimiter").default_value(",").doc("field separator, one character"))
        .param(ParamSpec::choice("on_error", {"fail", "skip"}).default_value("fail")
                   .doc("malformed rows: fail with file:line, or skip them and warn at the end"))
        .output("bars", Kind::bar, "the bars, in file order");
  }

  explicit CsvBarsSource(const NodeConfig& cfg)
      : path_(cfg.params().string("path")),
        symbol_name_(cfg.params().string("symbol")),
        interval_(cfg.params().duration_ns("interval")),
        time_column_(cfg.params().string("time_column")),
        price_columns_{cfg.params().string("open_column"), cfg.params().string("high_column"),
                       cfg.params().string("low_column"), cfg.params().string("close_column")},
        volume_column_(cfg.params().string("volume_column")),
        format_(time_format_of(cfg.params().string("time_format"))),
        skip_(cfg.params().string("on_error") == "skip") {
    const std::string d = cfg.params().string("delimiter");
    if (d.size() != 1) throw std::invalid_argument("delimiter must be exactly one character, got '" + d + "'");
    delimiter_ = d[0];
  }

  void start(Context& ctx) {
    symbol_ = ctx.intern(symbol_name_);
    if (const std::string err = reader_.open(path_); !err.empty())
      throw std::runtime_error(path_ + ": cannot open: " + err);
    read_header();
    if (pending_offset_) seek_to_saved();
  }

  SourceStatus produce(Context& ctx, uint32_t max_events) {
    if (done_) return SourceStatus::done;
    qf_event ev = make_bar(symbol_, 0, 0, 0, 0, 0, 0, interval_);
    uint32_t emitted = 0;
    std::string reason;
    std::string_view line;
    while (emitted < max_events) {
      if (!next_line(line)) {
        done_ = true;
        break;
      }
      if (blank(line)) continue;
      if (!parse_row(line, ev, reason)) {
        if (!skip_) throw std::runtime_error(path_ + ":" + std::to_string(line_) + ": " + reason);
        if (skipped_++ == 0) {
          first_skip_line_ = line_;
          first_skip_reason_ = reason;
        }
        continue;
      }
      last_time_ = ev.time_ns;
      has_last_ = true;
      ctx.emit(0, ev);
      ++emitted;
    }
    ctx.set_progress(done_ || reader_.size() == 0
                         ? 1.0
                         : static_cast<double>(reader_.offset()) / static_cast<double>(reader_.size()));
    return done_ ? SourceStatus::done : SourceStatus::more;
  }

  void stop(Context& ctx) {
    if (skipped_ == 0) return;
    ctx.log(LogLevel::warn, path_ + ": skipped " + std::to_string(skipped_) + " malformed rows (first at line " +
                                std::to_string(first_skip_line_) + ": " + first_skip_reason_ + ")");
  }

  void save_state(StateWriter& w) const {
    // Before start the position is the restored one still pending (or 0: the beginning).
    w.put<uint64_t>(reader_.is_open() ? reader_.offset() : pending_offset_);
    w.put<uint64_t>(reader_.is_open() ? line_ : pending_line_);
    w.put<int64_t>(last_time_);
    w.put<uint8_t>(has_last_ ? 1 : 0);
    w.put<uint64_t>(skipped_);
    w.put<uint64_t>(first_skip_line_);
    w.put_string(first_skip_reason_);
  }

  // Before start, the position is applied once the header is read; after it, at once.
  void restore_state(StateReader& r) {
    pending_offset_ = r.get<uint64_t>();
    pending_line_ = r.get<uint64_t>();
    last_time_ = r.get<int64_t>();
    has_last_ = r.get<uint8_t>() != 0;
    skipped_ = r.get<uint64_t>();
    first_skip_line_ = r.get<uint64_t>();
    first_skip_reason_ = r.get_string();
    done_ = false;
    if (reader_.is_open() && pending_offset_) seek_to_saved();
  }

 private:
  struct Column {
    size_t index;
    std::string name;  // as written in the header
  };
  enum { kOpen, kHigh, kLow, kClose };

  bool next_line(std::string_view& line) {
    try {
      if (!reader_.next(line)) return false;
    } catch (const std::exception& e) {
      throw std::runtime_error(path_ + ":" + std::to_string(line_ + 1) + ": " + e.what());
    }
    ++line_;
    return true;
  }

  void split(std::string_view line) {
    fields_.clear();
    for (;;) {
      const size_t p = line.find(delimiter_);
      fields_.push_back(trim(line.substr(0, p)));
      if (p == std::string_view::npos) break;
      line.remove_prefix(p + 1);
    }
  }

  void read_header() {
    std::string_view line;
    do {
      if (!next_line(line)) throw std::runtime_error(path_ + ":" + std::to_string(line_ + 1) + ": empty file, expected a header line");
      if (line_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    } while (blank(line));
    split(line);
    header_.assign(fields_.begin(), fields_.end());
    header_line_ = line_;
    data_offset_ = reader_.offset();

    std::string found;
    for (const std::string& h : header_) found += (found.empty() ? "" : ", ") + h;
    const auto missing = [&](const std::string& what, const std::string& hint = "") {
      return std::runtime_error(path_ + ":" + std::to_string(line_) + ": no " + what + " column (columns found: " +
                                found + ")" + hint);
    };
    const auto find = [&](std::string_view name) -> std::optional<size_t> {
      for (size_t i = 0; i < header_.size(); ++i)
        if (iequals(header_[i], name)) return i;
      return std::nullopt;
    };
    if (time_column_.empty()) {
      for (size_t i = 0; i < header_.size() && !time_; ++i)
        for (const char* name : {"date", "datetime", "timestamp", "time"})
          if (iequals(header_[i], name)) time_ = Column{i, header_[i]};
      if (!time_) throw missing("time (Date, Datetime, timestamp or time)");
    } else if (const auto i = find(time_column_)) {
      time_ = Column{*i, header_[*i]};
    } else {
      throw missing("'" + time_column_ + "'");
    }
    for (int k = kOpen; k <= kClose; ++k) {
      const auto i = find(price_columns_[k]);
      if (!i) throw missing("'" + price_columns_[k] + "'");
      prices_[k] = Column{*i, header_[*i]};
    }
    if (!volume_column_.empty()) {
      const auto i = find(volume_column_);
      if (!i) throw missing("'" + volume_column_ + "'", "; set volume_column to \"\" if the file has no volume");
      volume_ = Column{*i, header_[*i]};
    }
  }

  void seek_to_saved() {
    if (pending_offset_ < data_offset_ || pending_offset_ > reader_.size() || pending_line_ < header_line_)
      throw std::runtime_error(path_ + ": saved position (byte " + std::to_string(pending_offset_) +
                               ") does not fit this file (" + std::to_string(reader_.size()) + " bytes)");
    reader_.seek(pending_offset_);
    line_ = pending_line_;
    pending_offset_ = 0;
  }

  bool number(const Column& c, double& out, std::string& reason) const {
    std::string_view s = fields_[c.index];
    if (s.starts_with('+')) s.remove_prefix(1);
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) {
      if (std::isfinite(out)) return true;
      reason = "non-finite number '" + std::string(fields_[c.index]) + "' in column '" + c.name + "'";
      return false;
    }
    reason = (ec == std::errc::result_out_of_range ? "number out of range '" : "cannot parse number '") +
             std::string(fields_[c.index]) + "' in column '" + c.name + "'";
    return false;
  }

  // Fills ev's time and bar from one data line; false with a reason when the row is malformed.
  bool parse_row(std::string_view line, qf_event& ev, std::string& reason) {
    split(line);
    if (fields_.size() != header_.size()) {
      reason = "expected " + std::to_string(header_.size()) + " fields, found " + std::to_string(fields_.size());
      return false;
    }
    const std::optional<int64_t> t = parse_event_time(fields_[time_->index], format_);
    if (!t) {
      reason = "cannot parse time '" + std::string(fields_[time_->index]) + "' in column '" + time_->name + "'";
      return false;
    }
    qf_bar& b = ev.u.bar;
    if (!number(prices_[kOpen], b.open, reason) || !number(prices_[kHigh], b.high, reason) ||
        !number(prices_[kLow], b.low, reason) || !number(prices_[kClose], b.close, reason))
      return false;
    b.volume = 0;
    if (volume_ && !number(*volume_, b.volume, reason)) return false;
    if (has_last_ && *t <= last_time_) {
      reason = *t == last_time_ ? "duplicate time " + format_time(*t) + " (time not strictly increasing)"
                                : "time " + format_time(*t) + " is before the previous row's " +
                                      format_time(last_time_) + " (out of order)";
      return false;
    }
    const auto text = [&](int k) { return std::string(fields_[prices_[k].index]); };
    if (b.high < b.low) {
      reason = "high " + text(kHigh) + " < low " + text(kLow);
      return false;
    }
    if (b.high < std::max(b.open, b.close)) {
      reason = "high " + text(kHigh) + " < max(open, close) " + text(b.open >= b.close ? kOpen : kClose);
      return false;
    }
    if (b.low > std::min(b.open, b.close)) {
      reason = "low " + text(kLow) + " > min(open, close) " + text(b.open <= b.close ? kOpen : kClose);
      return false;
    }
    if (b.volume < 0) {
      reason = "negative volume " + std::string(fields_[volume_->index]);
      return false;
    }
    ev.time_ns = *t;
    return true;
  }

  // Configuration, fixed after construction.
  const std::string path_, symbol_name_;
  const int64_t interval_;
  const std::string time_column_;
  const std::string price_columns_[4];
  const std::string volume_column_;
  const TimeFormat format_;
  const bool skip_;
  char delimiter_ = ',';

  // Learnt from the header at start.
  std::vector<std::string> header_;
  std::optional<Column> time_, volume_;
  Column prices_[4];
  uint64_t header_line_ = 0, data_offset_ = 0;
  uint32_t symbol_ = 0;

  // Position and counters: the checkpointed state.
  LineReader reader_;
  uint64_t line_ = 0;  // 1-based number of the last line read
  int64_t last_time_ = 0;
  bool has_last_ = false;
  uint64_t skipped_ = 0, first_skip_line_ = 0;
  std::string first_skip_reason_;
  bool done_ = false;
  uint64_t pending_offset_ = 0, pending_line_ = 0;  // a restored position not yet applied

  std::vector<std::string_view> fields_;  // the current line split, reused
};

void register_csv_bars(Registrar& r) { r.add<CsvBarsSource>(); }

}  // namespace qflow::nodes
