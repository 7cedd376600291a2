#include "plugin_host.hpp"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cstdlib>
#include <sstream>

namespace qflow {

class PluginLibrary {
 public:
  explicit PluginLibrary(boost::dll::shared_library lib) : lib_(std::move(lib)) {}
  boost::dll::shared_library& get() { return lib_; }

 private:
  boost::dll::shared_library lib_;
};

namespace fs = std::filesystem;

std::vector<fs::path> PluginHost::search_path(const std::vector<std::string>& extra) {
  std::vector<fs::path> dirs;
  for (const std::string& e : extra) dirs.emplace_back(e);
  if (const char* env = std::getenv("QFLOW_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string part;
    while (std::getline(ss, part, ':'))
      if (!part.empty()) dirs.emplace_back(part);
  }
  std::error_code ec;
  const fs::path exe = boost::dll::program_location(ec).string();
  if (!ec) dirs.push_back(exe.parent_path().parent_path() / "lib" / "qflow" / "plugins");
  return dirs;
}

void PluginHost::load_directories(const std::vector<fs::path>& dirs, Diagnostics& diags) {
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".so") files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // deterministic: duplicates are reported the same way every time
    for (const fs::path& f : files) load_library(f, diags, false);
  }
}

namespace {
struct RegistrationContext {
  NodeRegistry* registry;
  std::shared_ptr<PluginLibrary> library;
  std::string path;
  Diagnostics* diags;
  std::string file;
  Position where;
  bool explicit_request;
  int registered = 0;

  // Where a problem is reported: at the pipeline's reference to the library, or at the library.
  std::string location() const { return file.empty() ? path : file; }
  // A library named explicitly fails with an error; one found on the search path, with a warning.
  void problem(const std::string& code, const std::string& msg) const {
    if (explicit_request)
      diags->error(location(), where, code, msg);
    else
      diags->warning(path, {}, code, msg);
  }
};

int32_t register_node(qf_registrar* r, const qf_node_spec* spec) {
  auto* ctx = static_cast<RegistrationContext*>(r->opaque);
  // Specs of ABI 1.0 and 1.1 end before `warmup`.
  if (!spec || spec->struct_size < offsetof(qf_node_spec, warmup) || !spec->type_name || !spec->create) {
    ctx->problem("E0405", "plugin " + ctx->path + " registered a malformed node spec");
    return QF_ERROR;
  }
  qf_node_spec copy{};
  std::memcpy(&copy, spec, std::min<size_t>(spec->struct_size, sizeof copy));
  copy.struct_size = sizeof copy;
  auto type = std::make_shared<NodeType>(NodeType::from(copy));
  type->library = ctx->path;
  type->keep_loaded = ctx->library;
  if (auto other = ctx->registry->add(type)) {
    ctx->diags->error(ctx->location(), ctx->where, "E0404",
                      "node type '" + type->name + "' is defined by both " + *other + " and " + ctx->path);
    return QF_ERROR;
  }
  ++ctx->registered;
  return QF_OK;
}
}  // namespace

bool PluginHost::load_library(const fs::path& path, Diagnostics& diags, bool explicit_request,
                              const std::string& file, Position where) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(path, ec);
  if (loaded_.count(canonical)) return true;
  auto report = [&](const std::string& code, const std::string& msg) {
    if (explicit_request)
      diags.error(file, where, code, msg);
    else
      diags.warning(path.string(), {}, code, msg + "; library skipped");
  };
  if (!fs::exists(path, ec)) {
    report("E0401", "plugin library not found: " + path.string());
    return false;
  }
  boost::dll::shared_library lib;
  try {
    lib.load(boost::dll::fs::path(path.string()), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    report("E0405", "cannot load plugin " + path.string() + ": " + e.what());
    return false;
  }
  if (!lib.has(QF_PLUGIN_ENTRY)) {
    report("E0402", path.string() + " is not a qflow plugin (it does not export '" QF_PLUGIN_ENTRY "')");
    return false;
  }
  const qf_plugin_info* info = lib.get<const qf_plugin_info*()>(QF_PLUGIN_ENTRY)();
  if (!info || info->struct_size < sizeof(qf_plugin_info) || !info->register_nodes) {
    report("E0402", path.string() + " returned no usable plugin description");
    return false;
  }
  const uint32_t v = info->abi_version;
  if (QF_ABI_MAJOR(v) != QF_ABI_VERSION_MAJOR || QF_ABI_MINOR(v) > QF_ABI_VERSION_MINOR) {
    report("E0403", "plugin " + path.string() + " was built for qflow ABI " + std::to_string(QF_ABI_MAJOR(v)) + "." +
                        std::to_string(QF_ABI_MINOR(v)) + ", but this qflow provides ABI " +
                        std::to_string(QF_ABI_VERSION_MAJOR) + "." + std::to_string(QF_ABI_VERSION_MINOR));
    return false;
  }
  RegistrationContext ctx{&registry_, std::make_shared<PluginLibrary>(std::move(lib)), path.string(), &diags, file,
                          where, explicit_request};
  qf_registrar registrar{sizeof(qf_registrar), &ctx, &register_node};
  qf_error err{};
  if (info->register_nodes(&registrar, &err) != QF_OK) {
    // Duplicates were already reported by register_node; anything else is the plugin's own failure.
    if (err.message[0] && std::string(err.message) != "a node type was refused")
      ctx.problem("E0405", "plugin " + path.string() + " failed to register its nodes: " + err.message);
  }
  loaded_.insert(canonical);
  return true;
}

}  // namespace qflow
