// A strict, allocation-light JSON reader for exchange messages.
//
// Exchange streams send hundreds of thousands of small JSON objects a second, of which a source
// needs a handful of fields. JsonObject parses one object: it validates the whole text (RFC 8259
// grammar: nesting, strings and escapes, number syntax, literals, nothing after the value) and
// keeps, for each top-level member, its key and the raw text of its value. Nested objects are
// read by parsing that raw text again. Nothing is decoded until asked for, and the member list is
// reused between messages, so a steady stream of messages allocates nothing.
//
// Depth is limited (kMaxDepth) so that hostile input cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qflow::exchange {

enum class JsonType : uint8_t { string, number, object, array, boolean, null };

struct JsonMember {
  std::string_view key;  // as written, without quotes (keys with escapes are kept escaped)
  std::string_view raw;  // the value's text; strings include their quotes
  JsonType type;
};

class JsonObject {
 public:
  static constexpr int kMaxDepth = 32;

  // Parses `text`, which must be one JSON object and nothing else (whitespace aside). On failure
  // returns false and sets error() to what was wrong and at which byte.
  bool parse(std::string_view text);
  const std::string& error() const { return error_; }

  const JsonMember* find(std::string_view key) const;
  const std::vector<JsonMember>& members() const { return members_; }

  // Typed access to a member; nullopt when missing or of another type.
  std::optional<std::string_view> string(std::string_view key) const;  // no escapes inside
  std::optional<int64_t> integer(std::string_view key) const;          // a JSON integer
  std::optional<bool> boolean(std::string_view key) const;
  // A number given either as a JSON number or as a decimal string ("63443.76"), parsed
  // correctly rounded (std::from_chars); nullopt when missing, malformed or not finite.
  std::optional<double> decimal(std::string_view key) const;

 private:
  bool fail(const char* what, const char* at);
  bool value(const char*& p, int depth, JsonType& type);
  bool string_token(const char*& p);
  bool number_token(const char*& p);

  std::vector<JsonMember> members_;
  std::string error_;
  const char* begin_ = nullptr;
  const char* end_ = nullptr;
};

// Decodes a JSON string token (with quotes) into UTF-8; false when it is not one.
bool decode_json_string(std::string_view raw, std::string& out);

// A decimal number's text to a double, correctly rounded; nullopt unless the whole text is one
// finite number.
std::optional<double> parse_decimal(std::string_view text);

}  // namespace qflow::exchange
