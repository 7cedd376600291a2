// Time in qflow: int64 nanoseconds since the Unix epoch, UTC. Parsing and formatting of ISO 8601
// instants and of durations ("500ms", "1m", "4h", "1d"), for nodes and the host alike.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace qflow {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Days since 1970-01-01 of a proleptic Gregorian date (the well-known civil-date algorithm).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct CivilTime {
  int64_t year;
  unsigned month, day, hour, minute, second;
  int64_t nanos;
};

constexpr CivilTime civil_from_ns(int64_t ns) {
  int64_t secs = ns / kNanosPerSecond;
  int64_t rem = ns % kNanosPerSecond;
  if (rem < 0) {
    rem += kNanosPerSecond;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return CivilTime{m <= 2 ? y + 1 : y, m, d, static_cast<unsigned>(sod / 3600),
                   static_cast<unsigned>(sod % 3600 / 60), static_cast<unsigned>(sod % 60), rem};
}

// ISO 8601 UTC, "2024-10-01T03:00:00Z"; fractional seconds only when present.
inline std::string format_time(int64_t ns) {
  const CivilTime t = civil_from_ns(ns);
  char buf[64];
  const long long y = static_cast<long long>(t.year);
  if (t.nanos == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02uZ", y, t.month, t.day, t.hour, t.minute,
                  t.second);
  } else if (t.nanos % 1'000'000 == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%03lldZ", y, t.month, t.day, t.hour,
                  t.minute, t.second, static_cast<long long>(t.nanos / 1'000'000));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%09lldZ", y, t.month, t.day, t.hour,
                  t.minute, t.second, static_cast<long long>(t.nanos));
  }
  return buf;
}

namespace detail {
constexpr bool read_digits(std::string_view s, size_t pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  out = v;
  return true;
}
}  // namespace detail

// Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS", with optional fractional
// seconds (up to 9 digits) and an optional "Z" or "+00:00". Only UTC is accepted.
constexpr std::optional<int64_t> parse_time(std::string_view s) {
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!detail::read_digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !detail::read_digits(s, 5, 2, mo) ||
      s[7] != '-' || !detail::read_digits(s, 8, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1) return std::nullopt;
  constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[mo - 1] || (mo == 2 && d == 29 && !leap)) return std::nullopt;
  int64_t nanos = 0;
  size_t pos = 10;
  if (pos < s.size() && (s[pos] == ' ' || s[pos] == 'T')) {
    if (!detail::read_digits(s, 11, 2, h) || s.size() < 19 || s[13] != ':' || !detail::read_digits(s, 14, 2, mi) ||
        s[16] != ':' || !detail::read_digits(s, 17, 2, se))
      return std::nullopt;
    if (h > 23 || mi > 59 || se > 59) return std::nullopt;
    pos = 19;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int digits = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (++digits > 9) return std::nullopt;
        nanos = nanos * 10 + (s[pos] - '0');
        ++pos;
      }
      if (digits == 0) return std::nullopt;
      for (int i = digits; i < 9; ++i) nanos *= 10;
    }
  }
  const std::string_view rest = s.substr(pos);
  if (!(rest.empty() || rest == "Z" || rest == "+00:00")) return std::nullopt;
  const int64_t days = days_from_civil(y, mo, d);
  return ((days * 86400 + h * 3600 + mi * 60 + se) * kNanosPerSecond) + nanos;
}

// Parses "250ns", "10us", "500ms", "30s", "1m", "4h", "1d", "1w", or a bare integer of nanoseconds.
inline std::optional<int64_t> parse_duration(std::string_view s) {
  int64_t n = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  const std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  int64_t mult = 0;
  if (unit.empty() || unit == "ns") mult = 1;
  else if (unit == "us") mult = 1'000;
  else if (unit == "ms") mult = 1'000'000;
  else if (unit == "s") mult = kNanosPerSecond;
  else if (unit == "m") mult = 60 * kNanosPerSecond;
  else if (unit == "h") mult = 3600 * kNanosPerSecond;
  else if (unit == "d") mult = 86400 * kNanosPerSecond;
  else if (unit == "w") mult = 7 * 86400 * kNanosPerSecond;
  else return std::nullopt;
  if (n > INT64_MAX / mult) return std::nullopt;
  return n * mult;
}

}  // namespace qflow
