#include "script_api.hpp"

#include "lua_value.hpp"
#include "sandbox.hpp"

#include <qflow/events.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>

namespace qflow::lua {
namespace {

constexpr size_t kMaxEarlyLogs = 1000;
constexpr uint32_t kStateVersion = 1;

ScriptSession& session_of(lua_State* L) { return *static_cast<ScriptSession*>(LuaSandbox::host_data(L)); }

// Every API function runs through here: a C++ exception must never unwind through Lua's frames
// unannounced, so it becomes a Lua error. Lua's own errors pass (they are not std::exception).
template <int (*F)(lua_State*, ScriptSession&)>
int guarded(lua_State* L) {
  char message[512];
  try {
    return F(L, session_of(L));
  } catch (const std::exception& e) {
    std::snprintf(message, sizeof message, "%s", e.what());
  }
  return luaL_error(L, "%s", message);
}

Context& context(lua_State* L, ScriptSession& s, const char* fn) {
  if (!s.ctx) luaL_error(L, "%s() is only available inside a callback (on_start, on_bar, on_fill, ...)", fn);
  return *s.ctx;
}

// Whole quantities come out as Lua integers, so that they print and compare as a quant expects.
void push_quantity(lua_State* L, double q) {
  if (std::trunc(q) == q && std::abs(q) < 0x1p53)
    lua_pushinteger(L, static_cast<lua_Integer>(q));
  else
    lua_pushnumber(L, q);
}

bool is_terminal(int32_t status) {
  return status == QF_ORDER_FILLED || status == QF_ORDER_CANCELLED || status == QF_ORDER_REJECTED ||
         status == QF_ORDER_EXPIRED;
}

// ---- the script's functions -------------------------------------------------------------------

int api_value(lua_State* L, ScriptSession& s) {
  Context& c = context(L, s, "value");
  size_t n = 0;
  const char* label = luaL_checklstring(L, 1, &n);
  const InputSlot* in = s.find_input(label, n);
  if (!in) return luaL_error(L, "value: no input labelled '%s' (inputs: %s)", label, s.input_names().c_str());
  const qf_event* ev = c.input(in->slot);
  if (!ev) {
    lua_pushnil(L);
    return 1;
  }
  switch (ev->kind) {
    case QF_KIND_VALUE: lua_pushnumber(L, ev->u.value.value); break;
    case QF_KIND_SIGNAL: lua_pushnumber(L, ev->u.signal.value); break;
    case QF_KIND_BAR: lua_pushnumber(L, ev->u.bar.close); break;
    case QF_KIND_TICK: lua_pushnumber(L, ev->u.tick.price); break;
    case QF_KIND_QUOTE: lua_pushnumber(L, (ev->u.quote.bid + ev->u.quote.ask) / 2); break;
    default: lua_pushnil(L); break;
  }
  return 1;
}

int api_position(lua_State* L, ScriptSession& s) {
  uint32_t symbol = s.book.symbol;
  if (!lua_isnoneornil(L, 1)) {
    size_t n = 0;
    const char* name = luaL_checklstring(L, 1, &n);
    symbol = context(L, s, "position").intern({name, n});
  }
  push_quantity(L, s.book.position(symbol));
  return 1;
}

int api_cash(lua_State* L, ScriptSession& s) {
  if (s.book.has_account)
    lua_pushnumber(L, s.book.cash);
  else
    lua_pushnil(L);
  return 1;
}

int api_equity(lua_State* L, ScriptSession& s) {
  if (s.book.has_account)
    lua_pushnumber(L, s.book.equity);
  else
    lua_pushnil(L);
  return 1;
}

struct OrderRequest {
  int32_t side = 0;
  int32_t type = QF_ORDER_MARKET;
  int32_t tif = QF_TIF_GTC;
  double quantity = 0;
  double limit = 0, stop = 0;
  uint32_t symbol = 0;
};

int place(lua_State* L, ScriptSession& s, const char* fn, const OrderRequest& r) {
  Context& c = context(L, s, fn);
  if (!(r.quantity > 0) || !std::isfinite(r.quantity))
    return luaL_error(L, "%s: quantity must be a positive number, got %s", fn, number_text(r.quantity).c_str());
  if (r.symbol == 0)
    return luaL_error(L, "%s: no symbol: orders are for the symbol of the bar being handled (or give symbol= to order{})", fn);
  const uint64_t id = s.book.next_order_id++;
  qf_event ev = make_market_order(r.symbol, id, r.side, r.quantity);
  ev.u.order.type = r.type;
  ev.u.order.time_in_force = r.tif;
  ev.u.order.limit_price = r.limit;
  ev.u.order.stop_price = r.stop;
  ev.u.order.tag = s.order_tag;
  s.book.open_orders.push_back(OpenOrder{id, r.symbol, std::string(c.lookup(r.symbol))});
  c.emit(0, ev);
  lua_pushinteger(L, static_cast<lua_Integer>(id));
  return 1;
}

int api_buy(lua_State* L, ScriptSession& s) {
  return place(L, s, "buy", OrderRequest{QF_SIDE_BUY, QF_ORDER_MARKET, QF_TIF_GTC, luaL_checknumber(L, 1), 0, 0, s.book.symbol});
}

int api_sell(lua_State* L, ScriptSession& s) {
  return place(L, s, "sell", OrderRequest{QF_SIDE_SELL, QF_ORDER_MARKET, QF_TIF_GTC, luaL_checknumber(L, 1), 0, 0, s.book.symbol});
}

// Reads one of `names` from field `field` of the table at index 1; returns its position, or
// `fallback` when the field is absent.
int option_field(lua_State* L, const char* field, std::initializer_list<const char*> names, int fallback) {
  lua_getfield(L, 1, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    if (fallback < 0) luaL_error(L, "order: %s is required", field);
    return fallback;
  }
  const char* v = lua_tostring(L, -1);
  int i = 0;
  for (const char* n : names) {
    if (v && std::strcmp(v, n) == 0) {
      lua_pop(L, 1);
      return i;
    }
    ++i;
  }
  std::string allowed;
  for (const char* n : names) allowed += (allowed.empty() ? "" : ", ") + std::string(n);
  return luaL_error(L, "order: %s must be one of %s, got %s", field, allowed.c_str(), luaL_tolstring(L, -1, nullptr));
}

std::optional<double> number_field(lua_State* L, const char* field) {
  lua_getfield(L, 1, field);
  std::optional<double> out;
  if (!lua_isnil(L, -1)) {
    int ok = 0;
    const lua_Number v = lua_tonumberx(L, -1, &ok);
    if (!ok) luaL_error(L, "order: %s must be a number", field);
    out = v;
  }
  lua_pop(L, 1);
  return out;
}

int api_order(lua_State* L, ScriptSession& s) {
  luaL_checktype(L, 1, LUA_TTABLE);
  static constexpr const char* kFields[] = {"side", "quantity", "type", "limit", "stop", "tif", "symbol"};
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    const char* k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
    if (!k || std::none_of(std::begin(kFields), std::end(kFields), [&](const char* f) { return std::strcmp(f, k) == 0; }))
      return luaL_error(L, "order: unknown field '%s' (fields: side, quantity, type, limit, stop, tif, symbol)",
                        luaL_tolstring(L, -2, nullptr));
    lua_pop(L, 1);
  }
  OrderRequest r;
  r.side = option_field(L, "side", {"buy", "sell"}, -1) == 0 ? QF_SIDE_BUY : QF_SIDE_SELL;
  static constexpr int32_t kTypes[] = {QF_ORDER_MARKET, QF_ORDER_LIMIT, QF_ORDER_STOP, QF_ORDER_STOP_LIMIT};
  static constexpr const char* kTypeNames[] = {"market", "limit", "stop", "stop_limit"};
  const int type = option_field(L, "type", {"market", "limit", "stop", "stop_limit"}, 0);
  r.type = kTypes[type];
  static constexpr int32_t kTifs[] = {QF_TIF_GTC, QF_TIF_DAY, QF_TIF_IOC};
  r.tif = kTifs[option_field(L, "tif", {"gtc", "day", "ioc"}, 0)];
  const std::optional<double> quantity = number_field(L, "quantity");
  if (!quantity) return luaL_error(L, "order: quantity is required");
  r.quantity = *quantity;
  const std::optional<double> limit = number_field(L, "limit"), stop = number_field(L, "stop");
  const bool wants_limit = r.type == QF_ORDER_LIMIT || r.type == QF_ORDER_STOP_LIMIT;
  const bool wants_stop = r.type == QF_ORDER_STOP || r.type == QF_ORDER_STOP_LIMIT;
  if (wants_limit != limit.has_value())
    return luaL_error(L, wants_limit ? "order: a %s order needs limit=" : "order: limit= is for limit orders, not %s",
                      kTypeNames[type]);
  if (wants_stop != stop.has_value())
    return luaL_error(L, wants_stop ? "order: a %s order needs stop=" : "order: stop= is for stop orders, not %s",
                      kTypeNames[type]);
  if ((limit && !(*limit > 0 && std::isfinite(*limit))) || (stop && !(*stop > 0 && std::isfinite(*stop))))
    return luaL_error(L, "order: prices must be positive numbers");
  r.limit = limit.value_or(0);
  r.stop = stop.value_or(0);
  r.symbol = s.book.symbol;
  lua_getfield(L, 1, "symbol");
  if (!lua_isnil(L, -1)) {
    size_t n = 0;
    const char* name = lua_tolstring(L, -1, &n);
    if (!name || lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "order: symbol must be a string");
    r.symbol = context(L, s, "order").intern({name, n});
  }
  lua_pop(L, 1);
  return place(L, s, "order", r);
}

int api_cancel(lua_State* L, ScriptSession& s) {
  const lua_Integer id = luaL_checkinteger(L, 1);
  Context& c = context(L, s, "cancel");
  const auto it = std::find_if(s.book.open_orders.begin(), s.book.open_orders.end(),
                               [&](const OpenOrder& o) { return o.id == static_cast<uint64_t>(id); });
  if (it == s.book.open_orders.end()) {
    lua_pushboolean(L, 0);  // unknown, or already filled, cancelled, rejected or expired
    return 1;
  }
  qf_event ev = make_event(Kind::order, it->symbol);
  ev.u.order.order_id = it->id;
  ev.u.order.type = QF_ORDER_CANCEL;
  ev.u.order.tag = s.order_tag;
  c.emit(0, ev);
  lua_pushboolean(L, 1);
  return 1;
}

int api_signal(lua_State* L, ScriptSession& s) {
  const lua_Number value = luaL_checknumber(L, 1);
  const lua_Number confidence = luaL_optnumber(L, 2, 1.0);
  if (!std::isfinite(value)) return luaL_error(L, "signal: value must be a finite number");
  if (!(confidence >= 0 && confidence <= 1))
    return luaL_error(L, "signal: confidence must be in [0, 1], got %s", number_text(confidence).c_str());
  qf_event ev = make_event(Kind::signal, s.book.symbol);
  ev.u.signal.value = value;
  ev.u.signal.confidence = confidence;
  context(L, s, "signal").emit(1, ev);
  return 0;
}

int api_log(lua_State* L, ScriptSession& s) {
  std::string line;
  const int n = lua_gettop(L);
  for (int i = 1; i <= n; ++i) {
    size_t len = 0;
    const char* text = luaL_tolstring(L, i, &len);
    if (i > 1) line += '\t';
    line.append(text, len);
    lua_pop(L, 1);
  }
  if (s.ctx)
    s.ctx->log(LogLevel::info, line);
  else if (s.early_logs.size() < kMaxEarlyLogs)
    s.early_logs.push_back(std::move(line));
  return 0;
}

int api_version(lua_State* L, ScriptSession& s) {
  lua_pushlstring(L, s.version.data(), s.version.size());
  return 1;
}

int api_now(lua_State* L, ScriptSession& s) {
  lua_pushinteger(L, context(L, s, "now").now());
  return 1;
}

// ---- the bar object ---------------------------------------------------------------------------

BarObject& bar_of(lua_State* L) { return *static_cast<BarObject*>(lua_touserdata(L, 1)); }

int bar_index(lua_State* L) {
  const BarObject& bar = bar_of(L);
  const qf_bar& b = bar.ev.u.bar;
  size_t n = 0;
  const char* k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : nullptr;
  const std::string_view key = k ? std::string_view(k, n) : std::string_view();
  if (key == "close") lua_pushnumber(L, b.close);
  else if (key == "open") lua_pushnumber(L, b.open);
  else if (key == "high") lua_pushnumber(L, b.high);
  else if (key == "low") lua_pushnumber(L, b.low);
  else if (key == "volume") lua_pushnumber(L, b.volume);
  else if (key == "time") lua_pushinteger(L, bar.ev.time_ns);
  else if (key == "interval") lua_pushinteger(L, b.interval_ns);
  else if (key == "symbol") {
    const std::string_view name = context(L, session_of(L), "bar.symbol").lookup(bar.ev.symbol);
    lua_pushlstring(L, name.data(), name.size());
  } else {
    return luaL_error(L, "bar has no field '%s' (fields: time, open, high, low, close, volume, interval, symbol)",
                      luaL_tolstring(L, 2, nullptr));
  }
  return 1;
}

int bar_newindex(lua_State* L) {
  return luaL_error(L, "bar is read-only (assigning bar.%s); copy the fields you want to change",
                    luaL_tolstring(L, 2, nullptr));
}

int bar_tostring(lua_State* L) {
  const BarObject& bar = bar_of(L);
  const qf_bar& b = bar.ev.u.bar;
  lua_pushfstring(L, "bar{time=%I, open=%f, high=%f, low=%f, close=%f, volume=%f}",
                  static_cast<lua_Integer>(bar.ev.time_ns), b.open, b.high, b.low, b.close, b.volume);
  return 1;
}

}  // namespace

// ---- TradingBook ------------------------------------------------------------------------------

double TradingBook::position(uint32_t symbol_id) const {
  for (const Position& p : positions)
    if (p.symbol == symbol_id) return p.quantity;
  return 0;
}

void TradingBook::set_bar_symbol(const Context& c, uint32_t symbol_id) {
  if (symbol_id == symbol && !symbol_name.empty()) return;
  symbol = symbol_id;
  symbol_name = c.lookup(symbol_id);
}

void TradingBook::apply_fill(const qf_event& fill, std::string_view name) {
  const double change = fill.u.fill.side * fill.u.fill.quantity;
  for (Position& p : positions) {
    if (p.symbol == fill.symbol) {
      p.quantity += change;
      return;
    }
  }
  positions.push_back(Position{fill.symbol, std::string(name), change});
}

void TradingBook::apply_update(const qf_event& update) {
  if (!is_terminal(update.u.order_update.status)) return;
  std::erase_if(open_orders, [&](const OpenOrder& o) { return o.id == update.u.order_update.order_id; });
}

void TradingBook::apply_account(const qf_event& account) {
  has_account = true;
  cash = account.u.account.cash;
  equity = account.u.account.equity;
}

void TradingBook::resolve_symbols(const Context& c) {
  if (!symbol_name.empty()) symbol = c.intern(symbol_name);
  for (Position& p : positions) p.symbol = c.intern(p.name);
  for (OpenOrder& o : open_orders) o.symbol = c.intern(o.name);
  needs_resolve = false;
}

void TradingBook::save(StateWriter& w) const {
  w.put<uint32_t>(kStateVersion);
  w.put_string(symbol_name);
  w.put<uint64_t>(next_order_id);
  w.put<uint8_t>(has_account ? 1 : 0);
  w.put<double>(cash);
  w.put<double>(equity);
  w.put<uint64_t>(positions.size());
  for (const Position& p : positions) {
    w.put_string(p.name);
    w.put<double>(p.quantity);
  }
  w.put<uint64_t>(open_orders.size());
  for (const OpenOrder& o : open_orders) {
    w.put<uint64_t>(o.id);
    w.put_string(o.name);
  }
}

TradingBook TradingBook::restore(StateReader& r) {
  const auto version = r.get<uint32_t>();
  if (version != kStateVersion)
    throw std::runtime_error("lua node state has version " + std::to_string(version) + ", expected " +
                             std::to_string(kStateVersion));
  TradingBook b;
  b.symbol_name = r.get_string();
  b.next_order_id = r.get<uint64_t>();
  b.has_account = r.get<uint8_t>() != 0;
  b.cash = r.get<double>();
  b.equity = r.get<double>();
  for (uint64_t i = 0, n = r.get<uint64_t>(); i < n; ++i) {
    Position p;
    p.name = r.get_string();
    p.quantity = r.get<double>();
    b.positions.push_back(std::move(p));
  }
  for (uint64_t i = 0, n = r.get<uint64_t>(); i < n; ++i) {
    OpenOrder o;
    o.id = r.get<uint64_t>();
    o.name = r.get_string();
    b.open_orders.push_back(std::move(o));
  }
  b.needs_resolve = true;
  return b;
}

// ---- ScriptSession ----------------------------------------------------------------------------

const InputSlot* ScriptSession::find_input(const char* label, size_t n) const {
  for (const InputSlot& in : inputs)  // short Lua strings are interned: equal text, equal pointer
    if (in.interned == label) return &in;
  for (const InputSlot& in : inputs)
    if (in.label.size() == n && std::memcmp(in.label.data(), label, n) == 0) return &in;
  // A node of several outputs wired by its name alone: its inputs are `node.output`, and the
  // node's name reads its first output (macd reads macd.macd).
  if (std::memchr(label, '.', n) == nullptr)
    for (const InputSlot& in : inputs)
      if (in.label.size() > n && in.label[n] == '.' && std::memcmp(in.label.data(), label, n) == 0) return &in;
  return nullptr;
}

std::string ScriptSession::input_names() const {
  std::string out;
  for (const InputSlot& in : inputs) out += (out.empty() ? "" : ", ") + in.label;
  return out.empty() ? "none" : out;
}

// ---- installation -----------------------------------------------------------------------------

void install_script_api(LuaSandbox& sandbox, lua_State* L, ScriptSession* s) {
  sandbox.set_host_data(s);
  static constexpr luaL_Reg kFunctions[] = {
      {"value", &guarded<api_value>},   {"position", &guarded<api_position>}, {"cash", &guarded<api_cash>},
      {"equity", &guarded<api_equity>}, {"buy", &guarded<api_buy>},           {"sell", &guarded<api_sell>},
      {"order", &guarded<api_order>},   {"cancel", &guarded<api_cancel>},     {"signal", &guarded<api_signal>},
      {"log", &guarded<api_log>},       {"print", &guarded<api_log>},         {"now", &guarded<api_now>},
      {"version", &guarded<api_version>},
  };
  for (const luaL_Reg& f : kFunctions) {
    lua_pushcfunction(L, f.func);
    lua_setglobal(L, f.name);
  }
}

BarObject* push_bar_object(lua_State* L) {
  auto* bar = static_cast<BarObject*>(lua_newuserdatauv(L, sizeof(BarObject), 0));
  *bar = BarObject{make_event(Kind::bar, 0)};
  lua_createtable(L, 0, 4);
  lua_pushcfunction(L, &bar_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, &bar_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, &bar_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  return bar;
}

void push_fill(lua_State* L, const qf_event& ev, std::string_view symbol_name) {
  const qf_fill& f = ev.u.fill;
  lua_createtable(L, 0, 9);
  lua_pushstring(L, f.side == QF_SIDE_BUY ? "buy" : "sell");
  lua_setfield(L, -2, "side");
  push_quantity(L, f.quantity);
  lua_setfield(L, -2, "quantity");
  lua_pushnumber(L, f.price);
  lua_setfield(L, -2, "price");
  lua_pushnumber(L, f.commission);
  lua_setfield(L, -2, "commission");
  lua_pushinteger(L, static_cast<lua_Integer>(f.order_id));
  lua_setfield(L, -2, "order_id");
  lua_pushinteger(L, static_cast<lua_Integer>(f.fill_id));
  lua_setfield(L, -2, "fill_id");
  lua_pushinteger(L, ev.time_ns);
  lua_setfield(L, -2, "time");
  lua_pushlstring(L, symbol_name.data(), symbol_name.size());
  lua_setfield(L, -2, "symbol");
}

void push_order_update(lua_State* L, const qf_event& ev, std::string_view symbol_name) {
  const qf_order_update& u = ev.u.order_update;
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, static_cast<lua_Integer>(u.order_id));
  lua_setfield(L, -2, "order_id");
  lua_pushstring(L, order_status_name(u.status));
  lua_setfield(L, -2, "status");
  lua_pushstring(L, reject_reason_name(u.reason));
  lua_setfield(L, -2, "reason");
  push_quantity(L, u.filled_quantity);
  lua_setfield(L, -2, "filled_quantity");
  push_quantity(L, u.remaining_quantity);
  lua_setfield(L, -2, "remaining_quantity");
  lua_pushnumber(L, u.average_price);
  lua_setfield(L, -2, "average_price");
  lua_pushinteger(L, ev.time_ns);
  lua_setfield(L, -2, "time");
  lua_pushlstring(L, symbol_name.data(), symbol_name.size());
  lua_setfield(L, -2, "symbol");
}

}  // namespace qflow::lua
