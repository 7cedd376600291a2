// libwebsockets' own log lines, routed into spdlog.
//
// libwebsockets logs through one process-wide emitter. route_lws_logs() installs ours once
// (later calls do nothing): errors and warnings reach spdlog as warnings, notices as debug.
// Every user of libwebsockets in the runtime (the exchange simulator, the control server) calls
// it before creating a context, so a library message is never printed raw on stderr.
#pragma once

namespace qflow::net {

void route_lws_logs();

}  // namespace qflow::net
