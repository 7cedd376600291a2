#include "lws_log.hpp"

#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string_view>

namespace qflow::net {
namespace {

void emit(int level, const char* line) {
  std::string_view text(line ? line : "");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (level & LLL_ERR)
    spdlog::warn("libwebsockets: {}", text);
  else if (level & LLL_WARN)
    spdlog::warn("libwebsockets: {}", text);
  else
    spdlog::debug("libwebsockets: {}", text);
}

}  // namespace

void route_lws_logs() {
  static std::once_flag once;
  std::call_once(once, [] { lws_set_log_level(LLL_ERR | LLL_WARN | LLL_NOTICE, emit); });
}

}  // namespace qflow::net
