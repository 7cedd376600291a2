// A pipeline as written in its YAML file, after variable substitution and before any node type
// is looked up: ids, types, parameter texts and input references, each with its position.
#pragma once

#include "diagnostics.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qflow {

// A scalar as written, after ${variable} substitution.
struct Scalar {
  std::string text;
  Position pos;
  bool is_null = false;      // `key:` with nothing, or `~`
  bool from_command_line = false;  // a --set value took part: relative paths follow the CWD
};

struct ParamEntry {
  std::string name;
  Position name_pos;
  Scalar value;
  bool is_scalar = true;  // a list or mapping where a scalar was expected
};

struct InputRef {
  std::string port;  // destination port; empty in the list form
  std::string ref;   // "node" or "node.port"
  Position pos;
};

struct NodeDef {
  std::string id;
  Position pos;
  std::string type;
  Position type_pos;
  std::vector<ParamEntry> params;
  std::vector<InputRef> inputs;
  bool inputs_by_port = false;  // the mapping form `inputs: {port: ref}`
  std::string description;
  bool malformed = false;  // the loader reported a problem in it: its params and inputs are not checked further
};

// The bundled exchange simulator, started in-process on loopback for a paper session
// (`simulator:` in the pipeline; see qflow replay-server). Its URL is the variable
// ${simulator.url}, so a source can connect to it.
struct SimulatorFeed {
  std::string symbol;
  std::string path;  // absolute
  std::string kind = "bars";  // bars or ticks
  std::string interval;       // empty: inferred from the data
  Position pos;
};

struct SimulatorDef {
  Position pos;
  std::string host = "127.0.0.1";
  int port = 9464;     // 0: any free port, chosen when the pipeline is loaded
  double speed = 1.0;  // 0: as fast as the client reads
  bool partial_klines = false;
  std::vector<SimulatorFeed> feeds;
  // Faults to inject, for testing (see qflow replay-server): 0 = none.
  int64_t disconnect_every_ns = 0, stall_every_ns = 0, stall_for_ns = 0;
  uint64_t drop_every = 0, duplicate_every = 0, malformed_every = 0, reorder_every = 0;
  std::string url() const { return "ws://" + host + ":" + std::to_string(port); }
};

struct PipelineDef {
  std::string file;  // as given on the command line, for diagnostics
  std::filesystem::path base_dir;
  std::string name;
  std::string description;
  std::string mode = "backtest";
  Position mode_pos;
  uint64_t seed = 0;
  std::string output;  // run folder, relative to the working directory
  std::vector<Scalar> plugins;
  std::vector<NodeDef> nodes;
  std::map<std::string, std::string> variables;  // final values
  uint32_t batch_size = 1024;
  uint32_t max_batches_in_flight = 8;
  bool vectorize = true;  // run on_batch nodes a batch at a time
  bool facts = true;      // record facts in the run's store
  int64_t checkpoint_every_ns = 1'000'000'000;  // wall-clock time between checkpoints; 0: off
  uint64_t checkpoint_events = 0;                // source events between checkpoints; 0: off
  std::optional<SimulatorDef> simulator;
};

struct LoadOptions {
  std::map<std::string, std::string> overrides;  // --set name=value
  int simulator_port = 0;  // a simulator with `port: 0` takes this one (a reload keeps the running port)
};

// Reads and checks the file's structure. Never throws on bad input: problems are diagnostics.
PipelineDef load_pipeline(const std::string& file, const LoadOptions& options, Diagnostics& diags);
PipelineDef load_pipeline_text(const std::string& text, const std::string& file, const LoadOptions& options,
                               Diagnostics& diags);

}  // namespace qflow
