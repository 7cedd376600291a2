#include "node_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using qflow::SourceStatus;
using qflow::testing::NodeError;
using qflow::testing::NodeHarness;
using qflow::testing::plugin_path;

namespace {

const std::string kData = QFLOW_SHARED_DATA_DIR;
const std::string kOrcl = kData + "/orcl_1995_2014_daily_yahoo.csv";
const std::string kBtc = kData + "/binance_spot_btcusdt_1m_2024q4.csv";
constexpr int64_t kDay = 86'400'000'000'000;
constexpr int64_t kMinute = 60'000'000'000;

struct RefBar {
  int64_t time;
  double open, high, low, close, volume;
};

// The independent reading: std::getline, strtod and timegm, on a known column layout.
int64_t ref_time(const std::string& s) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  const int n = std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &se);
  REQUIRE((n == 3 || n == 6));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
}

std::vector<RefBar> reference_parse(const std::string& path, int open_col, int volume_col) {
  std::ifstream in(path);
  REQUIRE(in);
  std::string line;
  std::getline(in, line);  // header
  std::vector<RefBar> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    const auto num = [&](int i) { return std::strtod(f.at(static_cast<size_t>(i)).c_str(), nullptr); };
    out.push_back(RefBar{ref_time(f.at(0)), num(open_col), num(open_col + 1), num(open_col + 2), num(open_col + 3),
                         num(volume_col)});
  }
  return out;
}

std::string work_file(const std::string& name, const std::string& content) {
  const std::string path = std::string(QFLOW_TEST_WORK_DIR) + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out << content;
  return path;
}

std::map<std::string, std::string> csv_params(const std::string& path, std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> p{{"path", path}, {"symbol", "ORCL"}, {"interval", "1d"}};
  for (auto& [k, v] : extra) p[k] = v;
  return p;
}

// Runs the source to the end in calls of `chunk`, checking the per-call limit and the status.
std::vector<qf_event> drain(NodeHarness& h, uint32_t chunk) {
  std::vector<qf_event> out;
  for (;;) {
    SourceStatus st = SourceStatus::idle;
    const auto part = h.produce(chunk, &st);
    REQUIRE(part.size() <= chunk);
    for (const auto& o : part) {
      REQUIRE(o.port_name == "bars");
      out.push_back(o.ev);
    }
    if (st == SourceStatus::done) break;
    REQUIRE(st == SourceStatus::more);
  }
  return out;
}

void check_equal(const std::vector<qf_event>& got, const std::vector<RefBar>& want, uint32_t symbol, int64_t interval) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("bar " << i);
    const qf_event& e = got[i];
    REQUIRE(e.kind == QF_KIND_BAR);
    REQUIRE(e.symbol == symbol);
    REQUIRE(e.time_ns == want[i].time);
    REQUIRE(e.u.bar.open == want[i].open);
    REQUIRE(e.u.bar.high == want[i].high);
    REQUIRE(e.u.bar.low == want[i].low);
    REQUIRE(e.u.bar.close == want[i].close);
    REQUIRE(e.u.bar.volume == want[i].volume);
    REQUIRE(e.u.bar.interval_ns == interval);
  }
}

// The first n lines of a file, header included, as separate strings without line ends.
std::vector<std::string> head_lines(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (out.size() < n && std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("source.csv_bars: the ORCL daily file, every bar as an independent parse reads it") {
  const auto want = reference_parse(kOrcl, 1, 6);  // Date,Open,High,Low,Close,Adj Close,Volume
  REQUIRE(want.size() == 5036);
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
  h.start();
  const auto got = drain(h, 1000);
  check_equal(got, want, h.intern("ORCL"), kDay);
  CHECK(h.lookup(got.front().symbol) == "ORCL");
  CHECK(got.front().time_ns == qflow::parse_time("1995-01-03").value());
  CHECK(got.back().time_ns == qflow::parse_time("2014-12-31").value());
  CHECK(h.progress() == 1.0);
  CHECK(h.stop().empty());
  CHECK(h.logs().empty());
}

TEST_CASE("source.csv_bars: the Binance BTC 1-minute file with date-time stamps") {
  const auto want = reference_parse(kBtc, 1, 5);  // timestamp,open,high,low,close,volume
  REQUIRE(want.size() == 50000);
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars",
                {{"path", kBtc}, {"symbol", "BTCUSDT"}, {"interval", "1m"}});
  h.start();
  const auto got = drain(h, 4096);
  check_equal(got, want, h.intern("BTCUSDT"), kMinute);
  CHECK(got.front().time_ns == qflow::parse_time("2024-10-01T03:00:00Z").value());
  for (size_t i = 1; i < got.size(); ++i) REQUIRE(got[i].time_ns - got[i - 1].time_ns == kMinute);
}

TEST_CASE("source.csv_bars: at most max_events per call, more until the end, progress to 1") {
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
  h.start();
  size_t total = 0;
  double last_progress = 0;
  SourceStatus st = SourceStatus::more;
  while (st != SourceStatus::done) {
    const auto part = h.produce(7, &st);
    REQUIRE(part.size() <= 7);
    if (st == SourceStatus::more) {
      REQUIRE(part.size() == 7);  // a file source always has bars until it is done
      REQUIRE(h.progress() < 1.0);
    }
    REQUIRE(h.progress() > last_progress);
    last_progress = h.progress();
    total += part.size();
  }
  CHECK(total == 5036);
  CHECK(h.progress() == 1.0);
  SourceStatus again = SourceStatus::more;
  CHECK(h.produce(7, &again).empty());
  CHECK(again == SourceStatus::done);
}

TEST_CASE("source.csv_bars: epoch time formats") {
  // Three rows at 2024-10-01 03:00:00.123456789 UTC + k minutes, written in each unit.
  const int64_t t0_ns = 1727751600LL * 1'000'000'000 + 123'456'789;
  struct Case {
    const char* format;
    int64_t divisor;
  };
  for (const Case& c : {Case{"epoch_s", 1'000'000'000}, Case{"epoch_ms", 1'000'000}, Case{"epoch_us", 1'000},
                        Case{"epoch_ns", 1}}) {
    SECTION(c.format) {
      std::string text = "time,open,high,low,close,volume\n";
      std::vector<int64_t> want;
      for (int k = 0; k < 3; ++k) {
        const int64_t units = (t0_ns + k * kMinute) / c.divisor;
        want.push_back(units * c.divisor);
        text += std::to_string(units) + ",10,11,9,10.5,3\n";
      }
      const std::string path = work_file(std::string("epoch_") + c.format + ".csv", text);
      NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars",
                    csv_params(path, {{"time_format", c.format}, {"interval", "1m"}}));
      h.start();
      const auto got = drain(h, 10);
      REQUIRE(got.size() == 3);
      for (size_t i = 0; i < 3; ++i) CHECK(got[i].time_ns == want[i]);
      CHECK(got[2].u.bar.close == 10.5);
    }
  }
  SECTION("an ISO date in an epoch column is malformed") {
    const std::string path = work_file("epoch_bad.csv", "time,open,high,low,close,volume\n2024-10-01,1,1,1,1,1\n");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"time_format", "epoch_s"}}));
    h.start();
    CHECK_THROWS_WITH(drain(h, 10), Catch::Contains(path + ":2: cannot parse time '2024-10-01'"));
  }
}

TEST_CASE("source.csv_bars: ISO forms with T, Z and fractional seconds") {
  const std::string path = work_file("iso.csv",
                                     "Datetime,Open,High,Low,Close,Volume\n"
                                     "2024-10-01T03:00:00Z,1,2,0.5,1.5,10\n"
                                     "2024-10-01T03:00:00.250Z,1,2,0.5,1.5,10\n"
                                     "2024-10-01 03:00:01.5,1,2,0.5,1.5,10\n"
                                     "2024-10-01T03:00:02+00:00,1,2,0.5,1.5,10\n");
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"interval", "250ms"}}));
  h.start();
  const auto got = drain(h, 10);
  const int64_t t0 = 1727751600LL * 1'000'000'000;
  REQUIRE(got.size() == 4);
  CHECK(got[0].time_ns == t0);
  CHECK(got[1].time_ns == t0 + 250'000'000);
  CHECK(got[2].time_ns == t0 + 1'500'000'000);
  CHECK(got[3].time_ns == t0 + 2'000'000'000);
  CHECK(got[0].u.bar.interval_ns == 250'000'000);
}

TEST_CASE("source.csv_bars: CRLF, a UTF-8 BOM, blank trailing lines, no final newline") {
  const auto lines = head_lines(kOrcl, 41);  // header + 40 rows
  const auto want = [&] {
    auto all = reference_parse(kOrcl, 1, 6);
    all.resize(40);
    return all;
  }();
  std::string crlf = "\xEF\xBB\xBF";
  for (const auto& l : lines) crlf += l + "\r\n";
  crlf += "\r\n\r\n\n  \n";
  std::string no_newline;
  for (size_t i = 0; i < lines.size(); ++i) no_newline += lines[i] + (i + 1 < lines.size() ? "\n" : "");
  for (const auto& [name, text] : std::map<std::string, std::string>{{"crlf_bom.csv", crlf}, {"no_newline.csv", no_newline}}) {
    INFO(name);
    const std::string path = work_file(name, text);
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    h.start();
    check_equal(drain(h, 16), want, h.intern("ORCL"), kDay);
    CHECK(h.progress() == 1.0);
  }
}

TEST_CASE("source.csv_bars: chosen columns, another delimiter, no volume") {
  const std::string path = work_file("custom.csv",
                                     "ignored;WHEN;px_o;px_h;px_l;px_c\n"
                                     "x;2020-01-02;1.25;2.5;1;2\n"
                                     "y; 2020-01-03 ; 2 ; 3 ; 1.5 ; 2.75 \n");
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars",
                csv_params(path, {{"delimiter", ";"},
                                  {"time_column", "when"},
                                  {"open_column", "PX_O"},
                                  {"high_column", "px_h"},
                                  {"low_column", "px_l"},
                                  {"close_column", "px_c"},
                                  {"volume_column", ""}}));
  h.start();
  const auto got = drain(h, 10);
  REQUIRE(got.size() == 2);
  CHECK(got[0].time_ns == qflow::parse_time("2020-01-02").value());
  CHECK(got[0].u.bar.open == 1.25);
  CHECK(got[0].u.bar.high == 2.5);
  CHECK(got[0].u.bar.low == 1.0);
  CHECK(got[0].u.bar.close == 2.0);
  CHECK(got[0].u.bar.volume == 0.0);
  CHECK(got[1].time_ns == qflow::parse_time("2020-01-03").value());
  CHECK(got[1].u.bar.close == 2.75);

  CHECK_THROWS_WITH(NodeHarness(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"delimiter", ";;"}})),
                    Catch::Contains("delimiter must be exactly one character"));
}

TEST_CASE("source.csv_bars: each kind of malformed row, under fail and under skip") {
  struct Bad {
    const char* what;
    const char* row;
    const char* reason;
  };
  const Bad cases[] = {
      {"too few fields", "2020-01-03,1,2,0.5,1.5", "expected 6 fields, found 5"},
      {"too many fields", "2020-01-03,1,2,0.5,1.5,100,7", "expected 6 fields, found 7"},
      {"unparsable number", "2020-01-03,abc,2,0.5,1.5,100", "cannot parse number 'abc' in column 'Open'"},
      {"number with junk", "2020-01-03,1,2x,0.5,1.5,100", "cannot parse number '2x' in column 'High'"},
      {"empty number", "2020-01-03,1,2,,1.5,100", "cannot parse number '' in column 'Low'"},
      {"unparsable time", "2020-13-03,1,2,0.5,1.5,100", "cannot parse time '2020-13-03' in column 'Date'"},
      {"infinite number", "2020-01-03,1,inf,0.5,1.5,100", "non-finite number 'inf' in column 'High'"},
      {"nan", "2020-01-03,1,2,0.5,nan,100", "non-finite number 'nan' in column 'Close'"},
      {"duplicate time", "2020-01-02,1,2,0.5,1.5,100", "duplicate time 2020-01-02T00:00:00Z"},
      {"out of order", "2020-01-01,1,2,0.5,1.5,100", "out of order"},
      {"high below low", "2020-01-03,1,2,2.5,1.5,100", "high 2 < low 2.5"},
      {"high below close", "2020-01-03,1,1.4,0.5,1.5,100", "high 1.4 < max(open, close) 1.5"},
      {"high below open", "2020-01-03,1.6,1.55,0.5,1.5,100", "high 1.55 < max(open, close) 1.6"},
      {"low above open", "2020-01-03,1,2,1.1,1.5,100", "low 1.1 > min(open, close) 1"},
      {"low above close", "2020-01-03,1.8,2,1.6,1.5,100", "low 1.6 > min(open, close) 1.5"},
      {"negative volume", "2020-01-03,1,2,0.5,1.5,-100", "negative volume -100"},
  };
  for (const Bad& b : cases) {
    DYNAMIC_SECTION(b.what) {
      const std::string path = work_file("bad.csv", std::string("Date,Open,High,Low,Close,Volume\n"
                                                                "2020-01-01,1,2,0.5,1.5,100\n"
                                                                "2020-01-02,1,2,0.5,1.5,100\n") +
                                                        b.row + "\n" +
                                                        "2020-01-06,1,2,0.5,1.5,100\n"
                                                        "2020-01-07,1,2,0.5,1.5,100\n");
      {
        NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
        h.start();
        size_t before = 0;
        SourceStatus st = SourceStatus::more;
        std::string message;
        try {
          for (int i = 0; i < 10 && st != SourceStatus::done; ++i) before += h.produce(1, &st).size();
        } catch (const NodeError& e) {
          message = e.what();
        }
        CHECK(before == 2);
        CHECK_THAT(message, Catch::StartsWith(path + ":4: ") && Catch::Contains(b.reason));
      }
      {
        NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"on_error", "skip"}}));
        h.start();
        const auto got = drain(h, 100);
        REQUIRE(got.size() == 4);
        CHECK(got[2].time_ns == qflow::parse_time("2020-01-06").value());
        CHECK(got[3].time_ns == qflow::parse_time("2020-01-07").value());
        h.stop();
        REQUIRE(h.logs().size() == 1);
        CHECK_THAT(h.logs()[0], Catch::StartsWith("3: " + path + ": skipped 1 malformed rows (first at line 4: ") &&
                                    Catch::Contains(b.reason));
      }
    }
  }
}

TEST_CASE("source.csv_bars: skip counts every malformed row and reports the first") {
  const std::string path = work_file("many_bad.csv",
                                     "Date,Open,High,Low,Close,Volume\n"
                                     "2020-01-01,1,2,0.5,1.5,100\n"
                                     "2020-01-02,1,2,0.5\n"             // line 3
                                     "\n"                               // line 4, blank: not a row
                                     "2020-01-02,1,2,0.5,1.5,-1\n"      // line 5
                                     "2020-01-03,1,2,0.5,1.5,100\n"
                                     "2020-01-03,1,2,0.5,1.5,100\n"     // line 7, duplicate
                                     "2020-01-04,1,2,0.5,1.5,100\n");
  NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"on_error", "skip"}}));
  h.start();
  const auto got = drain(h, 100);
  REQUIRE(got.size() == 3);
  CHECK(got[1].time_ns == qflow::parse_time("2020-01-03").value());
  h.stop();
  REQUIRE(h.logs().size() == 1);
  CHECK(h.logs()[0] == "3: " + path + ": skipped 3 malformed rows (first at line 3: expected 6 fields, found 4)");
}

TEST_CASE("source.csv_bars: missing file, empty file, missing columns") {
  SECTION("missing file") {
    const std::string path = std::string(QFLOW_TEST_WORK_DIR) + "/does_not_exist.csv";
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    CHECK_THROWS_WITH(h.start(), Catch::StartsWith(path + ": cannot open") && Catch::Contains("No such file"));
  }
  SECTION("empty file") {
    const std::string path = work_file("empty.csv", "");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    CHECK_THROWS_WITH(h.start(), path + ":1: empty file, expected a header line");
  }
  SECTION("only a header: no bars, done at once") {
    const std::string path = work_file("header_only.csv", "Date,Open,High,Low,Close,Volume\n");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    h.start();
    CHECK(drain(h, 10).empty());
    CHECK(h.progress() == 1.0);
  }
  SECTION("a price column the header lacks") {
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl, {{"close_column", "Last"}}));
    CHECK_THROWS_WITH(h.start(), kOrcl + ":1: no 'Last' column (columns found: Date, Open, High, Low, Close, "
                                         "Adj Close, Volume)");
  }
  SECTION("no volume column") {
    const std::string path = work_file("no_volume.csv", "Date,Open,High,Low,Close\n2020-01-01,1,2,0.5,1.5\n");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    CHECK_THROWS_WITH(h.start(), Catch::StartsWith(path + ":1: no 'volume' column") &&
                                     Catch::Contains("columns found: Date, Open, High, Low, Close); set volume_column to \"\" if the file has no volume"));
  }
  SECTION("a line longer than the reader's 1 MiB limit") {
    const std::string path = work_file("long_line.csv", "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,100\n" +
                                                            std::string(2 << 20, '9') + "\n");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"on_error", "skip"}}));
    h.start();
    CHECK_THROWS_WITH(drain(h, 10), path + ":3: line longer than 1 MiB");
  }
  SECTION("no recognisable time column") {
    const std::string path = work_file("no_time.csv", "\n\nwhen,open,high,low,close,volume\n");
    NodeHarness h(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
    CHECK_THROWS_WITH(h.start(), Catch::StartsWith(path + ":3: no time (Date, Datetime, timestamp or time) column") &&
                                     Catch::Contains("columns found: when, open, high, low, close, volume)"));
  }
}

TEST_CASE("source.csv_bars: restore mid-file continues exactly where the saved instance stopped") {
  NodeHarness whole(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
  whole.start();
  const auto want = drain(whole, 500);
  REQUIRE(want.size() == 5036);

  for (const bool restore_before_start : {true, false}) {
    INFO("restore before start: " << restore_before_start);
    NodeHarness first(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
    first.start();
    std::vector<qf_event> got;
    for (const auto& o : first.produce(617, nullptr)) got.push_back(o.ev);
    for (const auto& o : first.produce(617, nullptr)) got.push_back(o.ev);
    const std::string state = first.save_state();
    for (const auto& o : first.produce(1, nullptr)) CHECK(o.ev.time_ns == want[1234].time_ns);  // saving does not move

    NodeHarness relay(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
    relay.restore_state(state);
    CHECK(relay.save_state() == state);  // a restored, not yet started node saves what it got

    NodeHarness second(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
    if (restore_before_start) {
      second.restore_state(state);
      second.start();
    } else {
      second.start();
      second.restore_state(state);
    }
    for (const auto& e : drain(second, 333)) got.push_back(e);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(got[i].time_ns == want[i].time_ns);
      REQUIRE(std::memcmp(&got[i].u.bar, &want[i].u.bar, sizeof(qf_bar)) == 0);
    }
    CHECK(second.progress() == 1.0);
  }
}

TEST_CASE("source.csv_bars: resumed before the first bar, mid-file and after the last equals never stopping") {
  NodeHarness whole(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
  whole.start();
  const auto want = drain(whole, 500);
  REQUIRE(want.size() == 5036);
  for (const size_t cut : {0u, 1u, 2518u, 5035u, 5036u}) {
    INFO("cut before bar " << cut);
    std::vector<qf_event> got;
    std::string state;
    {
      NodeHarness first(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
      first.start();
      while (got.size() < cut)
        for (const auto& o : first.produce(static_cast<uint32_t>(std::min<size_t>(1000, cut - got.size())), nullptr))
          got.push_back(o.ev);
      if (cut == want.size()) {  // the end seen, not just reached
        SourceStatus st = SourceStatus::more;
        CHECK(first.produce(1, &st).empty());
        CHECK(st == SourceStatus::done);
      }
      state = first.save_state();
    }
    NodeHarness second(plugin_path("qflow_sources"), "source.csv_bars", csv_params(kOrcl));
    second.intern("a symbol only this process knows");  // ORCL gets another id
    second.restore_state(state);
    second.start();
    for (qf_event e : drain(second, 333)) {
      CHECK(second.lookup(e.symbol) == "ORCL");
      got.push_back(e);
    }
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      REQUIRE(got[i].time_ns == want[i].time_ns);
      REQUIRE(std::memcmp(&got[i].u.bar, &want[i].u.bar, sizeof(qf_bar)) == 0);
    }
    CHECK(second.progress() == 1.0);
  }
}

TEST_CASE("source.csv_bars: restore keeps the order check and the skip counters") {
  const std::string path = work_file("restore_bad.csv",
                                     "Date,Open,High,Low,Close,Volume\n"
                                     "2020-01-01,1,2,0.5,1.5,100\n"
                                     "2020-01-02,1,2,0.5,nan,100\n"  // line 3
                                     "2020-01-03,1,2,0.5,1.5,100\n"
                                     "2020-01-03,1,2,0.5,1.5,100\n"  // line 5: duplicate of the last bar before the cut
                                     "2020-01-04,1,2,0.5,1.5,100\n");
  NodeHarness first(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"on_error", "skip"}}));
  first.start();
  REQUIRE(first.produce(2, nullptr).size() == 2);  // 01-01, then 01-03 after skipping line 3
  const std::string state = first.save_state();

  NodeHarness second(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path, {{"on_error", "skip"}}));
  second.restore_state(state);
  second.start();
  const auto rest = drain(second, 10);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].time_ns == qflow::parse_time("2020-01-04").value());
  second.stop();
  REQUIRE(second.logs().size() == 1);
  CHECK(second.logs()[0] == "3: " + path + ": skipped 2 malformed rows (first at line 3: non-finite number 'nan' in column 'Close')");

  NodeHarness failing(plugin_path("qflow_sources"), "source.csv_bars", csv_params(path));
  failing.restore_state(state);
  failing.start();
  CHECK_THROWS_WITH(drain(failing, 10), path + ":5: duplicate time 2020-01-03T00:00:00Z (time not strictly increasing)");

  NodeHarness other_file(plugin_path("qflow_sources"), "source.csv_bars",
                         csv_params(work_file("tiny.csv", "Date,Open,High,Low,Close,Volume\n")));
  other_file.restore_state(state);
  CHECK_THROWS_WITH(other_file.start(), Catch::Contains("does not fit this file"));
}
