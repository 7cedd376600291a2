// Finds and loads node libraries with Boost.DLL and registers their node types.
//
// Search order: --plugin-path directories, then QFLOW_PLUGIN_PATH (colon-separated), then
// <executable dir>/../lib/qflow/plugins (the build tree and the install tree alike). Every
// *.so there is loaded; a pipeline's `plugins:` entries name more libraries explicitly.
// A library is accepted only if it exports `qflow_plugin` and was built for an ABI whose major
// version equals ours and whose minor version is not newer. Problems with a library named
// explicitly are errors; with one found on the search path, warnings (the other libraries stay
// usable). A node type defined twice is always an error naming both libraries.
#pragma once

#include "diagnostics.hpp"
#include "node_registry.hpp"

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace qflow {

class PluginHost {
 public:
  explicit PluginHost(NodeRegistry& registry) : registry_(registry) {}

  // The default search path from the environment and the executable's location, then `extra`.
  static std::vector<std::filesystem::path> search_path(const std::vector<std::string>& extra);

  void load_directories(const std::vector<std::filesystem::path>& dirs, Diagnostics& diags);
  // Loads one library. `where`/`file` locate the reference in a pipeline for diagnostics.
  bool load_library(const std::filesystem::path& path, Diagnostics& diags, bool explicit_request,
                    const std::string& file = {}, Position where = {});

 private:
  NodeRegistry& registry_;
  std::set<std::filesystem::path> loaded_;
};

}  // namespace qflow
