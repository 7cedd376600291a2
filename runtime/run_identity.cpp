#include "run_identity.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>

namespace qflow {

namespace {

// A 64-bit hash taking eight bytes per step (multiply-xorshift mixing); not cryptographic,
// only meant to notice changes.
class Hasher {
 public:
  void bytes(const char* p, size_t n) {
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      mix(w);
      p += 8;
      n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    mix(w ^ (uint64_t{n} << 56));
  }
  void text(const std::string& s) {
    const uint64_t n = s.size();
    mix(n);
    bytes(s.data(), s.size());
  }
  void number(uint64_t v) { mix(v); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(finish(h_)));
    return buf;
  }

 private:
  static uint64_t finish(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  void mix(uint64_t w) { h_ = finish(h_ ^ (w + 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull; }
  uint64_t h_ = 0x243f6a8885a308d3ull;
};

void hash_file(Hasher& h, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    h.text("<unreadable>");
    return;
  }
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.bytes(buf.data(), static_cast<size_t>(in.gcount()));
  }
}

}  // namespace

std::string pipeline_hash(const Graph& graph) {
  Hasher h;
  h.text(graph.name);
  h.number(static_cast<uint64_t>(graph.mode));
  h.number(graph.seed);
  for (const GraphNode& n : graph.nodes) {
    h.text(n.id);
    h.text(n.type->name);
    for (const qf_param_value& p : n.params.values()) {
      h.text(p.name);
      h.text(n.params.text(p.name));
      if (p.type == QF_PARAM_PATH && p.is_set) hash_file(h, std::string(p.s.data, p.s.size));
    }
    for (const Slot& s : n.slots) {
      h.text(s.label);
      h.number(s.port);
      h.number((uint64_t{s.producer} << 32) | s.producer_port);
    }
  }
  // What the simulator replays decides what a paper run sees (its speed and faults do not).
  if (graph.simulator && graph.mode != QF_MODE_BACKTEST)
    for (const SimulatorFeed& f : graph.simulator->feeds) {
      h.text(f.symbol);
      h.text(f.kind);
      h.text(f.interval);
      hash_file(h, f.path);
    }
  return h.hex();
}

std::string default_run_id(const Graph& graph, const std::string& hash) {
  return (graph.name.empty() ? std::string("run") : graph.name) + "-" + hash.substr(0, 8);
}

}  // namespace qflow
