// The dashboard in a real browser: a paper session of pipelines/paper_trend.yaml, and headless
// Chromium on its dashboard, driven through the Chrome DevTools Protocol. The page must connect,
// keep receiving, draw both charts (pixels read back from their canvases), show the run and its
// nodes, press the kill switch through its own button, and do all of it without one console
// error or uncaught exception.
//
// The DevTools client is written here: a WebSocket client (RFC 6455: the opening handshake with
// its SHA-1 accept key, masked frames out, unmasked frames in with 7, 16 and 64-bit lengths) on a
// plain loopback socket, speaking CDP over the browser's endpoint with a flattened session for
// the page. Chromium is a test dependency (Debian package chromium, installed by
// tools/quickstart.sh test); without it the test fails and says so.
#include "pipeline_run.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <bit>
#include <cctype>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace qflow::testing;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// ---- loopback sockets ----------------------------------------------------------------------

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends what arrives before the deadline; false when the deadline passed or the peer closed.
bool receive_some(int fd, std::string& into, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
  char buf[16384];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  into.append(buf, static_cast<size_t>(n));
  return true;
}

struct HttpResponse {
  int status = 0;  // 0: nothing answered in time
  std::string body;
};

// One GET on a fresh connection, read to its end.
HttpResponse http_get(int port, const std::string& path, double seconds = 5) {
  HttpResponse r;
  const int fd = connect_loopback(port);
  if (fd < 0) return r;
  const auto deadline = after(seconds);
  std::string raw;
  if (send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n\r\n"))
    while (receive_some(fd, raw, deadline)) {
    }
  ::close(fd);
  const size_t end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + 9);
  r.body = raw.substr(end + 4);
  return r;
}

// ---- the WebSocket opening handshake's accept key -------------------------------------------

// SHA-1 as FIPS 180-4 defines it; RFC 6455 needs it for Sec-WebSocket-Accept only.
std::string sha1(std::string_view input) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(input);
  const uint64_t bits = static_cast<uint64_t>(input.size()) * 8;
  m += static_cast<char>(0x80);
  while (m.size() % 64 != 56) m += '\0';
  for (int i = 7; i >= 0; --i) m += static_cast<char>(bits >> (8 * i));
  for (size_t block = 0; block < m.size(); block += 64) {
    uint32_t w[80];
    for (int t = 0; t < 16; ++t) {
      w[t] = 0;
      for (int b = 0; b < 4; ++b) w[t] = (w[t] << 8) | static_cast<uint8_t>(m[block + 4 * t + b]);
    }
    for (int t = 16; t < 80; ++t) w[t] = std::rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
      const uint32_t f = t < 20 ? (b & c) | (~b & d) : t < 40 ? b ^ c ^ d : t < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
      const uint32_t k = t < 20 ? 0x5A827999 : t < 40 ? 0x6ED9EBA1 : t < 60 ? 0x8F1BBCDC : 0xCA62C1D6;
      const uint32_t next = std::rotl(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = std::rotl(b, 30);
      b = a;
      a = next;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string digest;
  for (uint32_t word : h)
    for (int i = 3; i >= 0; --i) digest += static_cast<char>(word >> (8 * i));
  return digest;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) v = (v << 8) | (j < n ? static_cast<uint8_t>(bytes[i + j]) : 0u);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kAlphabet[(v >> (18 - 6 * j)) & 0x3f] : '=';
  }
  return out;
}

// ---- a WebSocket client ------------------------------------------------------------------

class WebSocketClient {
 public:
  WebSocketClient() : random_(std::random_device{}()) {}
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;
  ~WebSocketClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  // The opening handshake on ws://127.0.0.1:port/path; an empty string when it succeeded.
  std::string open(int port, const std::string& path, double seconds) {
    fd_ = connect_loopback(port);
    if (fd_ < 0) return "cannot connect to 127.0.0.1:" + std::to_string(port);
    std::string nonce(16, '\0');
    for (char& c : nonce) c = static_cast<char>(random_());
    const std::string key = base64(nonce);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                                "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!send_all(fd_, request)) return "cannot send the opening handshake";
    const auto deadline = after(seconds);
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!receive_some(fd_, buffer_, deadline)) return "no answer to the opening handshake: " + buffer_;
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (head.rfind("HTTP/1.1 101", 0) != 0) return "the handshake was refused: " + head;
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t at = lower.find("\r\nsec-websocket-accept:");
    if (at == std::string::npos) return "no Sec-WebSocket-Accept in: " + head;
    std::string accept = head.substr(at + 23, head.find("\r\n", at + 2) - (at + 23));
    accept.erase(0, accept.find_first_not_of(' '));
    if (accept != base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))) return "a wrong Sec-WebSocket-Accept: " + accept;
    return {};
  }

  bool send_text(std::string_view text) { return send_frame(0x1, text); }

  // The next text message; nothing when the deadline passes or the server closes (closed() says).
  std::optional<std::string> receive(Clock::time_point deadline) {
    std::string message;
    for (;;) {
      if (!need(2, deadline)) return std::nullopt;
      const auto byte = [&](size_t i) { return static_cast<uint8_t>(buffer_[i]); };
      const bool fin = byte(0) & 0x80;
      const int opcode = byte(0) & 0x0f;
      const bool masked = byte(1) & 0x80;
      uint64_t length = byte(1) & 0x7f;
      size_t header = 2;
      if (length == 126) {
        if (!need(4, deadline)) return std::nullopt;
        length = (uint64_t{byte(2)} << 8) | byte(3);
        header = 4;
      } else if (length == 127) {
        if (!need(10, deadline)) return std::nullopt;
        length = 0;
        for (size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
        header = 10;
      }
      const size_t mask_at = header;
      if (masked) header += 4;
      if (!need(header + length, deadline)) return std::nullopt;
      std::string payload = buffer_.substr(header, length);
      if (masked)
        for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ buffer_[mask_at + i % 4]);
      buffer_.erase(0, header + length);
      switch (opcode) {
        case 0x8:
          closed_ = true;
          return std::nullopt;
        case 0x9:
          send_frame(0xA, payload);
          break;
        case 0xA:
          break;
        default:  // text, binary or a continuation
          message += payload;
          if (fin) return message;
      }
    }
  }

  bool closed() const { return closed_; }

 private:
  bool send_frame(int opcode, std::string_view payload) {
    std::string frame(1, static_cast<char>(0x80 | opcode));
    const uint64_t n = payload.size();
    if (n < 126) {
      frame += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
      frame += static_cast<char>(0x80 | 126);
      for (int i = 1; i >= 0; --i) frame += static_cast<char>(n >> (8 * i));
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int i = 7; i >= 0; --i) frame += static_cast<char>(n >> (8 * i));
    }
    std::array<char, 4> mask;
    for (char& c : mask) c = static_cast<char>(random_());
    frame.append(mask.data(), mask.size());
    for (size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    return send_all(fd_, frame);
  }

  bool need(size_t bytes, Clock::time_point deadline) {
    while (buffer_.size() < bytes)
      if (!receive_some(fd_, buffer_, deadline)) {
        if (Clock::now() < deadline) closed_ = true;
        return false;
      }
    return true;
  }

  int fd_ = -1;
  std::string buffer_;  // received, not yet parsed
  bool closed_ = false;
  std::mt19937 random_;
};

// ---- the DevTools protocol -----------------------------------------------------------------

// Commands and their answers over one browser connection; the page's events on the way are
// sorted into problems (what a correct page never produces) and warnings (shown in the report).
class DevTools {
 public:
  explicit DevTools(WebSocketClient& ws) : ws_(ws) {}

  json call(const std::string& method, const json& params = json::object(), const std::string& session = "",
            double seconds = 10) {
    const int id = next_id_++;
    json command = {{"id", id}, {"method", method}, {"params", params}};
    if (!session.empty()) command["sessionId"] = session;
    if (!ws_.send_text(command.dump())) throw std::runtime_error("DevTools: cannot send " + method);
    const auto deadline = after(seconds);
    for (;;) {
      const std::optional<std::string> text = ws_.receive(deadline);
      if (!text)
        throw std::runtime_error("DevTools: no answer to " + method + (ws_.closed() ? " (the browser closed the connection)" : " in time"));
      const json m = json::parse(*text, nullptr, false);
      if (m.is_discarded()) continue;
      if (m.contains("method")) {
        on_event(m);
        continue;
      }
      if (m.value("id", -1) != id) continue;
      if (m.contains("error")) throw std::runtime_error("DevTools: " + method + " failed: " + m["error"].dump());
      return m.value("result", json::object());
    }
  }

  // An expression's value in the page (returnByValue, promises awaited).
  json evaluate(const std::string& session, const std::string& expression) {
    const json r = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}}, session);
    if (r.contains("exceptionDetails")) throw std::runtime_error("evaluating in the page threw: " + r["exceptionDetails"].dump());
    return r["result"].value("value", json());
  }

  std::vector<std::string> problems;
  std::vector<std::string> warnings;

 private:
  static std::string describe_args(const json& args) {
    std::string out;
    for (const json& a : args) {
      if (!out.empty()) out += ' ';
      if (a.contains("value")) out += a["value"].is_string() ? a["value"].get<std::string>() : a["value"].dump();
      else out += a.value("description", a.value("type", std::string("?")));
    }
    return out;
  }

  void on_event(const json& m) {
    const std::string method = m["method"];
    const json& p = m.contains("params") ? m["params"] : json::object();
    if (method == "Runtime.exceptionThrown") {
      const json& d = p["exceptionDetails"];
      std::string where = d.value("url", std::string()) + ":" + std::to_string(d.value("lineNumber", -1) + 1);
      std::string what = d.value("text", std::string());
      if (d.contains("exception")) what += " " + d["exception"].value("description", std::string());
      problems.push_back("uncaught exception at " + where + ": " + what);
    } else if (method == "Runtime.consoleAPICalled") {
      const std::string type = p.value("type", std::string());
      const std::string line = "console." + type + ": " + describe_args(p.value("args", json::array()));
      if (type == "error" || type == "assert") problems.push_back(line);
      else if (type == "warning") warnings.push_back(line);
    } else if (method == "Log.entryAdded") {
      const json& e = p["entry"];
      const std::string level = e.value("level", std::string());
      const std::string line = "log (" + e.value("source", std::string()) + ", " + level + "): " + e.value("text", std::string()) +
                               " " + e.value("url", std::string());
      if (level == "error") problems.push_back(line);
      else if (level == "warning") warnings.push_back(line);
    } else if (method == "Inspector.targetCrashed") {
      problems.push_back("the page's renderer crashed");
    }
  }

  WebSocketClient& ws_;
  int next_id_ = 1;
};

// ---- child processes -----------------------------------------------------------------------

// A child process with its output in a log file, killed (with its process group, for a browser
// and its helpers) if the test ends before it was waited for.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path, bool own_group) : group_(own_group) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Should the test itself die, the child goes with it rather than linger.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(127);
      if (own_group) ::setpgid(0, 0);
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      ::execv(args[0], args.data());
      _exit(127);
    }
    if (pid_ > 0 && own_group) ::setpgid(pid_, pid_);  // either side may win the race; both ask for the same
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0 && !status_) {
      kill_now();
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }

  // The wait status once the process has ended, waiting at most `seconds`.
  std::optional<int> wait_for(double seconds) {
    const auto deadline = after(seconds);
    while (!status_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = status;
      else if (Clock::now() >= deadline) break;
      else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
  }

  bool running() { return !wait_for(0); }

  void signal(int sig) {
    if (!status_) ::kill(pid_, sig);
  }

  void kill_now() {
    if (status_) return;
    if (group_) ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  }

 private:
  pid_t pid_ = -1;
  bool group_ = false;
  std::optional<int> status_;
};

std::string describe_status(const std::optional<int>& status) {
  if (!status) return "still running";
  if (WIFEXITED(*status)) return "exit code " + std::to_string(WEXITSTATUS(*status));
  if (WIFSIGNALED(*status)) return "killed by signal " + std::to_string(WTERMSIG(*status));
  return "wait status " + std::to_string(*status);
}

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return dir + "/" + program;
  return {};
}

std::string tail(const std::string& text, size_t max = 6000) {
  return text.size() <= max ? text : "...\n" + text.substr(text.size() - max);
}

// ---- what is read from the page --------------------------------------------------------------

// The page's counters with what it shows in the header and the node table.
constexpr const char* kSnapshotJs = R"JS((() => {
  const s = window.qflowDashboard;
  if (!s) return null;
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  const nodes = [...document.querySelectorAll('#nodes tbody tr')].map((tr) => tr.cells[0]?.textContent ?? '');
  const notice = document.getElementById('notice');
  return { ...s, page: {
    run: text('run'), mode: text('mode'), connection: text('connection'), killState: text('kill-state'),
    riskState: text('risk-state'), equity: text('equity'), notice: notice && !notice.hidden ? notice.textContent : '',
    nodes } };
})())JS";

// For each chart, its largest canvas (ties: the one with the most series pixels): its size,
// whether all its pixels are equal, and how many pixels have a series' colour (candles on the
// price chart, the line on the equity chart).
constexpr const char* kCanvasJs = R"JS((() => {
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const inspect = (id, colours) => {
    const targets = colours.map(rgb);
    const canvases = [...document.querySelectorAll(`#${id} canvas`)];
    const seen = canvases.map((c) => {
      const out = { width: c.width, height: c.height, uniform: true, seriesPixels: 0 };
      const ctx = c.width && c.height ? c.getContext('2d') : null;
      if (!ctx) return out;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2] || d[i + 3] !== d[3]) out.uniform = false;
        if (d[i + 3] > 200 && targets.some((t) => Math.abs(d[i] - t[0]) <= 8 && Math.abs(d[i + 1] - t[1]) <= 8 && Math.abs(d[i + 2] - t[2]) <= 8))
          out.seriesPixels++;
      }
      return out;
    });
    seen.sort((a, b) => b.width * b.height - a.width * a.height || b.seriesPixels - a.seriesPixels);
    return { canvases: canvases.length, largest: seen[0] ?? null };
  };
  return { price: inspect('price-chart', ['#26a69a', '#ef5350']), equity: inspect('equity-chart', ['#4c9be8']) };
})())JS";

}  // namespace

TEST_CASE("the dashboard of pipelines/paper_trend.yaml in headless Chromium: live data, charts drawn, kill switch, no console error") {
  const std::string chromium = find_on_path("chromium");
  if (chromium.empty())
    FAIL("chromium is not installed, and this test needs it: install the Debian package chromium "
         "(apt-get install chromium, or tools/quickstart.sh test)");

  const std::string dir = fresh_dir("dashboard_browser");
  const std::string qflow_log = dir + "/qflow.log";
  const std::string chromium_log = dir + "/chromium.log";
  const std::string profile = dir + "/chromium-profile";
  std::filesystem::create_directories(profile);

  // The paper session, long enough (10,000 minute bars at 600x: about 17 minutes) that only
  // Ctrl-C ends it.
  ChildProcess qflow({QFLOW_BINARY, "run", "--no-progress", std::string(QFLOW_SOURCE_DIR) + "/pipelines/paper_trend.yaml", "--set",
                      "speed=600", "--control-port", "0", "--set", "out=" + dir + "/out"},
                     qflow_log, false);
  REQUIRE(qflow.started());
  int port = 0;
  for (const auto deadline = after(20); port == 0;) {
    const std::string log = read_file(qflow_log);
    const std::string key = "dashboard: http://127.0.0.1:";
    if (const size_t at = log.find(key); at != std::string::npos) port = std::stoi(log.substr(at + key.size()));
    else if (!qflow.running()) FAIL("qflow ended (" << describe_status(qflow.wait_for(0)) << ") before serving its dashboard:\n" << log);
    else if (Clock::now() > deadline) FAIL("qflow logged no dashboard URL in 20 s:\n" << log);
    else std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";

  ChildProcess browser({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile, "--remote-debugging-port=0",
                        "--window-size=1400,1100", "about:blank"},
                       chromium_log, true);
  REQUIRE(browser.started());
  // The browser writes its DevTools port and endpoint to the profile once it listens.
  int devtools_port = 0;
  std::string browser_path;
  for (const auto deadline = after(20); devtools_port == 0;) {
    std::stringstream active(read_file(profile + "/DevToolsActivePort"));
    std::string first, second;
    if (std::getline(active, first) && std::getline(active, second) && !second.empty()) {
      devtools_port = std::atoi(first.c_str());
      browser_path = second;
    } else if (!browser.running()) {
      FAIL("chromium ended (" << describe_status(browser.wait_for(0)) << ") before listening:\n" << tail(read_file(chromium_log)));
    } else if (Clock::now() > deadline) {
      FAIL("chromium wrote no DevToolsActivePort in 20 s:\n" << tail(read_file(chromium_log)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  REQUIRE(devtools_port > 0);

  WebSocketClient ws;
  const std::string handshake = ws.open(devtools_port, browser_path, 10);
  INFO("DevTools endpoint ws://127.0.0.1:" << devtools_port << browser_path);
  REQUIRE(handshake.empty());
  DevTools cdp(ws);

  // Everything the page reports is collected from before it loads.
  const std::string target = cdp.call("Target.createTarget", {{"url", "about:blank"}})["targetId"];
  const std::string page = cdp.call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
  cdp.call("Runtime.enable", json::object(), page);
  cdp.call("Log.enable", json::object(), page);
  cdp.call("Page.enable", json::object(), page);
  // Frames of more than 64 KiB both ways (the 64-bit length), before anything depends on them.
  const std::string long_text(70000, 'q');
  CHECK(cdp.evaluate(page, "'" + long_text + "'.toUpperCase()") == std::string(70000, 'Q'));
  const json navigated = cdp.call("Page.navigate", {{"url", url}}, page);
  INFO("navigation: " << navigated.dump());
  REQUIRE_FALSE(navigated.contains("errorText"));

  const auto report = [&](const json& last) {
    std::string out = "page state: " + last.dump() + "\nconsole errors and exceptions (" + std::to_string(cdp.problems.size()) + "):\n";
    for (const std::string& p : cdp.problems) out += "  " + p + "\n";
    out += "console warnings (" + std::to_string(cdp.warnings.size()) + "):\n";
    for (const std::string& w : cdp.warnings) out += "  " + w + "\n";
    // Without a D-Bus (a container, CI) Chromium logs a few errors a second about it: noise here.
    std::stringstream browser_log(read_file(chromium_log));
    std::string browser_lines;
    for (std::string line; std::getline(browser_log, line);)
      if (line.find("dbus") == std::string::npos && line.find("D-Bus") == std::string::npos) browser_lines += line + "\n";
    return out + "qflow log:\n" + tail(read_file(qflow_log)) + "\nchromium log (D-Bus lines left out):\n" + tail(browser_lines, 3000);
  };

  // Connected, and with data drawn: bars on the chart, an equity figure, node figures.
  json state;
  const auto ready = [](const json& s) {
    return s.is_object() && s["connection"] == "live" && s["hellos"].get<int>() >= 1 && s["bars"].get<int>() > 0 &&
           s["lastEquity"].is_number() && !s["page"]["nodes"].empty() && s["page"]["nodes"][0] != "no node figures yet";
  };
  std::string last_error;
  for (const auto deadline = after(20);;) {
    try {
      if (ready(state = cdp.evaluate(page, kSnapshotJs))) break;
    } catch (const std::runtime_error& e) {  // the page between two documents: try again
      last_error = e.what();
    }
    if (Clock::now() > deadline) FAIL("the dashboard did not connect and draw data in 20 s (" << last_error << ")\n" << report(state));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // Two readings about two seconds apart: the stream goes on.
  const json first = state;
  for (const auto until = after(2); Clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cdp.evaluate(page, "0");  // reads the events that arrived meanwhile
  }
  const json second = cdp.evaluate(page, kSnapshotJs);
  const json canvases = cdp.evaluate(page, kCanvasJs);
  const HttpResponse status_response = http_get(port, "/api/status");
  REQUIRE(status_response.status == 200);
  const json status = json::parse(status_response.body);
  {
    INFO(report(second));
    INFO("first reading: " << first.dump());
    INFO("canvases: " << canvases.dump());
    INFO("/api/status: " << status.dump());
    CHECK(second["messages"].get<int64_t>() > first["messages"].get<int64_t>());
    CHECK(first["bars"].get<int64_t>() > 0);
    CHECK((second["bars"].get<int64_t>() > first["bars"].get<int64_t>() ||
           second["barsReceived"].get<int64_t>() > first["barsReceived"].get<int64_t>()));
    CHECK(second["ignored"] == 0);
    const double equity = second["lastEquity"].get<double>();
    CHECK(std::isfinite(equity));
    CHECK(std::abs(equity - 100000) < 2000);  // the broker's cash; 0.1 BTC at a time moves it a little
    CHECK(second["connection"] == "live");
    CHECK(second["page"]["connection"] == "live");
    CHECK(second["symbol"] == "BTCUSDT");

    for (const char* chart : {"price", "equity"}) {
      INFO("chart: " << chart);
      const json& c = canvases[chart];
      REQUIRE(c["largest"].is_object());
      CHECK(c["largest"]["width"].get<int>() > 0);
      CHECK(c["largest"]["height"].get<int>() > 0);
      CHECK(c["largest"]["uniform"] == false);
      CHECK(c["largest"]["seriesPixels"].get<int>() > 0);
    }

    CHECK(status["mode"] == "paper");
    CHECK(status["run"].get<std::string>().rfind("paper_trend-", 0) == 0);
    CHECK(second["run"] == status["run"]);
    CHECK(second["page"]["run"] == status["run"]);
    CHECK(second["page"]["mode"] == "paper");
    std::vector<std::string> nodes = second["page"]["nodes"];
    for (const char* node : {"bars", "strategy", "broker"}) {
      INFO("node " << node);
      CHECK(std::find(nodes.begin(), nodes.end(), node) != nodes.end());
    }
    CHECK(second["killed"] == false);
    CHECK(second["page"]["killState"] == "trading");
    CHECK(status["killed"] == false);
  }

  // The kill switch through the page's own button, its confirmation answered yes.
  cdp.evaluate(page, R"JS((() => {
    window.qflowTestAsked = null;
    window.confirm = (question) => { window.qflowTestAsked = String(question); return true; };
    document.getElementById('kill').click();
    return true;
  })())JS");
  bool server_killed = false;
  for (const auto deadline = after(10); !server_killed && Clock::now() < deadline;) {
    const HttpResponse r = http_get(port, "/api/status");
    server_killed = r.status == 200 && json::parse(r.body)["killed"] == true;
    if (!server_killed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The stream's risk message may show the kill before the page has the POST's answer: the
  // notice comes with that answer.
  const auto shows_killed = [](const json& s) {
    return s.is_object() && s["killed"] == true && s["page"]["killState"] == "killed" && s["page"]["riskState"] == "killed" &&
           s["page"]["notice"] != "";
  };
  for (const auto deadline = after(10); !shows_killed(state = cdp.evaluate(page, kSnapshotJs)) && Clock::now() < deadline;)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const json asked = cdp.evaluate(page, "window.qflowTestAsked");
  {
    INFO(report(state));
    CHECK(asked.is_string());
    CHECK(asked.dump().find("Kill the pipeline") != std::string::npos);
    CHECK(server_killed);
    CHECK(state["killed"] == true);
    CHECK(state["page"]["killState"] == "killed");
    CHECK(state["page"]["riskState"] == "killed");
    CHECK(state["page"]["notice"].get<std::string>().find("kill switch pressed") != std::string::npos);
    CHECK(state["connection"] == "live");
    // Last: every console message of the whole visit was seen by now.
    CHECK(cdp.problems.empty());
  }

  // The browser first (a page left open would see the server go and log its reconnects), then
  // qflow with Ctrl-C.
  try {
    cdp.call("Browser.close", json::object(), "", 5);
  } catch (const std::exception& e) {
    // The browser may close the connection before it answers.
    WARN("Browser.close: " << e.what());
  }
  if (!browser.wait_for(15)) {
    WARN("chromium did not exit within 15 s of Browser.close: killed\n" << tail(read_file(chromium_log), 3000));
    browser.kill_now();
    browser.wait_for(5);
  }
  qflow.signal(SIGINT);
  const std::optional<int> ended = qflow.wait_for(30);
  INFO("qflow log:\n" << tail(read_file(qflow_log)));
  REQUIRE(ended);
  CHECK(describe_status(ended) == "exit code 130");
}
