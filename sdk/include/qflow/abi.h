/*
 * qflow plugin ABI — the only contract between the qflow host and a node library.
 *
 * Everything that crosses the boundary is declared here: plain C structs with fixed-width
 * fields and function pointers. No C++ types, no exceptions and no ownership transfer of heap
 * memory cross it, so a plugin built with another compiler or standard library still loads.
 *
 * The contract, in the order a host uses it:
 *
 *  1. Loading. A library exports one function, `qflow_plugin`, returning a `qf_plugin_info`.
 *     The host compares `abi_version` with its own: the major parts must be equal and the
 *     plugin's minor part must not exceed the host's. Only then does it call `register_nodes`
 *     with a registrar; the plugin calls `registrar->register_node` once per node type. Specs
 *     are copied by the host; the function pointers in them must stay valid while the library
 *     is loaded (the host keeps it loaded while any node it created is alive).
 *
 *  2. Validation. The host validates a pipeline against the specs alone: parameter names,
 *     types, ranges and choices, port kinds. A spec with `describe` set may add parameters
 *     once its fixed parameters are known (a Lua node reads its script's declared ones).
 *
 *  3. Construction. `create` receives the validated parameters (every declared parameter is
 *     present, defaults applied, types already checked) and the input slots: one slot per
 *     connection, numbered in the order the pipeline lists them. It fills a `qf_node_instance`
 *     or returns QF_ERROR with a message in `qf_error`.
 *
 *  4. Running. A node is used by one thread at a time. The host processes events in *cycles*:
 *     a cycle is everything caused by one market event. Within a cycle it calls `on_event` for
 *     each event delivered to a slot (in causal order), then `on_cycle` once for every node that
 *     received an event on a regular slot, in topological order, so that when `on_cycle` runs
 *     every input of the node has been delivered for that cycle and `host->input(ctx, slot)`
 *     returns the event each slot got in this cycle (NULL when it got none, e.g. an indicator
 *     still warming up). A slot may receive several events in one cycle (a node emitting
 *     several symbols at once, e.g. transform.align): input() returns the last, and a node
 *     that needs each reads them in `on_event`. Events a node emits are queued and delivered
 *     after the callback returns; callbacks are never re-entered.
 *
 *     Feedback: fills and order updates are delivered back to the node that placed the order
 *     (the host stamps `origin` on every order a node emits) through `on_feedback`, and so are
 *     account snapshots, to every node that sends orders to the executor. Feedback never makes
 *     a node's on_cycle run. Nodes flagged
 *     QF_NODE_SIMULATES_MARKET (executors) receive each market event before every other node of
 *     their stage, so a fill at the open of bar t+1 reaches the strategy before bar t+1 does.
 *
 *     Batches: a node whose outputs for an input event depend only on that input's earlier
 *     events (an indicator with one input, no on_cycle, no feedback) may implement `on_batch`.
 *     The host may then hand it many consecutive events of its input at once, one per cycle,
 *     instead of calling on_event per cycle, and deliver what it emits to the right cycles.
 *     Every event emitted during on_batch must carry the `seq` (and normally the time and
 *     symbol) of the input event it answers, in order. Results must equal those of on_event.
 *
 *     Sources implement `produce` instead: emit up to `max_events` events in time order and
 *     return QF_SOURCE_MORE, QF_SOURCE_IDLE (nothing available now, paper mode) or
 *     QF_SOURCE_DONE.
 *
 *  5. State. `save_state` writes the node's mutable state through a writer; `restore_state`
 *     reads it back into a freshly created node with the same parameters. Restoring and
 *     continuing must produce exactly what the node would have produced without stopping.
 *     The host saves every node between two batches (a checkpoint) and, on resume, calls
 *     `restore_state` right after `create` and before `start`; what a restored node emits
 *     from `start` is dropped, as it was delivered before the checkpoint. A node without
 *     `save_state` is taken to have no state. A node writing a file in the run's output folder
 *     flushes it in `save_state` and saves its length: the host makes the folder's files
 *     durable before it commits the checkpoint, and the restored node truncates the file to
 *     that length. Symbol ids are per process: save names, not ids.
 *
 *  6. Errors. A callback that fails calls `host->report_error` with a message and returns
 *     QF_ERROR; the pipeline's error policy decides what happens next. `stop` is called once
 *     at the end of the stream, node by node in topological order; what nodes emit there is
 *     delivered as one last cycle, so a node that got something from an earlier node's `stop`
 *     has its `on_cycle` called before its own `stop`. `destroy` is always last.
 *
 *  8. Warm-up (ABI 1.2): a node spec may say when its first output comes (`warmup`), for
 *     `qflow nodes`; a node emits nothing before then. Specs of 1.0 and 1.1 end before it.
 *
 *  9. Many events at once (ABI 1.3): `host->emit_many` emits an array of events, each on its
 *     own port, and `host->emit_values` an array of values (qf_value_answer, 32 bytes each),
 *     exactly as that many calls of `emit` in the same order would. A node answering a batch
 *     (`on_batch`) gathers its answers and hands them over a few hundred at a time instead of
 *     paying one call per value. A host table that ends before them (or holds NULL there, as
 *     test harnesses may) has neither: call `emit` for each event.
 *
 * 10. Many events delivered at once (ABI 1.4, optional): `on_events` takes an array of events,
 *     events[i] on slot slots[i], in causal order, exactly as that many calls of `on_event`
 *     would. The array may span many cycles (each event's seq and time say which). The host
 *     uses it for a node alone in its stage with no outputs, no on_cycle and no on_feedback (a
 *     sink, as the planner places them): it gathers what the node receives from a batch and
 *     hands it over a few hundred events at a time instead of paying one call per event.
 *     During on_events, `host->now` answers for the cycle of the array's last event and
 *     `host->input` returns NULL. Elsewhere the host calls `on_event`, or, if the node has
 *     only on_events, on_events with one event.
 *
 * 11. Values in columns (ABI 1.5, optional): `on_values` takes a batch's values as the batch
 *     stage that computed them left them, without merging them into cycle order: one column
 *     per upstream node, its values (qf_value_answer, `port` being that node's output port)
 *     in seq order, and for each port the slot of this node it feeds (QF_NO_SLOT: none; the
 *     node skips those values). Every value reaches its slot exactly once and in the same
 *     order as through on_event; what is given up is the order *between* slots: a column's
 *     values may come before those of an earlier cycle in another column. A node that wants
 *     this (a sink keeping per-input tallies or series, a columnar writer) implements it
 *     beside on_event or on_events, which the host requires and uses for every batch that is
 *     not all values for it (events of a source or of a compute stage, a stream read on two
 *     slots, `engine.vectorize: false`): the two ways must give the same result. The host
 *     uses on_values under the conditions of on_events (10). During on_values, `host->now`
 *     answers for the batch's last cycle that has a value for the node, and `host->input`
 *     returns NULL. The columns and what they point to are valid during the call only.
 *
 *  7. Live reload (ABI 1.1, optional; the host checks `struct_size` before using these
 *     entries). While a pipeline runs, the host may hand a node its parameters again (some
 *     changed, or a script it reads changed on disk) in two steps:
 *     - `prepare_reload` builds the node's next version from those parameters without
 *       disturbing the running one. It runs on a thread of the host's, possibly while the node
 *       is processing events on its own thread, so it must not touch what the running version
 *       uses. On failure (QF_ERROR, with the reason in `err`) the running version is unchanged.
 *     - `commit_reload` then swaps the prepared version in, on the node's own thread between
 *       two events, handing the running version's state over. On failure (report_error) the
 *       running version stays, unchanged. Every event is processed by exactly one version.
 *     `abort_reload` discards a prepared version that will not be committed. `version` names
 *     the code running now (a script's content hash, say) for logs, order tags and facts.
 */
#ifndef QFLOW_ABI_H
#define QFLOW_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QF_ABI_VERSION_MAJOR 1u
#define QF_ABI_VERSION_MINOR 5u
#define QF_ABI_VERSION ((QF_ABI_VERSION_MAJOR << 16) | QF_ABI_VERSION_MINOR)
#define QF_ABI_MAJOR(v) ((uint32_t)(v) >> 16)
#define QF_ABI_MINOR(v) ((uint32_t)(v)&0xffffu)

#if defined(_WIN32)
#define QF_EXPORT __declspec(dllexport)
#else
#define QF_EXPORT __attribute__((visibility("default")))
#endif

/* ---- status codes ------------------------------------------------------------------------ */
#define QF_OK 0
#define QF_ERROR (-1)
#define QF_SOURCE_MORE 1
#define QF_SOURCE_IDLE 2
#define QF_SOURCE_DONE 3

/* ---- events -------------------------------------------------------------------------------- */
typedef enum qf_event_kind {
  QF_KIND_TICK = 1,
  QF_KIND_QUOTE = 2,
  QF_KIND_BAR = 3,
  QF_KIND_VALUE = 4,
  QF_KIND_SIGNAL = 5,
  QF_KIND_ORDER = 6,
  QF_KIND_ORDER_UPDATE = 7,
  QF_KIND_FILL = 8,
  QF_KIND_POSITION = 9,
  QF_KIND_ACCOUNT = 10,
  QF_KIND_ALERT = 11,
  QF_KIND_CONTROL = 12,
  QF_KIND_COUNT_ = 13
} qf_event_kind;

#define QF_KIND_BIT(k) (1u << (uint32_t)(k))
#define QF_KINDS_MARKET (QF_KIND_BIT(QF_KIND_TICK) | QF_KIND_BIT(QF_KIND_QUOTE) | QF_KIND_BIT(QF_KIND_BAR))
#define QF_KINDS_ANY 0xfffffffeu

/* Sides are signed so that quantity * side is a signed position change. */
#define QF_SIDE_BUY 1
#define QF_SIDE_SELL (-1)

typedef enum qf_order_type {
  QF_ORDER_MARKET = 0,
  QF_ORDER_LIMIT = 1,
  QF_ORDER_STOP = 2,
  QF_ORDER_STOP_LIMIT = 3,
  QF_ORDER_CANCEL = 4 /* cancels order_id placed earlier by the same origin */
} qf_order_type;

typedef enum qf_time_in_force { QF_TIF_GTC = 0, QF_TIF_DAY = 1, QF_TIF_IOC = 2 } qf_time_in_force;

typedef enum qf_order_status {
  QF_ORDER_ACCEPTED = 1,
  QF_ORDER_PARTIALLY_FILLED = 2,
  QF_ORDER_FILLED = 3,
  QF_ORDER_CANCELLED = 4,
  QF_ORDER_REJECTED = 5,
  QF_ORDER_EXPIRED = 6
} qf_order_status;

typedef enum qf_reject_reason {
  QF_REJECT_NONE = 0,
  QF_REJECT_INSUFFICIENT_CASH = 1,
  QF_REJECT_INSUFFICIENT_POSITION = 2, /* a sell beyond the position where shorting is off */
  QF_REJECT_INVALID = 3,               /* non-positive quantity, unknown order id, ... */
  QF_REJECT_RISK = 4,                  /* refused by a risk node */
  QF_REJECT_HALTED = 5                 /* kill switch engaged */
} qf_reject_reason;

typedef struct qf_bar {
  double open, high, low, close, volume;
  int64_t interval_ns; /* bar length; the event time is the bar's open time */
} qf_bar;

typedef struct qf_tick {
  double price, size;
  int32_t aggressor; /* QF_SIDE_BUY, QF_SIDE_SELL or 0 when unknown */
  uint32_t reserved;
  int64_t trade_id;
} qf_tick;

typedef struct qf_quote {
  double bid, ask, bid_size, ask_size;
} qf_quote;

typedef struct qf_value {
  double value;
} qf_value;

typedef struct qf_signal {
  double value;      /* score or target; sign gives direction */
  double confidence; /* in [0, 1] */
} qf_signal;

typedef struct qf_order {
  uint64_t order_id; /* unique per origin node */
  double quantity;   /* > 0; side gives the direction */
  double limit_price;
  double stop_price;
  int32_t side;
  int32_t type; /* qf_order_type */
  int32_t time_in_force;
  uint32_t tag; /* an interned string naming what placed the order (a script version); 0 = none */
} qf_order;

typedef struct qf_order_update {
  uint64_t order_id;
  double filled_quantity;
  double remaining_quantity;
  double average_price;
  int32_t status; /* qf_order_status */
  int32_t reason; /* qf_reject_reason */
  uint32_t tag;
  uint32_t reserved;
} qf_order_update;

typedef struct qf_fill {
  uint64_t order_id;
  double quantity; /* > 0 */
  double price;    /* after slippage */
  double commission;
  int32_t side;
  uint32_t tag;
  uint64_t fill_id;
} qf_fill;

typedef struct qf_position {
  double quantity; /* signed */
  double average_price;
  double realized_pnl;
  double unrealized_pnl;
} qf_position;

typedef struct qf_account {
  double cash;
  double equity; /* cash + marked value of every position */
  double position_value;
  double realized_pnl;
  double commission; /* paid since the start */
  double reserved;
} qf_account;

typedef struct qf_alert {
  int32_t level; /* QF_LOG_* */
  uint32_t code;
  uint32_t text; /* interned string id (host->intern) */
  uint32_t reserved;
  double value;
} qf_alert;

typedef struct qf_control {
  int32_t command;
  uint32_t arg;
  double value;
} qf_control;

/* Every event is 80 bytes: a 32-byte header and a 48-byte payload chosen by `kind`. */
typedef struct qf_event {
  uint16_t kind;   /* qf_event_kind */
  uint16_t flags;  /* QF_EVENT_* */
  uint32_t symbol; /* interned symbol id (host->intern); 0 = none */
  int64_t time_ns; /* event time, nanoseconds since the Unix epoch, UTC */
  uint64_t seq;    /* cycle sequence number, assigned by the host */
  uint32_t origin; /* node that placed the order this event belongs to; stamped by the host */
  uint32_t stream; /* host use: the output port that produced the event; nodes ignore it */
  union {
    qf_bar bar;
    qf_tick tick;
    qf_quote quote;
    qf_value value;
    qf_signal signal;
    qf_order order;
    qf_order_update order_update;
    qf_fill fill;
    qf_position position;
    qf_account account;
    qf_alert alert;
    qf_control control;
    unsigned char raw[48];
  } u;
} qf_event;

/* qf_event.flags */
#define QF_EVENT_INITIAL 0x0001u /* account snapshot before the first market event */

/* ---- strings ------------------------------------------------------------------------------- */
typedef struct qf_str {
  const char* data;
  size_t size;
} qf_str;

/* ---- specs --------------------------------------------------------------------------------- */
typedef enum qf_param_type {
  QF_PARAM_INT = 1,
  QF_PARAM_DOUBLE = 2,
  QF_PARAM_BOOL = 3,
  QF_PARAM_STRING = 4,
  QF_PARAM_CHOICE = 5,   /* a string from `choices` */
  QF_PARAM_PATH = 6,     /* a string; relative paths are resolved by the host, empty stays empty */
  QF_PARAM_DURATION = 7, /* "500ms", "1m", "1d" or nanoseconds; passed as int nanoseconds */
  QF_PARAM_TIME = 8      /* ISO 8601 UTC instant; passed as int nanoseconds */
} qf_param_type;

#define QF_PARAM_REQUIRED 0x1u
#define QF_PARAM_RELOADABLE 0x2u /* may change on a live reload without restart */
#define QF_PARAM_HAS_MIN 0x4u
#define QF_PARAM_HAS_MAX 0x8u

typedef struct qf_param_spec {
  const char* name;
  int32_t type; /* qf_param_type */
  uint32_t flags;
  const char* default_value; /* textual, as written in YAML; NULL when there is none */
  double min_value, max_value;
  const char* const* choices;
  uint32_t choice_count;
  const char* doc;
} qf_param_spec;

#define QF_PORT_MULTIPLE 0x1u /* accepts any number of connections */
#define QF_PORT_OPTIONAL 0x2u /* may stay unconnected */

typedef struct qf_port_spec {
  const char* name;
  uint32_t kinds; /* QF_KIND_BIT mask */
  uint32_t flags;
  const char* doc;
} qf_port_spec;

/* qf_node_spec.flags */
#define QF_NODE_SIMULATES_MARKET 0x1u /* sees market events first in its stage (executors) */
/* Implements on_batch and neither on_cycle nor on_feedback: the planner may run it in a stage
   of its own ahead of its consumers (the C++ layer sets this itself). */
#define QF_NODE_BATCHED 0x2u

typedef struct qf_param_value {
  const char* name;
  int32_t type; /* qf_param_type */
  int32_t is_set; /* 0 only for an optional parameter without default that was not given */
  int64_t i;      /* INT, BOOL, DURATION, TIME */
  double d;       /* DOUBLE (and INT, converted) */
  qf_str s;       /* STRING, CHOICE, PATH (resolved) */
} qf_param_value;

typedef struct qf_slot_info {
  uint32_t port;  /* index into the spec's inputs */
  uint32_t kinds; /* what the connected output produces */
  const char* label; /* the reference as written: "fast", "macd.signal" */
} qf_slot_info;

typedef enum qf_mode { QF_MODE_BACKTEST = 0, QF_MODE_PAPER = 1, QF_MODE_LIVE = 2 } qf_mode;

typedef struct qf_node_config {
  uint32_t struct_size;
  const char* id; /* the node's id in the pipeline */
  const qf_param_value* params;
  uint32_t param_count;
  const qf_slot_info* slots;
  uint32_t slot_count;
  const char* output_dir; /* the run's output folder (exists) */
  uint64_t seed;          /* the pipeline seed mixed with the node id */
  int32_t mode;           /* qf_mode */
} qf_node_config;

typedef struct qf_error {
  char message[1024];
} qf_error;

/* ---- the host, as seen from a node --------------------------------------------------------- */
typedef struct qf_context qf_context; /* opaque, one per node instance */

#define QF_LOG_TRACE 0
#define QF_LOG_DEBUG 1
#define QF_LOG_INFO 2
#define QF_LOG_WARN 3
#define QF_LOG_ERROR 4

/* A value event in 32 bytes instead of an event's 80, for emit_values: what an indicator
   answers to each input of a batch. */
typedef struct qf_value_answer {
  uint64_t seq;     /* the input's seq (on_batch) */
  int64_t time_ns;  /* 0: the input's (on_batch) or the cycle's time */
  double value;
  uint32_t symbol;
  uint32_t port;    /* the output port */
} qf_value_answer;

/* One upstream node's values for on_values (see 11 above). */
#define QF_NO_SLOT 0xffffffffu
typedef struct qf_value_column {
  const qf_value_answer* values;  /* in seq order; values[i].port < port_count */
  uint32_t count;
  uint32_t port_count;
  const uint32_t* slot_of_port;   /* the slot each port of the upstream node feeds, or QF_NO_SLOT */
} qf_value_column;

typedef struct qf_host_api {
  uint32_t struct_size;
  uint32_t abi_version;
  /* Emit an event on one of the node's output ports. seq and, for orders, origin are stamped
     by the host; a zero time_ns becomes the cycle's time. The event is copied. */
  void (*emit)(qf_context* ctx, uint32_t port, const qf_event* ev);
  /* The event slot `slot` received in the current cycle, or NULL. Valid until the cycle ends. */
  const qf_event* (*input)(qf_context* ctx, uint32_t slot);
  /* Event time of the current cycle (backtest) or wall clock (paper), ns since the epoch. */
  int64_t (*now)(qf_context* ctx);
  /* Interned strings (symbols, alert texts): equal strings get equal ids in one process. */
  uint32_t (*intern)(qf_context* ctx, const char* s, size_t n);
  qf_str (*lookup)(qf_context* ctx, uint32_t id);
  void (*log)(qf_context* ctx, int32_t level, const char* msg, size_t n);
  /* Describe the failure of the current callback; the callback then returns QF_ERROR. */
  void (*report_error)(qf_context* ctx, const char* msg, size_t n);
  /* Sources: fraction of the input consumed, in [0, 1], for progress display. */
  void (*set_progress)(qf_context* ctx, double fraction);
  /* ---- ABI 1.3 (see 9 above); absent when struct_size ends before them, or NULL ---- */
  /* Emit events[i] on output port ports[i] for i = 0 .. count-1, as count calls of emit. */
  void (*emit_many)(qf_context* ctx, const uint32_t* ports, const qf_event* events, uint32_t count);
  /* Emit count value events, answers[i] on port answers[i].port, as count calls of emit. */
  void (*emit_values)(qf_context* ctx, const qf_value_answer* answers, uint32_t count);
} qf_host_api;

typedef struct qf_state_writer {
  void* opaque;
  void (*write)(struct qf_state_writer* w, const void* data, size_t n);
} qf_state_writer;

typedef struct qf_node_vtable {
  uint32_t struct_size;
  void (*destroy)(void* self);
  int32_t (*start)(void* self, qf_context* ctx);
  int32_t (*on_event)(void* self, qf_context* ctx, uint32_t slot, const qf_event* ev);
  int32_t (*on_cycle)(void* self, qf_context* ctx);
  int32_t (*on_feedback)(void* self, qf_context* ctx, const qf_event* ev);
  int32_t (*on_batch)(void* self, qf_context* ctx, uint32_t slot, const qf_event* events, uint32_t count);
  int32_t (*produce)(void* self, qf_context* ctx, uint32_t max_events);
  int32_t (*stop)(void* self, qf_context* ctx);
  int32_t (*save_state)(void* self, qf_context* ctx, qf_state_writer* w);
  int32_t (*restore_state)(void* self, qf_context* ctx, const void* data, size_t n);
  /* ---- ABI 1.1: live reload (see 7 above); absent when struct_size ends before them ---- */
  int32_t (*prepare_reload)(void* self, const qf_param_value* params, uint32_t param_count, qf_error* err);
  int32_t (*commit_reload)(void* self, qf_context* ctx);
  void (*abort_reload)(void* self);
  /* The version running now, or NULL; valid until the next commit_reload. */
  const char* (*version)(void* self);
  /* ---- ABI 1.4 (see 10 above); absent when struct_size ends before it, or NULL ---- */
  int32_t (*on_events)(void* self, qf_context* ctx, const uint32_t* slots, const qf_event* events, uint32_t count);
  /* ---- ABI 1.5 (see 11 above); absent when struct_size ends before it, or NULL ---- */
  int32_t (*on_values)(void* self, qf_context* ctx, const qf_value_column* columns, uint32_t count);
} qf_node_vtable;

/* Whether a vtable has the entry `field` (older plugins have shorter vtables). */
#define QF_VTABLE_HAS(vt, field) \
  ((vt)->struct_size >= offsetof(qf_node_vtable, field) + sizeof(((qf_node_vtable*)0)->field))

typedef struct qf_node_instance {
  void* self;
  const qf_node_vtable* vtable;
} qf_node_instance;

/* Adds parameters discovered by `describe` (copied by the host). */
typedef struct qf_spec_builder {
  void* opaque;
  int32_t (*add_param)(struct qf_spec_builder* b, const qf_param_spec* p);
} qf_spec_builder;

typedef struct qf_node_spec {
  uint32_t struct_size;
  const char* type_name; /* "indicator.sma" */
  const char* role;      /* source, transform, indicator, metric, strategy, risk, executor, sink */
  const char* summary;   /* one line */
  const char* doc;       /* what it computes, its convention, its warm-up */
  const qf_param_spec* params;
  uint32_t param_count;
  const qf_port_spec* inputs;
  uint32_t input_count;
  const qf_port_spec* outputs;
  uint32_t output_count;
  uint32_t flags; /* QF_NODE_* */
  void* type_data; /* handed back to create and describe */
  int32_t (*create)(void* type_data, const qf_node_config* cfg, const qf_host_api* host,
                    qf_node_instance* out, qf_error* err);
  /* Optional: more parameters once the fixed ones are known. `fixed` holds the declared
     parameters, validated. */
  int32_t (*describe)(void* type_data, const qf_param_value* fixed, uint32_t fixed_count,
                      qf_spec_builder* builder, qf_error* err);
  /* ---- ABI 1.2; absent when struct_size ends before it ---- */
  const char* warmup; /* when the first output comes, in words ("the 14th bar"); NULL = none */
} qf_node_spec;

/* ---- loading -------------------------------------------------------------------------------- */
typedef struct qf_registrar {
  uint32_t struct_size;
  void* opaque;
  int32_t (*register_node)(struct qf_registrar* r, const qf_node_spec* spec);
} qf_registrar;

typedef struct qf_plugin_info {
  uint32_t struct_size;
  uint32_t abi_version; /* QF_ABI_VERSION the library was built with */
  const char* name;     /* "qflow-indicators" */
  const char* version;  /* the library's own version */
  int32_t (*register_nodes)(qf_registrar* r, qf_error* err);
} qf_plugin_info;

#define QF_PLUGIN_ENTRY "qflow_plugin"
typedef const qf_plugin_info* (*qf_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QFLOW_ABI_H */
