#include "json_scan.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace qflow::exchange {
namespace {

inline void skip_ws(const char*& p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
}

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool JsonObject::fail(const char* what, const char* at) {
  error_ = what;
  error_ += " at byte ";
  error_ += std::to_string(at - begin_);
  return false;
}

bool JsonObject::string_token(const char*& p) {
  // p is at the opening quote.
  ++p;
  while (p < end_) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"') {
      ++p;
      return true;
    }
    if (c < 0x20) return fail("control character in a string", p);
    if (c == '\\') {
      if (++p >= end_) break;
      switch (*p) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': ++p; break;
        case 'u':
          if (end_ - p < 5) return fail("short \\u escape", p);
          for (int i = 1; i <= 4; ++i)
            if (hex_value(p[i]) < 0) return fail("bad \\u escape", p);
          p += 5;
          break;
        default: return fail("bad escape", p);
      }
      continue;
    }
    ++p;
  }
  return fail("unterminated string", p);
}

bool JsonObject::number_token(const char*& p) {
  const char* start = p;
  if (p < end_ && *p == '-') ++p;
  if (p >= end_ || !is_digit(*p)) return fail("bad number", start);
  if (*p == '0') {
    ++p;
  } else {
    while (p < end_ && is_digit(*p)) ++p;
  }
  if (p < end_ && *p == '.') {
    ++p;
    if (p >= end_ || !is_digit(*p)) return fail("bad number", start);
    while (p < end_ && is_digit(*p)) ++p;
  }
  if (p < end_ && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < end_ && (*p == '+' || *p == '-')) ++p;
    if (p >= end_ || !is_digit(*p)) return fail("bad number", start);
    while (p < end_ && is_digit(*p)) ++p;
  }
  return true;
}

bool JsonObject::value(const char*& p, int depth, JsonType& type) {
  skip_ws(p, end_);
  if (p >= end_) return fail("unexpected end", p);
  switch (*p) {
    case '"': type = JsonType::string; return string_token(p);
    case '{':
    case '[': {
      if (depth >= kMaxDepth) return fail("nested too deeply", p);
      const bool object = *p == '{';
      const char close = object ? '}' : ']';
      type = object ? JsonType::object : JsonType::array;
      ++p;
      skip_ws(p, end_);
      if (p < end_ && *p == close) {
        ++p;
        return true;
      }
      for (;;) {
        if (object) {
          skip_ws(p, end_);
          if (p >= end_ || *p != '"') return fail("expected a key", p);
          if (!string_token(p)) return false;
          skip_ws(p, end_);
          if (p >= end_ || *p != ':') return fail("expected ':'", p);
          ++p;
        }
        JsonType inner;
        if (!value(p, depth + 1, inner)) return false;
        skip_ws(p, end_);
        if (p >= end_) return fail("unexpected end", p);
        if (*p == ',') {
          ++p;
          continue;
        }
        if (*p == close) {
          ++p;
          return true;
        }
        return fail(object ? "expected ',' or '}'" : "expected ',' or ']'", p);
      }
    }
    case 't':
      type = JsonType::boolean;
      if (end_ - p >= 4 && std::memcmp(p, "true", 4) == 0) return p += 4, true;
      return fail("bad literal", p);
    case 'f':
      type = JsonType::boolean;
      if (end_ - p >= 5 && std::memcmp(p, "false", 5) == 0) return p += 5, true;
      return fail("bad literal", p);
    case 'n':
      type = JsonType::null;
      if (end_ - p >= 4 && std::memcmp(p, "null", 4) == 0) return p += 4, true;
      return fail("bad literal", p);
    default:
      type = JsonType::number;
      return number_token(p);
  }
}

bool JsonObject::parse(std::string_view text) {
  members_.clear();
  error_.clear();
  begin_ = text.data();
  end_ = text.data() + text.size();
  const char* p = begin_;
  skip_ws(p, end_);
  if (p >= end_ || *p != '{') return fail("not a JSON object", p);
  ++p;
  skip_ws(p, end_);
  if (p < end_ && *p == '}') {
    ++p;
  } else {
    for (;;) {
      skip_ws(p, end_);
      if (p >= end_ || *p != '"') return fail("expected a key", p);
      const char* key_start = p;
      if (!string_token(p)) return false;
      const std::string_view key(key_start + 1, static_cast<size_t>(p - key_start - 2));
      skip_ws(p, end_);
      if (p >= end_ || *p != ':') return fail("expected ':'", p);
      ++p;
      skip_ws(p, end_);
      const char* value_start = p;
      JsonType type;
      if (!value(p, 1, type)) return false;
      members_.push_back({key, std::string_view(value_start, static_cast<size_t>(p - value_start)), type});
      skip_ws(p, end_);
      if (p >= end_) return fail("unexpected end", p);
      if (*p == ',') {
        ++p;
        continue;
      }
      if (*p == '}') {
        ++p;
        break;
      }
      return fail("expected ',' or '}'", p);
    }
  }
  skip_ws(p, end_);
  if (p != end_) return fail("text after the object", p);
  return true;
}

const JsonMember* JsonObject::find(std::string_view key) const {
  for (const JsonMember& m : members_)
    if (m.key == key) return &m;
  return nullptr;
}

std::optional<std::string_view> JsonObject::string(std::string_view key) const {
  const JsonMember* m = find(key);
  if (!m || m->type != JsonType::string) return std::nullopt;
  const std::string_view inner = m->raw.substr(1, m->raw.size() - 2);
  if (inner.find('\\') != std::string_view::npos) return std::nullopt;
  return inner;
}

std::optional<int64_t> JsonObject::integer(std::string_view key) const {
  const JsonMember* m = find(key);
  if (!m || m->type != JsonType::number) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(m->raw.data(), m->raw.data() + m->raw.size(), v);
  if (ec != std::errc() || end != m->raw.data() + m->raw.size()) return std::nullopt;
  return v;
}

std::optional<bool> JsonObject::boolean(std::string_view key) const {
  const JsonMember* m = find(key);
  if (!m || m->type != JsonType::boolean) return std::nullopt;
  return m->raw == "true";
}

std::optional<double> JsonObject::decimal(std::string_view key) const {
  const JsonMember* m = find(key);
  if (!m) return std::nullopt;
  if (m->type == JsonType::number) return parse_decimal(m->raw);
  if (m->type == JsonType::string) return parse_decimal(m->raw.substr(1, m->raw.size() - 2));
  return std::nullopt;
}

std::optional<double> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double v = 0;
  const char* first = text.data();
  if (*first == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(first, text.data() + text.size(), v, std::chars_format::general);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool decode_json_string(std::string_view raw, std::string& out) {
  out.clear();
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return false;
  for (size_t i = 1; i + 1 < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i + 1 > raw.size() - 1) return false;
    switch (raw[i]) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto hex4 = [&](size_t at, uint32_t& v) {
          if (at + 4 > raw.size() - 1) return false;
          v = 0;
          for (size_t k = 0; k < 4; ++k) {
            const int h = hex_value(raw[at + k]);
            if (h < 0) return false;
            v = v * 16 + static_cast<uint32_t>(h);
          }
          return true;
        };
        uint32_t cp = 0;
        if (!hex4(i + 1, cp)) return false;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < raw.size() && raw[i + 1] == '\\' && raw[i + 2] == 'u') {
          uint32_t lo = 0;
          if (hex4(i + 3, lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default: return false;
    }
  }
  return true;
}

}  // namespace qflow::exchange
