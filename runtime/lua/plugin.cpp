// The Lua host's entry point: the `lua` node type reaches the runtime through the plugin
// registry like every other node type, which also keeps Lua out of the engine core.
#include <qflow/sdk.hpp>

namespace qflow::lua {
void register_lua_node(Registrar& r);
}

QFLOW_PLUGIN("qflow-lua", "0.1.0", [](qflow::Registrar& r) { qflow::lua::register_lua_node(r); })
