#include "diagnostics.hpp"

#include <algorithm>
#include <tuple>

namespace qflow {

std::string Diagnostic::to_string() const {
  // Appends one piece at a time: GCC 12 warns (-Wrestrict, falsely) on "literal" + std::string.
  std::string out = file;
  if (pos.line > 0) out.append(":").append(std::to_string(pos.line)).append(":").append(std::to_string(pos.column));
  out.append(": ");
  if (severity == Severity::warning) out.append("warning ");
  out.append(code).append(" ").append(message);
  if (!hint.empty()) out.append(" (").append(hint).append(")");
  return out;
}

void Diagnostics::error(std::string file, Position pos, std::string code, std::string message, std::string hint) {
  items_.push_back({Severity::error, std::move(file), pos, std::move(code), std::move(message), std::move(hint)});
}

void Diagnostics::warning(std::string file, Position pos, std::string code, std::string message, std::string hint) {
  items_.push_back({Severity::warning, std::move(file), pos, std::move(code), std::move(message), std::move(hint)});
}

bool Diagnostics::has_errors() const {
  return std::any_of(items_.begin(), items_.end(), [](const Diagnostic& d) { return d.severity == Severity::error; });
}

std::vector<Diagnostic> Diagnostics::sorted() const {
  std::vector<Diagnostic> out = items_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.severity, a.file, a.pos.line, a.pos.column) < std::tie(b.severity, b.file, b.pos.line, b.pos.column);
  });
  return out;
}

void Diagnostics::append(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Close enough: a third of the word's length (at least 2 edits), or the word is a part of it.
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best_d <= limit) return best;
  for (const std::string& c : candidates)
    if (!word.empty() && c.find(word) != std::string::npos) return c;
  return {};
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string n = nearest_name(word, candidates);
  return n.empty() ? std::string() : "did you mean '" + n + "'?";
}

}  // namespace qflow
