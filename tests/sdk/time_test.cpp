#include <qflow/time.hpp>

#include <catch2/catch.hpp>

#include <ctime>

using qflow::format_time;
using qflow::parse_duration;
using qflow::parse_time;

// timegm is an independent implementation of the civil-date arithmetic.
static int64_t via_timegm(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
}

TEST_CASE("parse_time accepts the date and datetime forms of the bundled data") {
  CHECK(parse_time("1995-01-03") == via_timegm(1995, 1, 3));
  CHECK(parse_time("2024-10-01 03:00:00") == via_timegm(2024, 10, 1, 3));
  CHECK(parse_time("2024-10-01T03:00:00Z") == via_timegm(2024, 10, 1, 3));
  CHECK(parse_time("2013-01-01 22:00:00.295") == via_timegm(2013, 1, 1, 22) + 295'000'000);
  CHECK(parse_time("1927-12-30") == via_timegm(1927, 12, 30));
  CHECK(parse_time("2000-02-29") == via_timegm(2000, 2, 29));
}

TEST_CASE("parse_time agrees with timegm on every day of 1900..2100") {
  for (int64_t ns = via_timegm(1900, 1, 1); ns < via_timegm(2100, 1, 1); ns += 86400LL * 1'000'000'000 * 7 + 3'600'000'000'000) {
    const std::string text = format_time(ns);
    REQUIRE(parse_time(text) == ns);
    const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    REQUIRE(text == buf);
  }
}

TEST_CASE("parse_time refuses malformed and non-UTC times") {
  CHECK_FALSE(parse_time(""));
  CHECK_FALSE(parse_time("2024-13-01"));
  CHECK_FALSE(parse_time("2023-02-29"));
  CHECK_FALSE(parse_time("2024-10-01 25:00:00"));
  CHECK_FALSE(parse_time("2024-10-01 03:00"));
  CHECK_FALSE(parse_time("2024-10-01T03:00:00+02:00"));
  CHECK_FALSE(parse_time("01/10/2024"));
  CHECK_FALSE(parse_time("2024-10-01 03:00:00."));
}

TEST_CASE("format_time prints fractions only when present") {
  CHECK(format_time(0) == "1970-01-01T00:00:00Z");
  CHECK(format_time(1'500'000'000) == "1970-01-01T00:00:01.500Z");
  CHECK(format_time(1) == "1970-01-01T00:00:00.000000001Z");
  CHECK(format_time(-1'000'000'000) == "1969-12-31T23:59:59Z");
}

TEST_CASE("parse_duration") {
  CHECK(parse_duration("1m") == 60'000'000'000LL);
  CHECK(parse_duration("500ms") == 500'000'000LL);
  CHECK(parse_duration("1d") == 86'400'000'000'000LL);
  CHECK(parse_duration("250") == 250);
  CHECK_FALSE(parse_duration("1y"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("m"));
  CHECK_FALSE(parse_duration("99999999999999999d"));
}
