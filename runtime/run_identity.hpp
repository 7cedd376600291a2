// What identifies a run's outputs: a hash of everything that decides them — the pipeline's
// name, mode and seed, every node's id, type, parameters and connections, and the contents of
// every file a PATH parameter names (scripts, data). Comments and formatting of the YAML do
// not count; a changed parameter, script or data file does. A checkpoint made under another
// hash is refused on resume unless forced.
#pragma once

#include "graph.hpp"

#include <string>

namespace qflow {

// 16 hex digits.
std::string pipeline_hash(const Graph& graph);
// "<pipeline name>-<first 8 hex digits of the hash>": the same pipeline and parameters always
// get the same id (a re-run replaces its facts), different parameters a run of their own.
std::string default_run_id(const Graph& graph, const std::string& hash);

}  // namespace qflow
