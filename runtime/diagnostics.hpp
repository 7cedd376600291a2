// Problems found in a pipeline, with a position and a stable code, all collected before any
// of them stops the run: `file:line:col: E0103 unknown parameter 'thresold' in node 'rsi' (did
// you mean 'threshold'?)`. The codes are listed in docs/errors.md and never change meaning.
#pragma once

#include <string>
#include <vector>

namespace qflow {

struct Position {
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
};

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  Position pos;
  std::string code;  // "E0103"
  std::string message;
  std::string hint;  // "did you mean 'threshold'?"

  std::string to_string() const;
};

class Diagnostics {
 public:
  void error(std::string file, Position pos, std::string code, std::string message, std::string hint = {});
  void warning(std::string file, Position pos, std::string code, std::string message, std::string hint = {});
  bool has_errors() const;
  const std::vector<Diagnostic>& all() const { return items_; }
  // Errors first by position, then warnings.
  std::vector<Diagnostic> sorted() const;
  void append(const Diagnostics& other);

 private:
  std::vector<Diagnostic> items_;
};

// The nearest candidate to `word` by edit distance, or "" when nothing is close enough.
std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates);
// "did you mean 'x'?" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace qflow
