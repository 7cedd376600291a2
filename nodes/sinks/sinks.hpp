// Shared pieces of the sink plugin: the `file` parameter and where it points, a sequentially
// written output file that reports every failure, and CSV cell formatting (numbers as the
// shortest text that reads back to the same double). Internal to this library.
#pragma once

#include <qflow/sdk.hpp>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace qflow::nodes {

inline ParamSpec file_param(std::string default_name) {
  return ParamSpec::string("file").default_value(std::move(default_name)).doc("file name, relative to the run's output folder");
}

// The `file` parameter resolved against the run's output folder. Missing parent folders of a
// name like "reports/trades.csv" are created.
inline std::filesystem::path output_file_path(const NodeConfig& cfg) {
  const std::string name = cfg.params().string("file");
  if (name.empty()) throw std::invalid_argument("parameter 'file' is empty");
  const std::filesystem::path path = std::filesystem::path(cfg.output_dir()) / name;
  if (path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw std::runtime_error("cannot create folder " + path.parent_path().string() + ": " + ec.message());
  }
  return path;
}

// A file written front to back through a 64 KiB buffer, so memory stays constant however long
// the run. Open, write and close failures throw with the path and the system's reason; the
// destructor closes without throwing when close() was never reached (a run that failed).
class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (!file_) fail("cannot open");
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
  }
  OutputFile(OutputFile&& o) noexcept : path_(std::move(o.path_)), file_(std::exchange(o.file_, nullptr)) {}
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile() {
    if (file_) std::fclose(file_);
  }

  void write(std::string_view s) {
    if (!file_) throw std::logic_error(path_.string() + " was already closed");
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) fail("cannot write");
  }
  void close() {
    if (!file_) return;
    std::FILE* f = std::exchange(file_, nullptr);
    const bool flushed = std::fflush(f) == 0;
    const int flush_errno = errno;
    const bool closed = std::fclose(f) == 0;
    if (!flushed) errno = flush_errno;
    if (!flushed || !closed) fail("cannot write");
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string(what) + " " + path_.string() + ": " + std::strerror(errno));
  }

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// Appends the shortest decimal text that std::from_chars reads back to exactly `x` ("0.1",
// "1e-07", "100"). Negative zero prints as "0".
inline void append_number(std::string& out, double x) {
  if (x == 0) x = 0;
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  if (ec != std::errc()) throw std::logic_error("number does not fit its buffer");
  out.append(buf, end);
}

// Appends a CSV cell, quoted (RFC 4180) only when it holds a comma, quote or line break.
inline void append_cell(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out += '"';
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void register_trades_csv(Registrar& r);
void register_summary(Registrar& r);
void register_table_csv(Registrar& r);

}  // namespace qflow::nodes
