// runtime/net/replay_server.hpp: the exchange simulator against a real client on loopback.
//
// The client here is written from RFC 6455 over a POSIX socket (OpenSSL for wss), apart from
// libwebsockets, and every expectation comes from the CSV text itself: each message's fields are
// compared with its row's fields as written, and times with the row's time parsed by timegm().
#include "net/replay_server.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using qflow::net::ReplayFault;
using qflow::net::ReplayFeed;
using qflow::net::ReplayOptions;
using qflow::net::ReplayServer;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kData = QFLOW_SHARED_DATA_DIR;
const std::string kWork = QFLOW_TEST_WORK_DIR;
const std::string kTls = QFLOW_TEST_TLS_DIR "/";

// ---- the CSV, read independently of the server ----

struct CsvFile {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string f;
  while (std::getline(in, f, ',')) out.push_back(f);
  return out;
}

CsvFile read_csv(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  CsvFile c;
  std::string line;
  std::getline(in, line);
  c.header = split(line);
  while (std::getline(in, line))
    if (!line.empty()) c.rows.push_back(split(line));
  return c;
}

// Writes a file of the work folder whole, by rename: test cases run in parallel (ctest -j) may
// write the same file, and one must never read another's half-written copy.
std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = kWork + "/" + name;
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::ofstream(tmp) << text;
  std::filesystem::rename(tmp, path);
  return path;
}

// The first `rows` data rows of a shared file, copied into the work folder.
std::string head_of(const std::string& name, size_t rows, const std::string& as) {
  std::ifstream in(kData + "/" + name);
  REQUIRE(in);
  std::string text, line;
  for (size_t i = 0; i <= rows && std::getline(in, line); ++i) text += line + "\n";
  return write_file(as, text);
}

// "2024-10-01 03:00:00", "2015-09-23T20:57:42.146" or "1995-01-03" → ms since 1970, by timegm().
int64_t ms_of(const std::string& text) {
  std::tm tm{};
  int frac = 0, frac_digits = 0;
  if (text.size() == 10) {
    REQUIRE(std::sscanf(text.c_str(), "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) == 3);
  } else {
    REQUIRE(std::sscanf(text.c_str(), "%d-%d-%d%*c%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                        &tm.tm_min, &tm.tm_sec) == 6);
    const bool fraction = text.size() > 20 && text[19] == '.';
    for (size_t i = 20; fraction && i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && frac_digits < 3;
         ++i, ++frac_digits)
      frac = frac * 10 + (text[i] - '0');
    while (frac_digits > 0 && frac_digits < 3) frac *= 10, ++frac_digits;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + frac;
}

// What a closed (or partial) kline of a row must read, field by field, from the CSV text.
std::string expected_kline(const std::string& symbol, const std::vector<std::string>& row, int64_t interval_ms,
                           bool closed = true) {
  const int64_t t = ms_of(row[0]);
  std::ostringstream s;
  s << "E=" << (closed ? t + interval_ms : t + interval_ms - 1) << " s=" << symbol << " t=" << t
    << " T=" << t + interval_ms - 1 << " o=" << row[1] << " h=" << row[2] << " l=" << row[3] << " c=" << row[4]
    << " v=" << row[5] << " x=" << (closed ? "true" : "false") << " n=0 f=-1 L=-1 q=0 V=0 Q=0 B=0";
  return s.str();
}

// The same fields read from a message's data object; "malformed: ..." when it is not a kline.
std::string kline_fields(const json& d, const std::string& interval) {
  try {
    if (d.at("e") != "kline") return "malformed: e=" + d.at("e").dump();
    const json& k = d.at("k");
    if (k.at("i") != interval || k.at("s") != d.at("s")) return "malformed: " + d.dump();
    std::ostringstream s;
    s << "E=" << d.at("E").get<int64_t>() << " s=" << d.at("s").get<std::string>() << " t=" << k.at("t").get<int64_t>()
      << " T=" << k.at("T").get<int64_t>() << " o=" << k.at("o").get<std::string>() << " h=" << k.at("h").get<std::string>()
      << " l=" << k.at("l").get<std::string>() << " c=" << k.at("c").get<std::string>()
      << " v=" << k.at("v").get<std::string>() << " x=" << (k.at("x").get<bool>() ? "true" : "false")
      << " n=" << k.at("n").get<int64_t>() << " f=" << k.at("f").get<int64_t>() << " L=" << k.at("L").get<int64_t>()
      << " q=" << k.at("q").get<std::string>() << " V=" << k.at("V").get<std::string>()
      << " Q=" << k.at("Q").get<std::string>() << " B=" << k.at("B").get<std::string>();
    return s.str();
  } catch (const json::exception& e) {
    return std::string("malformed: ") + e.what();
  }
}

// A raw-stream message (the bare data object) as kline fields.
std::string raw_kline(const std::string& text, const std::string& interval = "1m") {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return "malformed: not JSON";
  return kline_fields(j, interval);
}

// ---- a WebSocket and HTTP client over a plain or TLS socket ----

struct TlsTrust {
  SSL_CTX* ctx = nullptr;
  explicit TlsTrust(const std::string& ca) {
    ctx = SSL_CTX_new(TLS_client_method());
    REQUIRE(ctx);
    REQUIRE(SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  ~TlsTrust() { SSL_CTX_free(ctx); }
};

class Socket {
 public:
  Socket() = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  // "" when connected (and, with TLS, the server's certificate verified for 127.0.0.1).
  std::string open(int port, const TlsTrust* tls) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return "socket failed";
    timeval tv{10, 0};  // a broken server fails the test instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
    if (!tls) return {};
    ssl_ = SSL_new(tls->ctx);
    SSL_set_fd(ssl_, fd_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    if (SSL_connect(ssl_) != 1) {
      const long verify = SSL_get_verify_result(ssl_);
      return "TLS handshake failed: " + std::string(X509_verify_cert_error_string(verify));
    }
    return {};
  }

  bool write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const long n = ssl_ ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                          : ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Appends what arrives to `buf`; false at the end of the stream or on an error.
  bool read_some(std::string& buf) {
    char chunk[16384];
    const long n = ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
    return true;
  }

  void close() {
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

struct Received {
  std::string text;
  Clock::time_point at;
};

struct WsEnd {
  enum Kind { close, eof } kind = eof;  // eof: the connection ended without a close frame
  int code = 0;
  std::string reason;
  Clock::time_point at;
};

class WsClient {
 public:
  // "" when the handshake succeeded.
  std::string connect(int port, const std::string& target, const TlsTrust* tls = nullptr) {
    if (std::string e = socket_.open(port, tls); !e.empty()) return e;
    unsigned char nonce[16];
    std::mt19937 rng(std::random_device{}());
    for (unsigned char& b : nonce) b = static_cast<unsigned char>(rng());
    const std::string key = base64(nonce, sizeof nonce);
    if (!socket_.write("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                       "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                       "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
      return "cannot send the handshake";
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!socket_.read_some(buf_)) return "no handshake answer (got '" + buf_ + "')";
    const std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (!head.starts_with("HTTP/1.1 101")) return "not upgraded: " + head;
    const std::string magic = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(magic.data()), magic.size(), digest);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (head.find(base64(digest, sizeof digest)) == std::string::npos || lower.find("sec-websocket-accept:") == std::string::npos)
      return "wrong Sec-WebSocket-Accept in: " + head;
    return {};
  }

  // The next text message; nullopt when the connection ended (see end()).
  std::optional<Received> next() {
    std::string message;
    for (;;) {
      uint8_t opcode = 0;
      bool fin = false;
      std::string payload;
      if (!frame(opcode, fin, payload)) {
        end_ = WsEnd{WsEnd::eof, 0, {}, Clock::now()};
        return std::nullopt;
      }
      if (opcode == 0x9) {
        ++pings_;
        send_frame(0xA, payload);
      } else if (opcode == 0x8) {
        const int code = payload.size() >= 2 ? (static_cast<uint8_t>(payload[0]) << 8) | static_cast<uint8_t>(payload[1]) : 1005;
        end_ = WsEnd{WsEnd::close, code, payload.size() > 2 ? payload.substr(2) : "", Clock::now()};
        send_frame(0x8, payload.substr(0, 2));
        return std::nullopt;
      } else if (opcode == 0x1 || opcode == 0x0) {
        message += payload;
        if (fin) return Received{std::move(message), Clock::now()};
      }
    }
  }

  // Every message until the connection ends.
  std::vector<Received> all() {
    std::vector<Received> out;
    while (std::optional<Received> m = next()) out.push_back(std::move(*m));
    return out;
  }
  std::vector<Received> take(size_t n) {
    std::vector<Received> out;
    while (out.size() < n)
      if (std::optional<Received> m = next()) out.push_back(std::move(*m));
      else break;
    return out;
  }

  const WsEnd& end() const { return end_; }
  int pings() const { return pings_; }
  void close() { socket_.close(); }

 private:
  bool fill(size_t n) {
    while (buf_.size() < n)
      if (!socket_.read_some(buf_)) return false;
    return true;
  }

  bool frame(uint8_t& opcode, bool& fin, std::string& payload) {
    if (!fill(2)) return false;
    const auto b = [&](size_t i) { return static_cast<uint8_t>(buf_[i]); };
    fin = b(0) & 0x80;
    opcode = b(0) & 0x0F;
    REQUIRE((b(1) & 0x80) == 0);  // a server never masks
    uint64_t len = b(1) & 0x7F;
    size_t at = 2;
    if (len >= 126) {
      const size_t bytes = len == 126 ? 2 : 8;
      if (!fill(2 + bytes)) return false;
      len = 0;
      for (size_t i = 0; i < bytes; ++i) len = (len << 8) | b(2 + i);
      at += bytes;
    }
    if (!fill(at + len)) return false;
    payload = buf_.substr(at, len);
    buf_.erase(0, at + len);
    return true;
  }

  void send_frame(uint8_t opcode, const std::string& payload) {
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    f += static_cast<char>(0x80 | payload.size());  // control frames only: under 126 bytes
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    socket_.write(f);
  }

  Socket socket_;
  std::string buf_;
  WsEnd end_;
  int pings_ = 0;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

HttpAnswer http(int port, const std::string& method, const std::string& target, const std::string& body = "",
                const TlsTrust* tls = nullptr) {
  Socket s;
  REQUIRE(s.open(port, tls) == "");
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (method == "POST") req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  REQUIRE(s.write(req + "\r\n" + body));
  std::string buf;
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) REQUIRE(s.read_some(buf));
  HttpAnswer a;
  REQUIRE(std::sscanf(buf.c_str(), "HTTP/1.1 %d", &a.status) == 1);
  std::string head = buf.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
  const size_t cl = head.find("content-length:");
  REQUIRE(cl != std::string::npos);
  const size_t length = std::stoul(head.substr(cl + 15));
  buf.erase(0, end + 4);
  while (buf.size() < length) REQUIRE(s.read_some(buf));
  a.body = buf.substr(0, length);
  return a;
}

HttpAnswer get(int port, const std::string& target) { return http(port, "GET", target); }

ReplayFeed feed(const std::string& symbol, const std::string& path, ReplayFeed::Kind kind = ReplayFeed::bars) {
  ReplayFeed f;
  f.symbol = symbol;
  f.path = path;
  f.kind = kind;
  return f;
}

ReplayOptions one_feed(const std::string& symbol, const std::string& path, double speed) {
  ReplayOptions o;
  o.feeds.push_back(feed(symbol, path));
  o.speed = speed;
  return o;
}

// Row indices of raw-stream kline messages, checked against the rows' text; -1 for a malformed one.
std::vector<int> row_numbers(const std::vector<Received>& got, const CsvFile& csv, const std::string& symbol) {
  std::vector<int> out;
  for (const Received& m : got) {
    const std::string fields = raw_kline(m.text);
    if (fields.starts_with("malformed")) {
      out.push_back(-1);
      continue;
    }
    const int64_t t = json::parse(m.text)["k"]["t"].get<int64_t>();
    const auto row = std::find_if(csv.rows.begin(), csv.rows.end(), [&](const auto& r) { return ms_of(r[0]) == t; });
    REQUIRE(row != csv.rows.end());
    CHECK(fields == expected_kline(symbol, *row, 60'000));
    out.push_back(static_cast<int>(row - csv.rows.begin()));
  }
  return out;
}

std::vector<int> iota_rows(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("replay-server: a combined stream of two symbols is every CSV row, merged in time order, then closed 1000") {
  const std::string btc = head_of("binance_spot_btcusdt_1m_2024q4.csv", 1500, "rs_btc1500.csv");
  const std::string eth = head_of("binance_spot_ethusdt_1m_2024q4.csv", 1500, "rs_eth1500.csv");
  const CsvFile bcsv = read_csv(btc), ecsv = read_csv(eth);
  ReplayOptions o;
  o.feeds = {feed("BTCUSDT", btc), feed("ethusdt", eth)};
  o.speed = 0;
  o.exit_at_end = true;
  ReplayServer server(o);
  CHECK(server.streams() == std::vector<std::string>{"btcusdt@kline_1m", "ethusdt@kline_1m"});
  server.start();
  CHECK(server.url() == "ws://127.0.0.1:" + std::to_string(server.port()) + "/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m");

  // The expected order: by release (open + 1m), BTC before ETH at equal times.
  struct Expect {
    int64_t release;
    std::string stream, fields;
  };
  std::vector<Expect> expected;
  for (const auto& r : bcsv.rows)
    expected.push_back({ms_of(r[0]) + 60'000, "btcusdt@kline_1m", expected_kline("BTCUSDT", r, 60'000)});
  for (const auto& r : ecsv.rows)
    expected.push_back({ms_of(r[0]) + 60'000, "ethusdt@kline_1m", expected_kline("ETHUSDT", r, 60'000)});
  std::stable_sort(expected.begin(), expected.end(), [](const Expect& a, const Expect& b) { return a.release < b.release; });

  WsClient client;
  REQUIRE(client.connect(server.port(), "/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m") == "");
  const std::vector<Received> got = client.all();
  REQUIRE(got.size() == 3000);
  size_t same = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const json j = json::parse(got[i].text);
    const std::string fields = kline_fields(j["data"], "1m");
    if (j["stream"] == expected[i].stream && fields == expected[i].fields) {
      ++same;
    } else {
      INFO("message " << i);
      CHECK(j["stream"] == expected[i].stream);
      CHECK(fields == expected[i].fields);
    }
  }
  CHECK(same == 3000);
  CHECK(client.end().kind == WsEnd::close);
  CHECK(client.end().code == 1000);
  CHECK(client.end().reason == "replay finished");
  client.close();
  server.wait_finished();
  CHECK(server.finished());
  const ReplayServer::Stats s = server.stats();
  CHECK(s.sent == 3000);
  CHECK(s.total == 3000);
  CHECK(s.position == 3000);
  CHECK(s.connections == 1);
  CHECK(s.dropped + s.duplicated + s.malformed + s.reordered + s.disconnects + s.stalls == 0);
}

TEST_CASE("replay-server: a raw /ws/ stream sends bare data objects, and partial klines come before each closed one") {
  const std::string path = head_of("binance_spot_ethusdt_1m_2024q4.csv", 100, "rs_eth100.csv");
  const CsvFile csv = read_csv(path);
  SECTION("closed klines only") {
    ReplayServer server(one_feed("ETHUSDT", path, 0));
    server.start();
    WsClient client;
    REQUIRE(client.connect(server.port(), "/ws/ethusdt@kline_1m") == "");
    const std::vector<Received> got = client.all();
    REQUIRE(got.size() == csv.rows.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(raw_kline(got[i].text) == expected_kline("ETHUSDT", csv.rows[i], 60'000));
    CHECK(client.end().code == 1000);
  }
  SECTION("with partial klines") {
    ReplayOptions o = one_feed("ETHUSDT", path, 0);
    o.partial_klines = true;
    ReplayServer server(o);
    server.start();
    WsClient client;
    REQUIRE(client.connect(server.port(), "/ws/ethusdt@kline_1m") == "");
    const std::vector<Received> got = client.all();
    REQUIRE(got.size() == 2 * csv.rows.size());
    for (size_t i = 0; i < csv.rows.size(); ++i) {
      CHECK(raw_kline(got[2 * i].text) == expected_kline("ETHUSDT", csv.rows[i], 60'000, false));
      CHECK(raw_kline(got[2 * i + 1].text) == expected_kline("ETHUSDT", csv.rows[i], 60'000, true));
    }
    CHECK(server.stats().total == 2 * csv.rows.size());
  }
}

TEST_CASE("replay-server: the trade stream of a tick file carries each row's price and quantity text") {
  const std::string path = kData + "/backtrader_ticksample.csv";
  const CsvFile csv = read_csv(path);  // Datetime,Open,High,Low,Close,Volume,OpenInterest
  ReplayOptions o;
  o.feeds.push_back(feed("ESU5", path, ReplayFeed::ticks));
  o.speed = 0;
  ReplayServer server(o);
  REQUIRE(server.streams() == std::vector<std::string>{"esu5@trade"});
  server.start();
  WsClient client;
  REQUIRE(client.connect(server.port(), "/stream?streams=esu5@trade") == "");
  const std::vector<Received> got = client.all();
  REQUIRE(got.size() == csv.rows.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const json j = json::parse(got[i].text);
    CHECK(j["stream"] == "esu5@trade");
    const json& d = j["data"];
    const int64_t t = ms_of(csv.rows[i][0]);
    CHECK(d.dump() == json{{"e", "trade"}, {"E", t}, {"s", "ESU5"}, {"t", i + 1}, {"p", csv.rows[i][4]},
                           {"q", csv.rows[i][5]}, {"T", t}, {"m", false}, {"M", true}}
                          .dump());
  }
  CHECK(client.end().reason == "replay finished");
}

TEST_CASE("replay-server: REST klines are the CSV rows, windowed and limited as Binance does") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 1500, "rs_btc1500.csv");
  const CsvFile csv = read_csv(path);
  ReplayServer server(one_feed("BTCUSDT", path, 0));
  server.start();
  const int port = server.port();
  const auto row_of = [&](const json& k) {
    std::ostringstream s;
    s << k[0].get<int64_t>() << "," << k[1].get<std::string>() << "," << k[2].get<std::string>() << ","
      << k[3].get<std::string>() << "," << k[4].get<std::string>() << "," << k[5].get<std::string>() << ","
      << k[6].get<int64_t>() << "|" << k[7] << k[8] << k[9] << k[10] << k[11];
    return s.str();
  };
  const auto csv_row = [&](size_t i) {
    const auto& r = csv.rows[i];
    const int64_t t = ms_of(r[0]);
    return std::to_string(t) + "," + r[1] + "," + r[2] + "," + r[3] + "," + r[4] + "," + r[5] + "," +
           std::to_string(t + 59'999) + "|\"0\"0\"0\"\"0\"\"0\"";
  };
  const auto klines = [&](const std::string& q) {
    const HttpAnswer a = get(port, "/api/v3/klines?" + q);
    INFO(q << " → " << a.body);
    REQUIRE(a.status == 200);
    return json::parse(a.body);
  };

  // Before anyone subscribed, the clock has not started: nothing is released.
  CHECK(klines("symbol=BTCUSDT&interval=1m").empty());
  CHECK(json::parse(get(port, "/api/v3/time").body)["serverTime"].get<int64_t>() == ms_of(csv.rows[0][0]) + 60'000 - 1);

  WsClient client;
  REQUIRE(client.connect(port, "/ws/btcusdt@kline_1m") == "");
  REQUIRE(client.all().size() == 1500);

  const std::string t10 = std::to_string(ms_of(csv.rows[10][0])), t19 = std::to_string(ms_of(csv.rows[19][0]));
  json k = klines("symbol=BTCUSDT&interval=1m&startTime=" + t10 + "&endTime=" + t19);
  REQUIRE(k.size() == 10);
  for (size_t i = 0; i < 10; ++i) CHECK(row_of(k[i]) == csv_row(10 + i));
  k = klines("symbol=BTCUSDT&interval=1m&startTime=" + t10 + "&limit=3");
  REQUIRE(k.size() == 3);
  CHECK(row_of(k[2]) == csv_row(12));
  k = klines("symbol=BTCUSDT&interval=1m&endTime=" + t19 + "&limit=4");  // the last 4 up to endTime
  REQUIRE(k.size() == 4);
  CHECK(row_of(k[0]) == csv_row(16));
  CHECK(row_of(k[3]) == csv_row(19));
  k = klines("symbol=BTCUSDT&interval=1m&limit=2");  // the latest
  REQUIRE(k.size() == 2);
  CHECK(row_of(k[1]) == csv_row(1499));
  CHECK(klines("symbol=BTCUSDT&interval=1m").size() == 500);
  CHECK(klines("symbol=BTCUSDT&interval=1m&startTime=0&limit=5000").size() == 1000);
  k = klines("symbol=btcusdt&interval=1m&startTime=" + t19 + "&limit=1000");
  REQUIRE(k.size() == 1000);
  for (size_t i = 0; i < k.size(); ++i)
    if (row_of(k[i]) != csv_row(19 + i)) FAIL("row " << 19 + i << ": " << row_of(k[i]) << " != " << csv_row(19 + i));
  // After the end every kline is released: the server's time is past the last close.
  CHECK(json::parse(get(port, "/api/v3/time").body)["serverTime"].get<int64_t>() == ms_of(csv.rows[1499][0]) + 60'000);
}

TEST_CASE("replay-server: REST never returns a kline the replay has not released, and stop() closes clients with 1001") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 400, "rs_btc400.csv");
  const CsvFile csv = read_csv(path);
  const double speed = 1200;  // a 1m bar every 50 ms
  ReplayServer server(one_feed("BTCUSDT", path, speed));
  server.start();
  const Clock::time_point before = Clock::now();  // the clock starts after this
  WsClient client;
  REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  for (int round = 0; round < 3; ++round) {
    const size_t seen = client.take(4).size() + static_cast<size_t>(round) * 4;
    const json k = json::parse(get(server.port(), "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000").body);
    const int64_t now = json::parse(get(server.port(), "/api/v3/time").body)["serverTime"];
    const double elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - before).count();
    // At most the bars whose close the clock can have reached since `before`.
    const size_t possible = static_cast<size_t>(elapsed_ms * speed / 60'000.0) + 1;
    INFO("round " << round << ": " << k.size() << " klines, " << seen << " seen on the stream, at most " << possible);
    CHECK(k.size() >= seen);
    CHECK(k.size() <= possible);
    for (size_t i = 0; i < k.size(); ++i) {
      CHECK(k[i][0].get<int64_t>() == ms_of(csv.rows[i][0]));
      CHECK(k[i][6].get<int64_t>() + 1 <= now);
    }
  }
  // stop() closes the connection cleanly, with 1001.
  std::thread stopper([&] { server.stop(); });
  client.all();
  stopper.join();
  CHECK(client.end().kind == WsEnd::close);
  CHECK(client.end().code == 1001);
  CHECK(client.end().reason == "server stopping");
  CHECK_FALSE(server.finished());
}

TEST_CASE("replay-server: REST errors are Binance's, unknown paths 404, and ping and time answer") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 30, "rs_btc30.csv");
  ReplayServer server(one_feed("BTCUSDT", path, 0));
  server.start();
  const int port = server.port();
  const auto error = [&](const std::string& target, int code) {
    const HttpAnswer a = get(port, target);
    INFO(target << " → " << a.status << " " << a.body);
    CHECK(a.status == 400);
    const json j = json::parse(a.body, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["code"] == code);
    CHECK(j["msg"].is_string());
    return j["msg"].is_string() ? j["msg"].get<std::string>() : "";
  };
  CHECK(error("/api/v3/klines?symbol=XRPUSDT&interval=1m", -1121) == "Invalid symbol.");
  CHECK(error("/api/v3/klines?symbol=BTCUSDT&interval=5m", -1120) == "Invalid interval.");
  error("/api/v3/klines?symbol=BTCUSDT&interval=7x", -1120);
  error("/api/v3/klines?interval=1m", -1102);
  error("/api/v3/klines?symbol=BTCUSDT", -1102);
  error("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=abc", -1100);
  error("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=0", -1130);
  error("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=20&endTime=10", -1023);
  for (const char* p : {"/", "/api/v3/nothing", "/api/v3/klines/x", "/wss/btcusdt@kline_1m"}) {
    INFO(p);
    CHECK(get(port, p).status == 404);
  }
  CHECK(http(port, "POST", "/api/v3/ping", "{}").status == 404);
  CHECK(get(port, "/stream?streams=btcusdt@kline_1m").status == 400);  // a stream without the upgrade
  const HttpAnswer ping = get(port, "/api/v3/ping");
  CHECK(ping.status == 200);
  CHECK(ping.body == "{}");
  CHECK(json::parse(get(port, "/api/v3/time").body).contains("serverTime"));

  // A subscription to a stream that does not exist is closed with 1008 and a reason saying which.
  WsClient client;
  REQUIRE(client.connect(port, "/stream?streams=btcusdt@kline_1m/btcusdt@kline_5m") == "");
  CHECK(client.all().empty());
  CHECK(client.end().code == 1008);
  CHECK_THAT(client.end().reason, Catch::Contains("btcusdt@kline_5m"));
  WsClient elsewhere;
  REQUIRE(elsewhere.connect(port, "/nowhere") == "");
  CHECK(elsewhere.all().empty());
  CHECK(elsewhere.end().code == 1008);
  CHECK(server.stats().connections == 0);
}

TEST_CASE("replay-server: periodic faults hit exactly the messages they name") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  const CsvFile csv = read_csv(path);
  const auto run = [&](const qflow::net::ReplayFaults& faults) {
    ReplayOptions o = one_feed("BTCUSDT", path, 0);
    o.faults = faults;
    ReplayServer server(o);
    server.start();
    WsClient client;
    REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
    const std::vector<Received> got = client.all();
    CHECK(client.end().code == 1000);
    client.close();
    server.stop();
    return std::make_pair(row_numbers(got, csv, "BTCUSDT"), server.stats());
  };
  // Message k (from 1) is row k - 1.
  SECTION("drop every 7th") {
    qflow::net::ReplayFaults f;
    f.drop_every = 7;
    const auto [rows, stats] = run(f);
    std::vector<int> expected;
    for (int k = 1; k <= 200; ++k)
      if (k % 7 != 0) expected.push_back(k - 1);
    CHECK(rows == expected);
    CHECK(stats.dropped == 28);
    CHECK(stats.sent == 172);
  }
  SECTION("duplicate every 5th") {
    qflow::net::ReplayFaults f;
    f.duplicate_every = 5;
    const auto [rows, stats] = run(f);
    std::vector<int> expected;
    for (int k = 1; k <= 200; ++k) {
      expected.push_back(k - 1);
      if (k % 5 == 0) expected.push_back(k - 1);
    }
    CHECK(rows == expected);
    CHECK(stats.duplicated == 40);
    CHECK(stats.sent == 240);
  }
  SECTION("malformed every 6th, four ways in turn") {
    qflow::net::ReplayFaults f;
    f.malformed_every = 6;
    const auto [rows, stats] = run(f);
    std::vector<int> expected;
    for (int k = 1; k <= 200; ++k) expected.push_back(k % 6 == 0 ? -1 : k - 1);
    CHECK(rows == expected);
    CHECK(stats.malformed == 33);
    CHECK(stats.sent == 200);
  }
  SECTION("reorder every 4th: swapped with the next") {
    qflow::net::ReplayFaults f;
    f.reorder_every = 4;
    const auto [rows, stats] = run(f);
    std::vector<int> expected;
    for (int k = 1; k <= 200; ++k) {
      if (k % 4 == 0 && k < 200) {
        expected.push_back(k);  // message k + 1 first
        expected.push_back(k - 1);
        ++k;
      } else {
        expected.push_back(k - 1);
      }
    }
    CHECK(rows == expected);
    CHECK(stats.reordered == 49);  // the 200th has no next to swap with
    CHECK(stats.sent == 200);
  }
}

TEST_CASE("replay-server: malformed messages vary: cut short, not JSON, missing fields, unknown event") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 30, "rs_btc30.csv");
  ReplayOptions o = one_feed("BTCUSDT", path, 0);
  o.faults.malformed_every = 1;
  ReplayServer server(o);
  server.start();
  WsClient client;
  REQUIRE(client.connect(server.port(), "/stream?streams=btcusdt@kline_1m") == "");
  const std::vector<Received> got = client.all();
  REQUIRE(got.size() == 30);
  std::set<std::string> kinds;
  for (const Received& m : got) {
    const json j = json::parse(m.text, nullptr, false);
    if (j.is_discarded()) {
      kinds.insert(m.text.starts_with("{\"stream\":\"btcusdt@kline_1m\"") ? "truncated" : "not json");
      continue;
    }
    REQUIRE(j.contains("data"));
    const std::string fields = kline_fields(j["data"], "1m");
    CHECK(fields.starts_with("malformed"));
    kinds.insert(j["data"].value("e", "") == "kline" ? "missing fields" : "unknown event");
  }
  CHECK(kinds == std::set<std::string>{"truncated", "not json", "missing fields", "unknown event"});
}

TEST_CASE("replay-server: faults injected before anyone subscribes apply to the first client's first messages") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 50, "rs_btc50.csv");
  const CsvFile csv = read_csv(path);
  ReplayServer server(one_feed("BTCUSDT", path, 0));
  server.start();
  server.inject(ReplayFault{ReplayFault::Kind::duplicate, 2});
  server.inject(ReplayFault{ReplayFault::Kind::reorder, 1});
  CHECK(http(server.port(), "POST", "/control/fault", R"({"kind":"drop","count":3})").status == 200);
  CHECK(http(server.port(), "POST", "/control/fault", R"({"kind":"malformed","count":2})").status == 200);
  for (const char* bad : {R"({"kind":"explode"})", R"({"count":2})", R"({"kind":"drop","count":0})",
                          R"({"kind":"stall"})", R"({"kind":"drop","cnt":1})", "not json"}) {
    const HttpAnswer a = http(server.port(), "POST", "/control/fault", bad);
    INFO(bad << " → " << a.body);
    CHECK(a.status == 400);
    CHECK(json::parse(a.body, nullptr, false).contains("error"));
  }
  WsClient client;
  REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  const std::vector<int> rows = row_numbers(client.all(), csv, "BTCUSDT");
  // Drops first, then malformed, then duplicates, then the reorder: messages 1-3 dropped, 4-5
  // malformed, 6 and 7 twice, 8 held and sent after 9.
  std::vector<int> expected{-1, -1, 5, 5, 6, 6, 8, 7};
  for (int r = 9; r < 50; ++r) expected.push_back(r);
  CHECK(rows == expected);
  const ReplayServer::Stats s = server.stats();
  CHECK(s.dropped == 3);
  CHECK(s.malformed == 2);
  CHECK(s.duplicated == 2);
  CHECK(s.reordered == 1);
  const json stats = json::parse(get(server.port(), "/control/stats").body);
  CHECK(stats["dropped"] == 3);
  CHECK(stats["duplicated"] == 2);
  CHECK(stats["sent"] == s.sent);
  CHECK(stats["total"] == 50);
}

TEST_CASE("replay-server: a fault injected mid-stream drops exactly the next messages") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  const CsvFile csv = read_csv(path);
  ReplayServer server(one_feed("BTCUSDT", path, 12000));  // a bar every 5 ms
  server.start();
  WsClient client;
  REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  std::vector<Received> got = client.take(10);
  REQUIRE(http(server.port(), "POST", "/control/fault", R"({"kind":"drop","count":3})").status == 200);
  for (Received& m : client.all()) got.push_back(std::move(m));
  CHECK(client.end().code == 1000);
  const std::vector<int> rows = row_numbers(got, csv, "BTCUSDT");
  REQUIRE(rows.size() == 197);
  // Three consecutive rows are missing, all after the ten already received.
  int gap = -1;
  for (size_t i = 0; i + 1 < rows.size(); ++i)
    if (rows[i + 1] != rows[i] + 1) {
      CHECK(gap == -1);
      gap = static_cast<int>(i);
      CHECK(rows[i + 1] == rows[i] + 4);
    }
  CHECK(gap >= 9);
  CHECK(rows.front() == 0);
  CHECK(rows.back() == 199);
  CHECK(server.stats().dropped == 3);
}

TEST_CASE("replay-server: a disconnect drops the client without a close frame, and a reconnect resumes live") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  const CsvFile csv = read_csv(path);
  ReplayServer server(one_feed("BTCUSDT", path, 12000));
  server.start();
  WsClient first;
  REQUIRE(first.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  std::vector<Received> before = first.take(10);
  server.inject(ReplayFault{ReplayFault::Kind::disconnect});
  for (Received& m : first.all()) before.push_back(std::move(m));
  CHECK(first.end().kind == WsEnd::eof);
  const std::vector<int> rows_before = row_numbers(before, csv, "BTCUSDT");
  CHECK(rows_before == iota_rows(0, static_cast<int>(rows_before.size())));
  CHECK(server.stats().disconnects == 1);

  const uint64_t position = server.stats().position;  // the live position, before reconnecting
  WsClient second;
  REQUIRE(second.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  const std::vector<int> rows_after = row_numbers(second.all(), csv, "BTCUSDT");
  CHECK(second.end().code == 1000);
  REQUIRE(!rows_after.empty());
  CHECK(rows_after.front() >= static_cast<int>(position));
  CHECK(rows_after.front() >= static_cast<int>(rows_before.size()));
  CHECK(rows_after == iota_rows(rows_after.front(), 200));
  CHECK(server.stats().connections == 2);
}

TEST_CASE("replay-server: disconnect_every drops every connection periodically, never before its period") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  ReplayOptions o = one_feed("BTCUSDT", path, 12000);  // 1 s of replay
  o.faults.disconnect_every_ns = 300'000'000;
  ReplayServer server(o);
  server.start();
  const Clock::time_point before = Clock::now();
  int drops = 0;
  Clock::time_point first_drop{};
  for (;;) {
    WsClient client;
    REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
    client.all();
    if (client.end().kind == WsEnd::close) {
      CHECK(client.end().reason == "replay finished");
      break;
    }
    if (drops++ == 0) first_drop = client.end().at;
    REQUIRE(drops < 20);
  }
  CHECK(drops >= 1);
  CHECK(first_drop - before >= std::chrono::milliseconds(300));
  CHECK(server.stats().disconnects == static_cast<uint64_t>(drops));
}

TEST_CASE("replay-server: a stall stops sending for its duration and loses nothing") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  const CsvFile csv = read_csv(path);
  ReplayServer server(one_feed("BTCUSDT", path, 12000));
  server.start();
  WsClient client;
  REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m") == "");
  std::vector<Received> got = client.take(10);
  REQUIRE(http(server.port(), "POST", "/control/fault", R"({"kind":"stall","ms":300})").status == 200);
  for (Received& m : client.all()) got.push_back(std::move(m));
  CHECK(row_numbers(got, csv, "BTCUSDT") == iota_rows(0, 200));
  Clock::duration longest{};
  for (size_t i = 1; i < got.size(); ++i) longest = std::max(longest, got[i].at - got[i - 1].at);
  CHECK(longest >= std::chrono::milliseconds(250));  // 300 ms, less a message that was in flight
  CHECK(server.stats().stalls == 1);
}

TEST_CASE("replay-server: at a finite speed no message arrives before its due time, and pings come") {
  const std::string path = head_of("binance_spot_ethusdt_1m_2024q4.csv", 20, "rs_eth20.csv");
  const CsvFile csv = read_csv(path);
  ReplayOptions o = one_feed("ETHUSDT", path, 1200);  // a 1m bar every 50 ms
  o.ping_every_ns = 100'000'000;
  ReplayServer server(o);
  server.start();
  const Clock::time_point before = Clock::now();  // the clock starts at the subscription, after this
  WsClient client;
  REQUIRE(client.connect(server.port(), "/ws/ethusdt@kline_1m") == "");
  const std::vector<Received> got = client.all();
  REQUIRE(got.size() == 20);
  const int64_t first = ms_of(csv.rows[0][0]);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(raw_kline(got[i].text) == expected_kline("ETHUSDT", csv.rows[i], 60'000));
    const auto due = std::chrono::duration<double, std::milli>((ms_of(csv.rows[i][0]) - first) / 1200.0);
    INFO("message " << i);
    CHECK(std::chrono::duration<double, std::milli>(got[i].at - before) >= due);
  }
  CHECK(client.end().code == 1000);
  CHECK(client.pings() >= 1);
}

TEST_CASE("replay-server: TLS serves wss and https to a client trusting the CA, and a wrong certificate is refused") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 30, "rs_btc30.csv");
  const CsvFile csv = read_csv(path);
  const TlsTrust trust(kTls + "ca.crt");
  SECTION("signed by the CA") {
    ReplayOptions o = one_feed("BTCUSDT", path, 0);
    o.cert = kTls + "server.crt";
    o.key = kTls + "server.key";
    ReplayServer server(o);
    server.start();
    CHECK(server.url().starts_with("wss://127.0.0.1:"));
    const HttpAnswer ping = http(server.port(), "GET", "/api/v3/ping", "", &trust);
    CHECK(ping.status == 200);
    CHECK(ping.body == "{}");
    WsClient client;
    REQUIRE(client.connect(server.port(), "/ws/btcusdt@kline_1m", &trust) == "");
    const std::vector<Received> got = client.all();
    REQUIRE(got.size() == 30);
    for (size_t i = 0; i < got.size(); ++i) CHECK(raw_kline(got[i].text) == expected_kline("BTCUSDT", csv.rows[i], 60'000));
    CHECK(client.end().code == 1000);
  }
  SECTION("self-signed") {
    ReplayOptions o = one_feed("BTCUSDT", path, 0);
    o.cert = kTls + "untrusted.crt";
    o.key = kTls + "untrusted.key";
    ReplayServer server(o);
    server.start();
    WsClient client;
    CHECK_THAT(client.connect(server.port(), "/ws/btcusdt@kline_1m", &trust), Catch::Contains("TLS handshake failed"));
    CHECK(server.stats().connections == 0);
  }
}

TEST_CASE("replay-server: a bad data file stops the constructor with path:line and the reason") {
  const std::string header = "timestamp,open,high,low,close,volume\n";
  const std::string good = "2024-10-01 03:00:00,10,12,9,11,5\n";
  const auto refused = [](const std::string& path, const std::string& interval = "") {
    ReplayOptions o = one_feed("BTCUSDT", path, 1);
    o.feeds[0].interval = interval;
    try {
      ReplayServer server(o);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::string p = write_file("rs_bad_fields.csv", header + good + "2024-10-01 03:01:00,10,12,9,11\n");
  CHECK(refused(p) == p + ":3: expected 6 fields, found 5");
  p = write_file("rs_bad_number.csv", header + good + "2024-10-01 03:01:00,10,1x2,9,11,5\n");
  CHECK(refused(p) == p + ":3: cannot parse number '1x2' in column 'high'");
  p = write_file("rs_bad_time.csv", header + good + "2024-10-01 02:59:00,10,12,9,11,5\n");
  CHECK_THAT(refused(p), Catch::StartsWith(p + ":3: time 2024-10-01T02:59:00Z is before"));
  p = write_file("rs_bad_dup.csv", header + good + good);
  CHECK_THAT(refused(p), Catch::StartsWith(p + ":3: duplicate time"));
  p = write_file("rs_bad_highlow.csv", header + "2024-10-01 03:00:00,10,9,12,11,5\n");
  CHECK(refused(p, "1m") == p + ":2: high 9 < low 12");
  p = write_file("rs_bad_timetext.csv", header + good + "yesterday,10,12,9,11,5\n");
  CHECK_THAT(refused(p), Catch::StartsWith(p + ":3: cannot parse time 'yesterday'"));
  p = write_file("rs_bad_spacing.csv", header + good + "2024-10-01 03:07:00,10,12,9,11,5\n");
  CHECK_THAT(refused(p), Catch::StartsWith(p + ":3: the smallest spacing between rows is 7m"));
  CHECK_THAT(refused(p, "1h"), Catch::StartsWith(p + ":3: bar at 2024-10-01T03:07:00Z opens before the 1h bar of line 2"));
  CHECK_THAT(refused(p, "7m"), Catch::Contains("'7m' is not a Binance kline interval"));
  p = write_file("rs_bad_column.csv", "timestamp,open,high,low,volume\n2024-10-01 03:00:00,10,12,9,5\n");
  CHECK_THAT(refused(p), Catch::StartsWith(p + ":1: no close column"));
  p = write_file("rs_bad_empty.csv", header);
  CHECK_THAT(refused(p), Catch::Contains("no data rows"));
  CHECK_THAT(refused(kWork + "/rs_no_such_file.csv"), Catch::StartsWith(kWork + "/rs_no_such_file.csv: cannot open"));

  // The interval of daily data is inferred; two feeds making one stream are refused.
  ReplayOptions o;
  o.feeds = {feed("orcl", kData + "/orcl_1995_2014_daily_yahoo.csv")};
  CHECK(ReplayServer(o).streams() == std::vector<std::string>{"orcl@kline_1d"});
  o.feeds.push_back(o.feeds[0]);
  CHECK_THROWS_WITH(ReplayServer(o), Catch::Contains("two feeds make the stream orcl@kline_1d"));
}

TEST_CASE("replay-server: a port in use fails start(), and the CLI exits 0, 1 or 3 as documented") {
  const std::string path = head_of("binance_spot_btcusdt_1m_2024q4.csv", 200, "rs_btc200.csv");
  ReplayServer first(one_feed("BTCUSDT", path, 0));
  first.start();
  ReplayOptions o = one_feed("BTCUSDT", path, 0);
  o.port = first.port();
  ReplayServer second(o);
  CHECK_THROWS_WITH(second.start(), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port())));

  const auto run = [](const std::string& args, std::string& out) {
    const std::string file = kWork + "/rs_cli_out" + std::to_string(::getpid()) + ".txt";
    const int status = std::system((std::string(QFLOW_CLI) + " replay-server " + args + " > " + file + " 2>&1").c_str());
    std::ifstream in(file);
    out.assign(std::istreambuf_iterator<char>(in), {});
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string out;
  CHECK(run("--feed BTCUSDT=" + path + " --port 0 --speed 100000 --start-immediately --exit-at-end", out) == 0);
  CHECK_THAT(out, Catch::Contains("replay-server: ws://127.0.0.1:") && Catch::Contains("/ws/btcusdt@kline_1m\n") &&
                      Catch::Contains("/stream?streams=btcusdt@kline_1m\n"));
  const std::string bad = write_file("rs_cli_bad.csv", "timestamp,open,high,low,close,volume\n2024-10-01 03:00:00,1,2,3\n");
  CHECK(run("--feed BTCUSDT=" + bad + " --port 0", out) == 3);
  CHECK_THAT(out, Catch::Contains(bad + ":2: expected 6 fields, found 4"));
  CHECK(run("--feed BTCUSDT", out) == 1);
  CHECK_THAT(out, Catch::Contains("--feed 'BTCUSDT'"));
  CHECK(run("--feed BTCUSDT=" + path + " --speed fast", out) == 1);
  CHECK(run("--feed BTCUSDT=" + path + ",ticks,interval=1m --port 0", out) == 3);
}
