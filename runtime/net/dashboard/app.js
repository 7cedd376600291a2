// The qflow dashboard's script: draws a running pipeline from the control server's WebSocket
// (/stream) and drives its kill switch and reload button (POST /api/kill, /api/reload).
//
// The stream opens with a "hello" holding the run and what happened so far (history); every
// later message is one event ("bar", "fill", "order", "account", "nodes", "log", "reload",
// "risk", "status"). Charts are updated in place (series.update); tables are redrawn from state
// at most ten times a second. Data reaches the page as text only (textContent), never as markup.
// When the server goes away the page reconnects with backoff, and a new hello starts it afresh.
//
// window.qflowDashboard exposes counters for tests: messages received, bars on the price chart,
// fills, the last equity, the connection state, and so on (see `stats`).

const charts = window.LightweightCharts;

const MAX_BARS_PER_SYMBOL = 20000;
const MAX_FILLS_SHOWN = 100;
const MAX_FILLS_KEPT = 2000;
const MAX_LOG = 200;
const MAX_RELOADS = 200;
const TERMINAL_ORDER = new Set(['filled', 'cancelled', 'rejected', 'expired']);
const TOKEN_KEY = 'qflow.token';

const stats = {
  messages: 0,       // every message received, hello included
  hellos: 0,
  bars: 0,           // bars on the price chart now (the selected symbol's)
  barsReceived: 0,   // bar messages of every symbol
  fills: 0,
  openOrders: 0,
  lastEquity: null,
  killed: false,
  connection: 'connecting',
  symbol: null,
  run: null,
  ignored: 0,        // messages that could not be used (not JSON, unknown type, bad fields)
};
window.qflowDashboard = stats;

const $ = (id) => document.getElementById(id);

// ---- state -------------------------------------------------------------------------------

function freshState() {
  return {
    hello: null,
    symbols: [],
    selected: null,
    bars: new Map(),        // symbol -> [{time, open, high, low, close}], ascending
    fills: [],              // newest last
    fillKeys: new Set(),
    orders: new Map(),      // id -> order message
    account: null,
    equityTime: null,       // time of the last point on the equity line
    nodes: [],
    risk: null,
    log: [],
    reloads: [],
    status: null,
  };
}
let state = freshState();

// ---- formatting --------------------------------------------------------------------------

const num = (v) => (v === null || v === undefined || v === '' ? NaN : Number(v));

function fmt(v, min = 2, max = 2) {
  const n = num(v);
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: min, maximumFractionDigits: max });
}
const fmtQty = (v) => fmt(v, 0, 8);
// Prices keep the digits that matter at their size: 2 for 67,012.50, 4 for 1.0845, 8 below 1.
function fmtPrice(v) {
  const n = Math.abs(num(v));
  return fmt(v, 2, n >= 1000 ? 2 : n >= 1 ? 4 : 8);
}
const fmtMoney = (v) => fmt(v, 2, 2);

function fmtSigned(v) {
  const n = num(v);
  if (!Number.isFinite(n)) return { text: '—' };
  return { text: (n > 0 ? '+' : '') + fmtMoney(n), cls: n > 0 ? 'pos' : n < 0 ? 'neg' : '' };
}

// UTC, as "HH:MM:SS", "MM-DD HH:MM:SS" (in tables) or "YYYY-MM-DD HH:MM:SS".
function fmtTime(ms, date = '') {
  const n = num(ms);
  if (!Number.isFinite(n)) return '—';
  const iso = new Date(n).toISOString().replace('T', ' ');
  return date === 'full' ? iso.slice(0, 19) : date === 'day' ? iso.slice(5, 19) : iso.slice(11, 19);
}

// "sma_cross.lua@3f2a9c1b0d4e" → "sma_cross.lua@3f2a9c1b": the script's name and enough of its hash.
const short = (hash) => {
  if (!hash) return '—';
  const text = String(hash);
  const at = text.lastIndexOf('@');
  return at >= 0 ? text.slice(0, at + 9) : text.slice(0, 12);
};
const text = (v) => (v === null || v === undefined ? '—' : String(v));

// ---- charts ------------------------------------------------------------------------------

const chartOptions = {
  autoSize: true,
  layout: {
    background: { type: 'solid', color: '#151b23' },
    textColor: '#8b949e',
    fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif',
  },
  grid: { vertLines: { color: '#1d242d' }, horzLines: { color: '#1d242d' } },
  rightPriceScale: { borderColor: '#262e38' },
  timeScale: { borderColor: '#262e38', timeVisible: true, secondsVisible: false },
};

let priceChart = null;
let candles = null;
let markers = null;
let equityChart = null;
let equityLine = null;

function makeCharts() {
  if (!charts) {
    notice('the charting library is missing from this page: charts are off', 'bad');
    return;
  }
  priceChart = charts.createChart($('price-chart'), chartOptions);
  candles = priceChart.addSeries(charts.CandlestickSeries, {
    upColor: '#26a69a', downColor: '#ef5350', borderVisible: false,
    wickUpColor: '#26a69a', wickDownColor: '#ef5350',
  });
  markers = charts.createSeriesMarkers(candles, []);
  equityChart = charts.createChart($('equity-chart'), chartOptions);
  equityLine = equityChart.addSeries(charts.LineSeries, { color: '#4c9be8', lineWidth: 2 });
}

// Chart time: whole seconds (lightweight-charts' UTCTimestamp) from event milliseconds.
const chartTime = (ms) => Math.floor(num(ms) / 1000);

function toBar(m) {
  const bar = { time: chartTime(m.t), open: num(m.o), high: num(m.h), low: num(m.l), close: num(m.c) };
  return Object.values(bar).every(Number.isFinite) ? bar : null;
}

// Adds a bar to its symbol's list. Returns 'new', 'same' (replaces the bar of that time) or
// null (older than the newest bar: charts only grow forward).
function storeBar(symbol, bar) {
  let list = state.bars.get(symbol);
  if (!list) state.bars.set(symbol, (list = []));
  const last = list[list.length - 1];
  if (last && bar.time < last.time) return null;
  if (last && bar.time === last.time) {
    list[list.length - 1] = bar;
    return 'same';
  }
  list.push(bar);
  if (list.length > MAX_BARS_PER_SYMBOL) list.splice(0, list.length - MAX_BARS_PER_SYMBOL);
  return 'new';
}

// The open time of the bar a fill belongs to: the last bar opened at or before it.
function barTimeOf(symbol, time) {
  const list = state.bars.get(symbol) || [];
  let lo = 0;
  let hi = list.length - 1;
  let found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].time <= time) {
      found = list[mid].time;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

function drawMarkers() {
  if (!markers) return;
  const symbol = state.selected;
  const list = [];
  for (const f of state.fills) {
    if (f.symbol !== symbol) continue;
    const time = barTimeOf(symbol, chartTime(f.t));
    if (time === null) continue;
    const buy = f.side === 'buy';
    list.push({
      time,
      position: buy ? 'belowBar' : 'aboveBar',
      shape: buy ? 'arrowUp' : 'arrowDown',
      color: buy ? '#26a69a' : '#ef5350',
      text: (buy ? 'B ' : 'S ') + fmtQty(f.qty),
    });
  }
  list.sort((a, b) => a.time - b.time);
  markers.setMarkers(list);
}

// Draws the selected symbol afresh: on a new hello, or when another symbol is chosen.
function drawSymbol() {
  stats.symbol = state.selected;
  $('symbol').value = state.selected ?? '';
  if (!candles) return;
  const list = state.bars.get(state.selected) || [];
  candles.setData(list);
  stats.bars = list.length;
  drawMarkers();
  showLastPrice();
}

function showLastPrice() {
  const list = state.bars.get(state.selected) || [];
  const last = list[list.length - 1];
  $('last-price').textContent = last ? `${fmtPrice(last.close)} at ${fmtTime(last.time * 1000, 'full')}` : '';
}

function addSymbol(symbol) {
  if (!symbol || state.symbols.includes(symbol)) return;
  state.symbols.push(symbol);
  $('symbol').appendChild(new Option(symbol, symbol));
}

function addEquityPoint(m, replay) {
  const value = num(m.equity);
  const time = chartTime(m.t);
  if (!Number.isFinite(value) || !Number.isFinite(time)) return;
  stats.lastEquity = value;
  $('equity-last').textContent = fmtMoney(value);
  if (state.equityTime !== null && time < state.equityTime) return;
  state.equityTime = time;
  if (equityLine && !replay) equityLine.update({ time, value });
}

// ---- messages ----------------------------------------------------------------------------

function onBar(m, replay = false) {
  const symbol = text(m.symbol);
  const bar = toBar(m);
  if (!m.symbol || !bar) return false;
  stats.barsReceived++;
  addSymbol(symbol);
  const stored = storeBar(symbol, bar);
  if (!stored) return false;
  if (!state.selected) {
    state.selected = symbol;
    if (!replay) drawSymbol();
  } else if (symbol === state.selected && !replay && candles) {
    candles.update(bar);
    if (stored === 'new') stats.bars++;
    // A fill placed on the previous bar for want of its own moves onto this one.
    if (stored === 'new' && state.fills.some((f) => f.symbol === symbol && barTimeOf(symbol, chartTime(f.t)) === bar.time))
      drawMarkers();
    showLastPrice();
  }
  return true;
}

// A fill published while the snapshot was taken arrives twice: in the hello and after it.
const fillKey = (f) => [f.order_id, f.t, f.side, f.qty, f.price].join('|');

function onFill(m, replay = false) {
  if (!m.symbol || !Number.isFinite(num(m.t))) return false;
  const key = fillKey(m);
  if (state.fillKeys.has(key)) return true;
  state.fillKeys.add(key);
  state.fills.push(m);
  if (state.fills.length > MAX_FILLS_KEPT) {
    for (const old of state.fills.splice(0, state.fills.length - MAX_FILLS_KEPT)) state.fillKeys.delete(fillKey(old));
  }
  stats.fills++;
  addSymbol(text(m.symbol));
  if (!replay && m.symbol === state.selected) drawMarkers();
  dirty('fills');
  return true;
}

function onOrder(m) {
  if (m.id === undefined || m.id === null) return false;
  const id = String(m.id);
  if (TERMINAL_ORDER.has(m.status)) state.orders.delete(id);
  else state.orders.set(id, m);
  stats.openOrders = state.orders.size;
  dirty('orders');
  return true;
}

function onAccount(m, replay = false) {
  state.account = m;
  addEquityPoint(m, replay);
  dirty('account');
  return true;
}

function onNodes(m) {
  if (!Array.isArray(m.nodes)) return false;
  state.nodes = m.nodes;
  dirty('nodes');
  return true;
}

function onLog(m) {
  state.log.push(m);
  if (state.log.length > MAX_LOG) state.log.splice(0, state.log.length - MAX_LOG);
  dirty('log');
  return true;
}

function onReload(m) {
  state.reloads.push(m);
  if (state.reloads.length > MAX_RELOADS) state.reloads.splice(0, state.reloads.length - MAX_RELOADS);
  dirty('reloads');
  return true;
}

function onRisk(m) {
  state.risk = m;
  stats.killed = Boolean(m.killed);
  dirty('risk');
  return true;
}

function onStatus(m) {
  const copy = { ...m };
  delete copy.type;
  state.status = copy;
  if (typeof copy.killed === 'boolean') stats.killed = copy.killed;
  dirty('status');
  return true;
}

function onHello(m) {
  stats.hellos++;
  state = freshState();
  state.hello = m;
  stats.run = m.run ?? null;
  stats.killed = false;
  stats.openOrders = 0;
  $('symbol').replaceChildren();
  if (candles) candles.setData([]);
  if (markers) markers.setMarkers([]);
  if (equityLine) equityLine.setData([]);

  $('run').textContent = text(m.run);
  $('pipeline').textContent = text(m.pipeline);
  $('mode').textContent = text(m.mode);
  $('started').textContent = Number.isFinite(num(m.started_ms)) ? fmtTime(m.started_ms, 'full') + ' UTC' : '—';
  if (m.error) notice(`the server could not send the run's history: ${m.error}`, 'bad');

  const select = $('reload-node');
  select.replaceChildren(new Option('all scripts', ''));
  for (const n of Array.isArray(m.nodes) ? m.nodes : []) {
    if (!n || n.id === undefined) continue;
    select.appendChild(new Option(`${n.id} (${text(n.type)})`, String(n.id)));
  }

  // History is stored first and drawn once (one setData, not one update per bar).
  for (const s of Array.isArray(m.symbols) ? m.symbols : []) addSymbol(String(s));
  state.selected = state.symbols[0] ?? null;
  const history = m.history && typeof m.history === 'object' ? m.history : {};
  const each = (list, f) => { for (const x of Array.isArray(list) ? list : []) if (x && typeof x === 'object') f(x, true); };
  each(history.bars, onBar);
  each(history.fills, onFill);
  each(history.orders, onOrder);
  each(history.log, onLog);
  each(history.reloads, onReload);
  if (history.account && typeof history.account === 'object') onAccount(history.account, true);
  if (history.risk && typeof history.risk === 'object') onRisk(history.risk);
  if (history.nodes && typeof history.nodes === 'object') onNodes(history.nodes);
  if (history.status && typeof history.status === 'object') onStatus(history.status);
  // An optional equity curve so far: [{t, equity}].
  const curve = [];
  for (const p of Array.isArray(history.equity) ? history.equity : []) {
    const time = chartTime(p?.t);
    const value = num(p?.equity);
    if (Number.isFinite(time) && Number.isFinite(value) && (curve.length === 0 || time > curve[curve.length - 1].time))
      curve.push({ time, value });
  }
  if (history.account) {
    const time = chartTime(history.account.t);
    const value = num(history.account.equity);
    if (Number.isFinite(time) && Number.isFinite(value) && (curve.length === 0 || time > curve[curve.length - 1].time))
      curve.push({ time, value });
  }
  if (equityLine) equityLine.setData(curve);
  if (curve.length) state.equityTime = curve[curve.length - 1].time;

  drawSymbol();
  dirtyAll();
  return true;
}

const handlers = {
  hello: onHello, bar: onBar, fill: onFill, order: onOrder, account: onAccount, nodes: onNodes,
  log: onLog, reload: onReload, risk: onRisk, status: onStatus,
};

function onMessage(data) {
  stats.messages++;
  let m;
  try {
    m = JSON.parse(data);
  } catch {
    stats.ignored++;
    return;
  }
  const handler = m && typeof m === 'object' ? handlers[m.type] : undefined;
  if (!handler) {
    stats.ignored++;
    return;
  }
  try {
    if (!handler(m)) stats.ignored++;
  } catch (e) {
    stats.ignored++;
    console.warn('qflow dashboard: could not use a message', m.type, e);
  }
}

// ---- tables ------------------------------------------------------------------------------

const dirtySections = new Set();
let renderTimer = null;

function dirty(section) {
  dirtySections.add(section);
  if (renderTimer === null) renderTimer = setTimeout(render, 100);
}
function dirtyAll() {
  for (const s of ['account', 'orders', 'fills', 'nodes', 'log', 'reloads', 'risk', 'status', 'header']) dirty(s);
}

// Fills a table body: each row gives its cells as strings or {text, cls, title, node}, and
// `detail` may give a line of text shown under it across the table.
function fillTable(id, rows, cells, empty, detail = () => null) {
  const body = $(id).tBodies[0];
  const columns = $(id).tHead.rows[0].cells.length;
  const out = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement('tr');
    for (const cell of cells(row)) {
      const td = document.createElement('td');
      if (cell && typeof cell === 'object') {
        td.textContent = cell.text;
        if (cell.cls) td.className = cell.cls;
        if (cell.title) td.title = cell.title;
        if (cell.node) td.replaceChildren(cell.node);
      } else {
        td.textContent = cell;
      }
      tr.appendChild(td);
    }
    out.appendChild(tr);
    const more = detail(row);
    if (more) {
      const line = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = columns;
      td.className = more.cls || 'text';
      td.textContent = more.text;
      line.appendChild(td);
      out.appendChild(line);
    }
  }
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = columns;
    td.className = 'none';
    td.textContent = empty;
    tr.appendChild(td);
    out.appendChild(tr);
  }
  body.replaceChildren(out);
}

function renderAccount() {
  const a = state.account || {};
  const pnl = fmtSigned(a.day_pnl);
  $('day-pnl').textContent = pnl.text;
  $('day-pnl').className = 'big ' + (pnl.cls || '');
  $('equity').textContent = fmtMoney(a.equity);
  $('cash').textContent = fmtMoney(a.cash);
  const positions = Array.isArray(a.positions) ? a.positions.filter((p) => p && num(p.qty) !== 0) : [];
  fillTable('positions', positions, (p) => {
    const u = fmtSigned(p.unrealized);
    return [text(p.symbol), fmtQty(p.qty), fmtPrice(p.avg_price), fmtPrice(p.last), fmtMoney(p.value), u];
  }, 'no positions');
}

function renderOrders() {
  const orders = [...state.orders.values()].sort((a, b) => num(b.t) - num(a.t));
  fillTable('orders', orders, (o) => [
    fmtTime(o.t), text(o.symbol), { text: text(o.id), cls: 'mono' }, { text: text(o.side), cls: o.side },
    fmtQty(o.qty), text(o.order_type), fmtPrice(o.limit), fmtPrice(o.stop), text(o.status),
    { text: text(o.node), title: o.version ? `script ${o.version}` : '' },
  ], 'no open orders');
}

function renderFills() {
  const fills = state.fills.slice(-MAX_FILLS_SHOWN).reverse();
  fillTable('fills', fills, (f) => [
    fmtTime(f.t, 'day'), text(f.symbol), { text: text(f.side), cls: f.side }, fmtQty(f.qty), fmtPrice(f.price),
    fmtMoney(f.fee), { text: text(f.order_id), cls: 'mono' }, text(f.node), { text: short(f.version), cls: 'mono' },
  ], 'no fills yet');
}

function renderNodes() {
  fillTable('nodes', state.nodes.filter((n) => n && typeof n === 'object'), (n) => [
    text(n.id), text(n.type), { text: text(n.state), cls: n.state === 'halted' ? 'halted' : n.state === 'errors' ? 'warned' : '' },
    fmt(n.events_in, 0, 0), fmt(n.events_out, 0, 0), { text: fmt(n.errors, 0, 0), cls: num(n.errors) > 0 ? 'warned' : '' },
    fmt(n.p50_us, 1, 1), fmt(n.p99_us, 1, 1), fmt(n.busy_ms, 0, 1),
  ], 'no node figures yet');
}

function renderRisk() {
  const r = state.risk;
  const badge = $('risk-state');
  if (!r) {
    badge.textContent = '';
  } else {
    badge.textContent = r.killed ? (r.flatten ? 'killed, flattening' : 'killed') : 'armed';
    badge.className = 'badge ' + (r.killed ? 'bad' : 'ok');
  }
  const limits = r && Array.isArray(r.limits) ? r.limits.filter((l) => l && typeof l === 'object') : [];
  fillTable('risk-limits', limits, (l) => {
    const value = num(l.value);
    const limit = num(l.limit);
    const used = Number.isFinite(value) && Number.isFinite(limit) && limit !== 0 ? Math.abs(value / limit) : NaN;
    const meter = document.createElement('span');
    meter.className = 'meter' + (used > 1 ? ' over' : '');
    const bar = document.createElement('span');
    bar.style.width = `${Math.min(Number.isFinite(used) ? used : 0, 1) * 100}%`;
    meter.appendChild(bar);
    meter.title = Number.isFinite(used) ? `${(used * 100).toFixed(0)}%` : '';
    return [text(l.name), fmt(l.value, 0, 4), fmt(l.limit, 0, 4), { node: meter }];
  }, r ? 'no limits configured' : 'no risk state yet');
  renderHeader();
}

function renderHeader() {
  const kill = $('kill-state');
  kill.textContent = stats.killed ? 'killed' : state.hello ? 'trading' : '';
  kill.className = 'badge ' + (stats.killed ? 'bad' : 'ok');
}

function renderLog() {
  const box = $('log');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 8;
  const out = document.createDocumentFragment();
  for (const l of state.log) {
    const line = document.createElement('div');
    const level = ['info', 'warn', 'error'].includes(l.level) ? l.level : 'info';
    line.className = 'line ' + level;
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = fmtTime(l.t);
    const lvl = document.createElement('span');
    lvl.className = 'lvl';
    lvl.textContent = level.toUpperCase();
    line.append(t, lvl, document.createTextNode(text(l.text)));
    out.appendChild(line);
  }
  box.replaceChildren(out);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function renderReloads() {
  const reloads = state.reloads.slice().reverse();
  fillTable('reloads', reloads, (r) => [
    { text: fmtTime(r.t), title: fmtTime(r.t, 'full') }, text(r.node), { text: text(r.file), cls: 'file', title: text(r.file) },
    { text: `${short(r.old_hash)} → ${short(r.new_hash)}`, cls: 'mono' },
    { text: text(r.outcome), cls: r.outcome === 'applied' ? 'applied' : r.outcome === 'refused' ? 'refused' : '' },
  ], 'no reloads yet', (r) => (r.error ? { text: String(r.error), cls: 'text detail refused' } : null));
}

function renderStatus() {
  const list = $('status');
  const out = document.createDocumentFragment();
  for (const [key, value] of Object.entries(state.status || {})) {
    const dt = document.createElement('dt');
    dt.textContent = key;
    const dd = document.createElement('dd');
    dd.textContent = value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value);
    out.append(dt, dd);
  }
  list.replaceChildren(out);
}

const renderers = {
  account: renderAccount, orders: renderOrders, fills: renderFills, nodes: renderNodes, log: renderLog,
  reloads: renderReloads, risk: renderRisk, status: renderStatus, header: renderHeader,
};

function render() {
  renderTimer = null;
  const sections = [...dirtySections];
  dirtySections.clear();
  for (const s of sections) renderers[s]();
}

// ---- connection --------------------------------------------------------------------------

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let socket = null;
let retryDelay = 500;
let retryTimer = null;

function setConnection(label, cls) {
  stats.connection = label;
  const badge = $('connection');
  badge.textContent = label;
  badge.className = 'badge ' + (cls || '');
}

const query = () => (token ? `?token=${encodeURIComponent(token)}` : '');

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (socket) {
    const old = socket;
    socket = null;
    old.onclose = null;
    old.close();
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/stream${query()}`);
  socket = ws;
  let opened = false;
  setConnection('connecting', 'warn');
  ws.onopen = () => {
    opened = true;
    retryDelay = 500;
    setConnection('live', 'ok');
  };
  ws.onmessage = (event) => onMessage(event.data);
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    const delay = retryDelay;
    retryDelay = Math.min(retryDelay * 2, 10000);
    setConnection(`reconnecting in ${Math.round(delay / 1000)} s`, 'bad');
    if (!opened) diagnose();
    retryTimer = setTimeout(connect, delay);
  };
}

// A WebSocket that never opened says nothing of why; a plain GET of /stream does (401: the
// token, so the page waits for another one; 426: the stream is there, the server was away for a
// moment).
function diagnose() {
  fetch(`/stream${query()}`, { cache: 'no-store' })
    .then((r) => {
      if (r.status !== 401) return;
      // Retrying cannot help: wait for another token.
      clearTimeout(retryTimer);
      retryTimer = null;
      setConnection(token ? 'token refused' : 'token required', 'bad');
    })
    .catch(() => {});
}

// ---- controls ----------------------------------------------------------------------------

let noticeTimer = null;
function notice(message, cls) {
  const box = $('notice');
  box.textContent = message;
  box.className = 'notice ' + (cls || '');
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 10000);
}

async function post(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store' });
    const raw = await response.text();
    let data;
    try {
      data = JSON.parse(raw);
    } catch {
      data = raw;
    }
    return { ok: response.ok, status: response.status, data };
  } catch (e) {
    return { ok: false, status: 0, data: { error: `the server cannot be reached (${e.message || e})` } };
  }
}

function describe(result) {
  const { status, data } = result;
  if (status === 401) return token ? 'the token was refused' : 'this server requires a token';
  if (data && typeof data === 'object' && data.error) return String(data.error);
  return typeof data === 'string' ? data : JSON.stringify(data);
}

async function pressKill() {
  const flatten = $('flatten').checked;
  const what = flatten ? 'Kill the pipeline and flatten every position?' : 'Kill the pipeline (positions are kept)?';
  if (!window.confirm(what)) return;
  $('kill').disabled = true;
  const result = await post('/api/kill', { flatten });
  $('kill').disabled = false;
  if (result.ok) {
    if (typeof result.data?.killed === 'boolean') stats.killed = result.data.killed;
    renderHeader();
    notice(`kill switch pressed: ${describe(result)}`, 'ok');
  } else {
    notice(`kill refused (${result.status || 'no answer'}): ${describe(result)}`, 'bad');
  }
}

async function pressReload() {
  const node = $('reload-node').value;
  $('reload').disabled = true;
  const result = await post('/api/reload', node ? { node } : {});
  $('reload').disabled = false;
  if (result.ok) notice(`reload: ${describe(result)}`, 'ok');
  else notice(`reload refused (${result.status || 'no answer'}): ${describe(result)}`, 'bad');
}

function start() {
  makeCharts();
  $('token').value = token;
  const useToken = (event) => {
    event.preventDefault();
    const given = $('token').value.trim();
    if (given === token && socket) return;
    token = given;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    connect();
  };
  $('token').addEventListener('change', useToken);
  $('token-form').addEventListener('submit', useToken);
  $('symbol').addEventListener('change', () => {
    state.selected = $('symbol').value;
    drawSymbol();
  });
  $('kill').addEventListener('click', pressKill);
  $('reload').addEventListener('click', pressReload);
  dirtyAll();
  connect();
}

start();
