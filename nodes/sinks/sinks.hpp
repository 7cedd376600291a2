// Shared pieces of the sink plugin: the `file` parameter and where it points, a sequentially
// written output file that reports every failure and resumes from a checkpoint, and CSV cell
// formatting (numbers as the shortest text that reads back to the same double). Internal to
// this library.
#pragma once

#include <qflow/sdk.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
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
// the run. Nothing touches the disk before open(), which a sink calls from start(): a fresh node
// creates (or truncates) the file and writes its header; a node restored with resume_at() reopens
// the file its checkpoint described and cuts it back to the offset saved then, dropping what was
// written after the checkpoint, so the resumed run appends exactly what an unbroken one would.
// sync() hands the bytes written so far to the operating system and returns their count, the
// offset a checkpoint saves (the runtime makes the run folder's files durable before it commits
// the checkpoint). Failures throw with the path and the system's reason; the destructor closes without
// throwing when close() was never reached (a run that failed).
class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path path) : path_(std::move(path)) {}
  OutputFile(OutputFile&& o) noexcept
      : path_(std::move(o.path_)), file_(std::exchange(o.file_, nullptr)), written_(o.written_),
        resume_(o.resume_) {}
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile() {
    if (file_) std::fclose(file_);
  }

  // Continue from a checkpoint at `offset` bytes instead of starting afresh; before open() only.
  // Offset 0 (a state saved before start, when nothing was written) starts afresh.
  void resume_at(uint64_t offset) {
    if (file_) throw std::logic_error(path_.string() + ": state restored after the file was opened");
    written_ = offset;
    resume_ = offset > 0;
  }

  void open(std::string_view header) {
    if (file_) throw std::logic_error(path_.string() + " is already open");
    if (!resume_) {
      file_ = std::fopen(path_.c_str(), "wb");
      if (!file_) fail("cannot open");
      std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
      write(header);
      return;
    }
    file_ = std::fopen(path_.c_str(), "r+b");
    if (!file_) {
      if (errno == ENOENT)
        throw std::runtime_error(path_.string() + " is missing (it had " + std::to_string(written_) +
                                 " bytes at the checkpoint): it was removed since; cannot resume");
      fail("cannot open");
    }
    try {
      std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
      struct stat st {};
      if (fstat(fileno(file_), &st) != 0) fail("cannot read the size of");
      const auto size = static_cast<uint64_t>(st.st_size);
      if (size < written_)
        throw std::runtime_error(path_.string() + " is shorter than at the checkpoint (" + std::to_string(size) +
                                 " < " + std::to_string(written_) + " bytes): it was changed since; cannot resume");
      if (ftruncate(fileno(file_), static_cast<off_t>(written_)) != 0) fail("cannot truncate");
      if (fseeko(file_, static_cast<off_t>(written_), SEEK_SET) != 0) fail("cannot seek in");
    } catch (...) {
      std::fclose(std::exchange(file_, nullptr));
      throw;
    }
  }

  void write(std::string_view s) {
    if (!file_) throw std::logic_error(path_.string() + " is not open");
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) fail("cannot write");
    written_ += s.size();
  }

  // Flushes what was written to the operating system and returns the offset a checkpoint
  // records. The runtime makes every file of the run folder durable before it commits that
  // checkpoint, so a power cut cannot leave the file shorter than the offset. Before open() the
  // offset is the restored one; after close(), where the finished file ends.
  uint64_t sync() const {
    if (!file_) return written_;
    if (std::fflush(file_) != 0) fail("cannot write");
    return written_;
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
  uint64_t written_ = 0;  // bytes in the file: the offset a checkpoint saves
  bool resume_ = false;   // open() continues a checkpointed file instead of creating one
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
