#include "pipeline_runner.hpp"

#include "net/replay_server.hpp"
#include "node_runtime.hpp"
#include "planner.hpp"
#include "store/fact_table.hpp"
#include "run_ledger.hpp"
#include "source_group.hpp"
#include "stage.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <pthread.h>

namespace qflow {

namespace {

namespace flow = oneapi::tbb::flow;
using Clock = std::chrono::steady_clock;

// Prints a live progress line on a terminal until stopped.
class ProgressLine {
 public:
  ProgressLine(const std::vector<std::unique_ptr<SourceGroup>>& groups, bool enabled)
      : groups_(groups), start_(Clock::now()) {
    if (enabled) thread_ = std::thread([this] { loop(); });
  }
  ~ProgressLine() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
      print();  // the final state stays on screen, however short the run
      std::fprintf(stderr, "\n");
    }
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; })) print();
  }

  void print() const {
    uint64_t events = 0;
    double fraction = 0;
    int known = 0;
    for (const auto& g : groups_) {
      events += g->events();
      for (NodeRuntime* s : g->sources()) {
        const double p = s->progress.load(std::memory_order_relaxed);
        if (p >= 0) fraction += p, ++known;
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    if (known)
      std::fprintf(stderr, "\r\033[Kqflow: %5.1f%%  %llu events  %.0f events/s", 100.0 * fraction / known,
                   static_cast<unsigned long long>(events), events / std::max(secs, 1e-9));
    else
      std::fprintf(stderr, "\r\033[Kqflow: %llu events  %.0f events/s", static_cast<unsigned long long>(events),
                   events / std::max(secs, 1e-9));
    std::fflush(stderr);
  }

  const std::vector<std::unique_ptr<SourceGroup>>& groups_;
  Clock::time_point start_;
  std::mutex mutex_;  // guards done_
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Feeds a live source group's batches into the graph from a thread of its own. The graph runs
// in `arena`, which has no spare workers: this thread processes each batch through the stages
// before it asks the feed for the next. A thread that waits for a feed inside the graph would
// keep TBB's idle workers spinning for work on the cores the network threads need.
class LiveFeeder {
 public:
  using Fill = std::function<std::shared_ptr<Batch>()>;
  LiveFeeder(oneapi::tbb::task_arena& arena, flow::graph& graph, flow::broadcast_node<BatchPtr>& out, Fill fill)
      : arena_(arena), graph_(graph), out_(out), fill_(std::move(fill)) {}
  ~LiveFeeder() { join(); }
  LiveFeeder(const LiveFeeder&) = delete;
  LiveFeeder& operator=(const LiveFeeder&) = delete;

  void start(std::function<void(const std::string&)> on_error) {
    thread_ = std::thread([this, on_error = std::move(on_error)] {
      pthread_setname_np(pthread_self(), "qf-live-feed");
      try {
        while (std::shared_ptr<Batch> b = fill_())
          arena_.execute([&] {
            out_.try_put(BatchPtr(std::move(b)));
            graph_.wait_for_all();
          });
      } catch (const std::exception& e) {
        on_error(e.what());
      }
    });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  oneapi::tbb::task_arena& arena_;
  flow::graph& graph_;
  flow::broadcast_node<BatchPtr>& out_;
  Fill fill_;
  std::thread thread_;
};

// Gives every node its state from the checkpoint, and the symbol table its ids, before start.
void restore_nodes(const store::CheckpointData& cp, const std::vector<std::unique_ptr<NodeRuntime>>& nodes,
                   SymbolTable& symbols) {
  for (size_t id = 1; id < cp.symbols.size(); ++id)
    if (symbols.intern(cp.symbols[id]) != id)
      throw std::runtime_error("cannot resume: the checkpoint's symbol '" + cp.symbols[id] +
                               "' would get another id; the pipeline's sources changed");
  size_t used = 0;
  for (const auto& n : nodes) {
    auto it = cp.node_states.find(n->def->id);
    if (it != cp.node_states.end()) {
      n->restore_state(it->second);
      ++used;
    } else if (n->vt().save_state) {
      throw std::runtime_error("cannot resume: the checkpoint has no state for " + n->describe());
    }
  }
  if (used != cp.node_states.size())
    throw std::runtime_error("cannot resume: the checkpoint has the state of a node this pipeline does not have");
}

// The exchange simulator a paper pipeline declares, listening before any source connects.
std::unique_ptr<net::ReplayServer> start_simulator(const SimulatorDef& sim, bool record_send_times) {
  net::ReplayOptions o;
  o.record_send_times = record_send_times;
  o.host = sim.host;
  o.port = sim.port;
  o.speed = sim.speed;
  o.partial_klines = sim.partial_klines;
  o.faults.disconnect_every_ns = sim.disconnect_every_ns;
  o.faults.stall_every_ns = sim.stall_every_ns;
  o.faults.stall_for_ns = sim.stall_for_ns;
  o.faults.drop_every = sim.drop_every;
  o.faults.duplicate_every = sim.duplicate_every;
  o.faults.malformed_every = sim.malformed_every;
  o.faults.reorder_every = sim.reorder_every;
  for (const SimulatorFeed& f : sim.feeds) {
    net::ReplayFeed feed;
    feed.symbol = f.symbol;
    feed.path = f.path;
    feed.kind = f.kind == "ticks" ? net::ReplayFeed::ticks : net::ReplayFeed::bars;
    feed.interval = f.interval;
    o.feeds.push_back(std::move(feed));
  }
  auto server = std::make_unique<net::ReplayServer>(std::move(o));
  server->start();
  spdlog::info("exchange simulator: {} (speed {})", server->url(), sim.speed == 0 ? std::string("max") : fmt::format("{:g}x", sim.speed));
  return server;
}

}  // namespace

RunResult run_pipeline(const Graph& graph, const RunOptions& options) {
  RunResult result;
  const auto t0 = Clock::now();
  RunServices services;
  std::error_code ec;
  const std::filesystem::path out_dir = std::filesystem::absolute(graph.output, ec);
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    result.status = RunResult::Status::failed;
    result.error = "cannot create the output folder " + out_dir.string() + ": " + ec.message();
    return result;
  }
  services.output_dir = out_dir.string();
  result.output_dir = services.output_dir;
  const auto started = options.started.value_or(t0);

  std::unique_ptr<RunLedger> ledger;
  if (options.store) {
    try {
      ledger = std::make_unique<RunLedger>(graph, services.output_dir, options.run_id, options.resume, options.force);
    } catch (const std::exception& e) {
      result.status = RunResult::Status::failed;
      result.error = e.what();
      return result;
    }
    result.run_id = ledger->record().id;
  }
  std::optional<store::CheckpointData>* checkpoint = ledger ? &ledger->checkpoint() : nullptr;
  const bool resuming = checkpoint && checkpoint->has_value();

  std::unique_ptr<net::ReplayServer> simulator;
  if (graph.simulator && graph.mode != QF_MODE_BACKTEST) {
    try {
      simulator = start_simulator(*graph.simulator, static_cast<bool>(options.on_simulator_send_times));
    } catch (const std::exception& e) {
      result.status = RunResult::Status::failed;
      result.error = std::string("the exchange simulator cannot start: ") + e.what();
      if (ledger) ledger->close("failed", result.error, ledger->record().events, ledger->record().facts);
      return result;
    }
  }

  // What reloadable files held as the nodes read them: a save before the watch begins still counts.
  std::map<std::string, uint64_t> loaded_files;
  if (options.reload && graph.mode != QF_MODE_BACKTEST) loaded_files = file_fingerprints(graph);
  std::vector<std::unique_ptr<NodeRuntime>> nodes;
  try {
    nodes = create_nodes(graph, services);
    if (resuming) restore_nodes(**checkpoint, nodes, services.symbols);
  } catch (const std::exception& e) {
    result.status = RunResult::Status::failed;
    result.error = e.what();
    if (ledger) ledger->close("failed", result.error, ledger->record().events, ledger->record().facts);
    return result;
  }

  // A type that claims to be batched is planned ahead of its consumers: hold it to its word.
  for (const auto& n : nodes) {
    const qf_node_vtable& vt = n->vt();
    if (n->type->batched() && (!vt.on_batch || vt.on_cycle || vt.on_feedback)) {
      result.status = RunResult::Status::failed;
      result.error = n->describe() + " is declared batched (QF_NODE_BATCHED) but does not implement on_batch alone";
      if (ledger) ledger->close("failed", result.error, ledger->record().events, ledger->record().facts);
      return result;
    }
  }

  // Physical plan → stage objects.
  const Plan plan = make_plan(graph);
  std::vector<std::unique_ptr<SourceGroup>> groups;
  std::vector<std::unique_ptr<Stage>> stages;   // compute and sink stages
  std::vector<int> object_of(plan.stages.size(), -1);  // plan stage → index in groups or stages
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const StagePlan& sp = plan.stages[i];
    std::vector<NodeRuntime*> members;
    for (uint32_t n : sp.nodes) members.push_back(nodes[n].get());
    if (sp.kind == StagePlan::Kind::sources) {
      object_of[i] = static_cast<int>(groups.size());
      groups.push_back(std::make_unique<SourceGroup>(graph, std::move(members), graph.batch_size));
    } else {
      object_of[i] = static_cast<int>(stages.size());
      stages.push_back(std::make_unique<Stage>(sp.name, graph, std::move(members), sp.exported, graph.vectorize));
    }
  }
  auto stage_of = [&](size_t plan_index) { return stages[static_cast<size_t>(object_of[plan_index])].get(); };

  // Facts: one writer per thread of work (each source group, each stage).
  // They hand full chunks to one sink thread that encodes and writes them.
  std::unique_ptr<store::FactSink> fact_sink;
  std::vector<std::unique_ptr<store::FactWriter>> writers;
  store::FactWriter* events_writer = nullptr;
  if (ledger && graph.facts) {
    fact_sink = std::make_unique<store::FactSink>(ledger->store());
    auto make_writer = [&] {
      return writers.emplace_back(std::make_unique<store::FactWriter>(ledger->store(), *fact_sink, ledger->record().number,
                                                                       services.symbols)).get();
    };
    for (auto& g : groups) g->attach_facts(make_writer());
    for (auto& st : stages) st->attach_facts(make_writer());
    events_writer = make_writer();
  }
  // The runtime's own events, one series per attempt of the run (they are not checkpointed).
  // They are written when the attempt ends: interning their texts earlier would give the
  // symbols a resumed run interns later other ids than an uninterrupted run gives them.
  struct RuntimeEventRecord {
    store::RuntimeEvent what;
    int32_t level;
    std::string text;
    int64_t time_ns;
  };
  std::vector<RuntimeEventRecord> runtime_events;
  auto record_event = [&](store::RuntimeEvent what, int32_t level, const std::string& text) {
    if (!events_writer) return;
    runtime_events.push_back({what, level, text,
                              std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count()});
  };
  auto write_runtime_events = [&] {
    for (const RuntimeEventRecord& r : runtime_events) {
      qf_event e{};
      e.kind = QF_KIND_ALERT;
      e.time_ns = r.time_ns;
      e.u.alert.level = r.level;
      e.u.alert.code = static_cast<uint32_t>(r.what);
      e.u.alert.text = services.symbols.intern(r.text);
      events_writer->record_in(store::Family::events, e, store::kRuntimeNode, static_cast<uint16_t>(ledger->record().resumes));
    }
  };
  // Contributors to a checkpoint: source groups first, then stages, in plan order.
  const size_t contributors = groups.size() + stages.size();
  if (resuming) {
    const store::CheckpointData& cp = **checkpoint;
    try {
      if (cp.parts.size() != contributors)
        throw std::runtime_error("the checkpoint has " + std::to_string(cp.parts.size()) + " parts and this pipeline " +
                                 std::to_string(contributors) + " stages: it belongs to another plan");
      for (size_t g = 0; g < groups.size(); ++g) groups[g]->restore(cp.parts[g], services.symbols);
      for (size_t k = 0; k < stages.size(); ++k) stages[k]->restore(cp.parts[groups.size() + k]);
      if (!writers.empty()) {
        std::vector<store::FactWriter*> restored;
        for (auto& w : writers)
          if (w.get() != events_writer) restored.push_back(w.get());
        store::discard_after_checkpoint(ledger->store(), ledger->record().number, restored);
      }
    } catch (const std::exception& e) {
      result.status = RunResult::Status::failed;
      result.error = "cannot resume run '" + result.run_id + "': " + e.what();
      ledger->close("failed", result.error, ledger->record().events, ledger->record().facts);
      return result;
    }
    result.resumed = true;
    result.resumed_events = cp.events;
    spdlog::info("resuming run '{}' from checkpoint {} ({} events read)", result.run_id, cp.id, cp.events);
    record_event(store::RuntimeEvent::resumed, QF_LOG_INFO,
                 "resumed from checkpoint " + std::to_string(cp.id) + " after " + std::to_string(cp.events) + " events");
  }
  std::unique_ptr<store::CheckpointCoordinator> coordinator;
  if (ledger && (graph.checkpoint_every_ns > 0 || graph.checkpoint_events > 0)) {
    coordinator = std::make_unique<store::CheckpointCoordinator>(
        ledger->store(), fact_sink.get(), out_dir, ledger->record(), contributors, ledger->hash(), [&services] { return services.symbols.snapshot(); },
        graph.checkpoint_every_ns, graph.checkpoint_events, resuming ? (**checkpoint).id + 1 : 1);
  }
  // Failures on worker threads (a checkpoint that cannot be written): the first one is kept.
  std::mutex async_mutex;
  std::string async_error;
  auto note_async = [&](const std::string& e) {
    std::lock_guard lock(async_mutex);
    if (async_error.empty()) async_error = e;
  };
  std::atomic<bool> first_processed{false};
  // consumers[i]: plan stages fed by plan stage i
  std::vector<std::vector<size_t>> consumers(plan.stages.size());
  for (size_t i = 0; i < plan.stages.size(); ++i)
    if (plan.stages[i].input >= 0) consumers[static_cast<size_t>(plan.stages[i].input)].push_back(i);

  std::string first_error;
  auto note_error = [&](const std::string& e) {
    if (first_error.empty() && !e.empty()) first_error = e;
  };

  // Every non-source stage consumes exactly one stage's batches; plan order puts producers first.
  // Start and finish walk that chain on this thread: each stage's own events, then what it makes
  // of its producer's, are handed to its consumers before they see anything else.
  constexpr uint64_t kStartBatch = 1;
  constexpr uint64_t kFirstSourceBatch = kStartBatch + 1;
  std::vector<std::vector<qf_event>> pending(plan.stages.size());
  auto pass_on = [&](size_t producer, uint64_t number) {
    Batch b;
    b.number = number;
    b.events = std::move(pending[producer]);
    for (size_t c : consumers[producer]) {
      Stage* stage = stage_of(c);
      if (!b.events.empty()) {
        Batch out;
        stage->process(b, out);
        out.append_in_cycle_order(pending[c]);
      }
      note_error(stage->error());
    }
  };
  bool started_ok = true;
  for (auto& g : groups) started_ok = g->start(resuming) && started_ok, note_error(g->error());
  for (size_t i = plan.stages.size(); i-- > 0 && started_ok;)
    if (plan.stages[i].kind != StagePlan::Kind::sources)
      started_ok = stage_of(i)->start(pending[i], resuming) && started_ok, note_error(stage_of(i)->error());
  for (size_t i = 0; i < plan.stages.size() && started_ok; ++i)
    if (plan.stages[i].kind != StagePlan::Kind::sources) pass_on(i, kStartBatch);
  for (auto& p : pending) p.clear();

  std::atomic<bool> cancel{!started_ok || !first_error.empty()};
  BatchPool pool(graph.batch_size);

  // Paper and live mode: the kill switch, per-node timing, and the control/dashboard server.
  RunControl control;
  std::unique_ptr<RunMonitor> monitor;
  std::shared_ptr<spdlog::sinks::sink> monitor_sink;
  const bool live = graph.mode != QF_MODE_BACKTEST;
  if (live && options.monitor && !cancel) {
    std::vector<NodeRuntime*> raw;
    for (const auto& n : nodes) raw.push_back(n.get());
    monitor = std::make_unique<RunMonitor>(graph, raw, control, services.symbols, result.run_id, *options.monitor);
    try {
      monitor->start();
    } catch (const std::exception& e) {
      note_error(std::string("the control server cannot start: ") + e.what() +
                 " (choose another port with --control-port, or --no-control)");
      cancel = true;
      monitor.reset();
    }
    if (monitor) {
      spdlog::info("dashboard: {}", monitor->url());
      if (options.on_monitor_url) options.on_monitor_url(monitor->url());
      monitor_sink = monitor->log_sink();
      spdlog::default_logger()->sinks().push_back(monitor_sink);
      for (const auto& n : nodes)
        if (n->logger) n->logger->sinks().push_back(monitor_sink);
    }
  }
  if (live)
    for (auto& st : stages)
      st->attach_control(&control, monitor ? Stage::Monitor([m = monitor.get()](const qf_event& e, uint32_t node) { m->observe(e, node); })
                                           : Stage::Monitor());

  // Live reload in paper and live mode: a node is swapped by the stage that runs it.
  std::unique_ptr<ReloadManager> reloads;
  if (options.reload && graph.mode != QF_MODE_BACKTEST && !cancel) {
    std::vector<Stage*> stage_of_node(nodes.size(), nullptr);
    for (size_t i = 0; i < plan.stages.size(); ++i)
      if (plan.stages[i].kind != StagePlan::Kind::sources)
        for (uint32_t n : plan.stages[i].nodes) stage_of_node[n] = stage_of(i);
    std::vector<NodeRuntime*> raw;
    for (const auto& n : nodes) raw.push_back(n.get());
    reloads = std::make_unique<ReloadManager>(graph, raw, [stage_of_node](uint32_t i) { return stage_of_node[i]; },
                                              options.load_graph);
    if (monitor) reloads->on_event = [m = monitor.get()](const ReloadEvent& e) { m->on_reload(e); };
    reloads->set_loaded(std::move(loaded_files));
    try {
      reloads->start();
      if (monitor) monitor->set_reloads(reloads.get());
      if (options.on_reload_manager) options.on_reload_manager(reloads.get());
    } catch (const std::exception& e) {
      spdlog::warn("{}; scripts will not be reloaded while the pipeline runs", e.what());
      reloads.reset();
    }
  }
  {
    std::unique_ptr<oneapi::tbb::global_control> limit;
    if (options.threads > 0)
      limit = std::make_unique<oneapi::tbb::global_control>(oneapi::tbb::global_control::max_allowed_parallelism,
                                                            static_cast<size_t>(options.threads));
    ProgressLine progress(groups, options.progress);
    // Paper and live mode run the graph in an arena of their own, one thread unless told
    // otherwise (see LiveFeeder); the graph binds to the arena it is built in.
    std::optional<oneapi::tbb::task_arena> live_arena;
    if (live) live_arena.emplace(options.threads > 0 ? options.threads : 1);
    std::optional<flow::graph> graph_holder;
    if (live_arena)
      live_arena->execute([&] { graph_holder.emplace(); });
    else
      graph_holder.emplace();
    flow::graph& fg = *graph_holder;
    // TBB's input_node keeps a copy of the last item it produced until it produces the next. A
    // ticket in that copy would keep its batch counted as in flight, stalling a limit of one,
    // so tickets are attached after the limiter, to a batch of their own.
    using SourceBatch = std::shared_ptr<Batch>;
    std::vector<std::unique_ptr<flow::input_node<SourceBatch>>> inputs;
    std::vector<std::unique_ptr<flow::limiter_node<SourceBatch>>> limiters;
    std::vector<std::unique_ptr<flow::function_node<SourceBatch, BatchPtr>>> ticketers;
    std::vector<std::unique_ptr<flow::function_node<BatchPtr, BatchPtr>>> workers;
    // A serial function_node forwards its output after releasing its slot, so consecutive
    // outputs can overtake each other; a sequencer in front of every consumer restores the order.
    std::vector<std::unique_ptr<flow::sequencer_node<BatchPtr>>> sequencers;
    std::vector<flow::sender<BatchPtr>*> output_of(plan.stages.size(), nullptr);
    std::vector<std::unique_ptr<flow::broadcast_node<BatchPtr>>> live_outputs;
    std::vector<std::unique_ptr<LiveFeeder>> feeders;
    for (size_t i = 0; i < plan.stages.size(); ++i) {
      if (plan.stages[i].kind == StagePlan::Kind::sources) {
        const size_t group_index = static_cast<size_t>(object_of[i]);
        SourceGroup* group = groups[group_index].get();
        auto last_checkpoint = std::make_shared<uint64_t>(resuming ? (**checkpoint).id : 0);
        auto limiter = std::make_unique<flow::limiter_node<SourceBatch>>(fg, graph.max_batches_in_flight);
        flow::limiter_node<SourceBatch>* lim = limiter.get();
        auto batch_no = std::make_shared<uint64_t>(kStartBatch);
        // The next batch of the group, or none when it is finished or the run is cancelled.
        auto fill = [&, group, group_index, batch_no, last_checkpoint]() -> SourceBatch {
          if (cancel.load(std::memory_order_relaxed) || (options.interrupted && options.interrupted->load())) return {};
          auto b = pool.make();
          b->number = ++*batch_no;
          if (!group->next(b->events)) {
            if (group->failed()) cancel = true;
            return {};
          }
          if (monitor) {
            for (const qf_event& e : b->events)
              if (e.kind == QF_KIND_BAR) monitor->observe(e, 0);
            uint64_t events_read = 0;
            for (const auto& g : groups) events_read += g->events();
            monitor->set_events(events_read);
            monitor->set_ready(true);
          }
          if (coordinator) {
            try {
              uint64_t events_read = 0;
              for (const auto& g : groups) events_read += g->events();
              if (const uint64_t id = coordinator->poll(*last_checkpoint, events_read)) {
                b->checkpoint = id;
                coordinator->contribute(id, group_index, group->checkpoint());
              }
            } catch (const std::exception& e) {
              note_async(e.what());
              cancel = true;
            }
          }
          return b;
        };
        if (live) {
          // A live group waits for its feed on a thread of its own: a task blocked inside the
          // graph would keep TBB's other workers spinning for work, taking the cores the feed's
          // network threads need.
          auto feed = std::make_unique<flow::broadcast_node<BatchPtr>>(fg);
          feeders.push_back(std::make_unique<LiveFeeder>(*live_arena, fg, *feed, std::move(fill)));
          output_of[i] = feed.get();
          live_outputs.push_back(std::move(feed));
          continue;
        }
        auto input = std::make_unique<flow::input_node<SourceBatch>>(fg, [fill](oneapi::tbb::flow_control& fc) -> SourceBatch {
          SourceBatch b = fill();
          if (!b) fc.stop();
          return b;
        });
        auto ticketer = std::make_unique<flow::function_node<SourceBatch, BatchPtr>>(fg, flow::serial, [lim, &pool](const SourceBatch& in) {
          auto out = pool.make();
          out->number = in->number;
          out->checkpoint = in->checkpoint;
          out->events.swap(in->events);  // both buffers keep their capacity and go back to the pool
          out->ticket = std::make_shared<FlowTicket>([lim] { lim->decrementer().try_put(flow::continue_msg()); });
          return BatchPtr(std::move(out));
        });
        flow::make_edge(*input, *limiter);
        flow::make_edge(*limiter, *ticketer);
        output_of[i] = ticketer.get();
        inputs.push_back(std::move(input));
        limiters.push_back(std::move(limiter));
        ticketers.push_back(std::move(ticketer));
        continue;
      }
      Stage* stage = stage_of(i);
      const size_t contributor = groups.size() + static_cast<size_t>(object_of[i]);
      const bool feeds_others = !consumers[i].empty();
      auto worker = std::make_unique<flow::function_node<BatchPtr, BatchPtr>>(fg, flow::serial, [&, stage, feeds_others, contributor](const BatchPtr& in) {
        stage->run_posted();  // a reload's swap, between two batches
        auto out = pool.make();
        out->number = in->number;
        out->checkpoint = in->checkpoint;
        out->ticket = in->ticket;
        const bool empty = in->empty();
        if (feeds_others || !empty) {
          if (!stage->process(*in, *out)) cancel = true;
        }
        if (!empty && !first_processed.exchange(true)) result.first_event_seconds = std::chrono::duration<double>(Clock::now() - started).count();
        if (stage->failed()) return BatchPtr(std::move(out));
        try {
          if (in->checkpoint && coordinator) coordinator->contribute(in->checkpoint, contributor, stage->checkpoint());
        } catch (const std::exception& e) {
          note_async(e.what());
          cancel = true;
        }
        return BatchPtr(std::move(out));
      });
      auto* order = sequencers.emplace_back(std::make_unique<flow::sequencer_node<BatchPtr>>(
          fg, [](const BatchPtr& b) { return static_cast<size_t>(b->number - kFirstSourceBatch); })).get();
      flow::make_edge(*output_of[static_cast<size_t>(plan.stages[i].input)], *order);
      flow::make_edge(*order, *worker);
      output_of[i] = worker.get();
      workers.push_back(std::move(worker));
    }
    for (auto& in : inputs) in->activate();
    for (auto& f : feeders) f->start([&](const std::string& e) {
      note_async(e);
      cancel = true;
    });
    for (auto& f : feeders) f->join();
    if (live_arena)
      live_arena->execute([&] { fg.wait_for_all(); });
    else
      fg.wait_for_all();
    progress.stop();
  }
  if (monitor) monitor->set_reloads(nullptr);
  if (reloads) {
    if (options.on_reload_manager) options.on_reload_manager(nullptr);
    reloads->stop();
    for (const ReloadEvent& e : reloads->events()) {
      std::string text = "node " + e.node + ": ";
      if (e.applied)
        text += (e.old_version.empty() ? std::string("-") : e.old_version) + " -> " +
                (e.new_version.empty() ? std::string("new parameters") : e.new_version) + " applied";
      else
        text += "refused: " + e.error;
      if (!e.file.empty()) text += " (" + e.file + ")";
      if (events_writer) runtime_events.push_back({store::RuntimeEvent::reload, e.applied ? QF_LOG_INFO : QF_LOG_ERROR, text, e.time_ns});
    }
  }
  note_error(async_error);
  if (coordinator) {
    try {
      coordinator->drain();
    } catch (const std::exception& e) {
      note_error(e.what());
    }
  }

  // Interrupted: the pipeline has drained, so every node stands at the same point. Checkpoint
  // there before the nodes stop, and a resume continues exactly from it.
  if (coordinator && first_error.empty() && options.interrupted && options.interrupted->load()) {
    bool all_ok = true;
    for (auto& g : groups) all_ok = all_ok && !g->failed();
    for (auto& st : stages) all_ok = all_ok && !st->failed();
    if (all_ok) {
      try {
        std::vector<store::Contribution> parts;
        for (auto& g : groups) parts.push_back(g->checkpoint());
        for (auto& st : stages) parts.push_back(st->checkpoint());
        coordinator->write_now(std::move(parts));
        spdlog::info("checkpoint written: resume with --resume");
      } catch (const std::exception& e) {
        note_error(e.what());
      }
    }
  }

  // Finish along the chain: sources, then each stage in plan order, which first takes what its
  // producer made of its final events.
  for (auto& g : groups) {
    g->finish();
    note_error(g->error());
    result.events += g->events();
  }
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    if (plan.stages[i].kind == StagePlan::Kind::sources) continue;
    stage_of(i)->finish(pending[i]);
    note_error(stage_of(i)->error());
    pass_on(i, UINT64_MAX);
  }

  if (!first_error.empty()) {
    record_event(store::RuntimeEvent::error, QF_LOG_ERROR, first_error);
  } else if (options.interrupted && options.interrupted->load()) {
    record_event(store::RuntimeEvent::interrupted, QF_LOG_WARN, "interrupted after " + std::to_string(result.events) + " events");
  }
  write_runtime_events();
  std::map<std::string, uint64_t> fact_counts;
  for (auto& w : writers) {
    try {
      w->flush_all();
    } catch (const std::exception& e) {
      note_error(e.what());
    }
    for (size_t f = 1; f < static_cast<size_t>(store::Family::count_); ++f)
      if (w->counts()[f]) fact_counts[store::family_name(static_cast<store::Family>(f))] += w->counts()[f];
  }
  if (fact_sink) {
    try {
      fact_sink->wait(fact_sink->last_ticket());
      ledger->store().flush_facts();  // facts skip the log: on disk before the run is closed
    } catch (const std::exception& e) {
      note_error(e.what());
    }
  }

  if (options.stats) {
    for (const auto& n : nodes)
      spdlog::info("{:<20} {:<24} in {:>12} out {:>12}", n->def->id, n->type->name, n->events_in, n->events_out);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!first_error.empty()) {
    result.status = RunResult::Status::failed;
    result.error = first_error;
  } else if (options.interrupted && options.interrupted->load()) {
    result.status = RunResult::Status::interrupted;
  }
  if (ledger) {
    const char* status = result.status == RunResult::Status::ok ? "completed"
                         : result.status == RunResult::Status::interrupted ? "interrupted" : "failed";
    const std::string e = ledger->close(status, result.error, result.events, fact_counts);
    if (!e.empty() && result.status != RunResult::Status::failed) {
      result.status = RunResult::Status::failed;
      result.error = e;
    }
  }
  if (monitor) {
    monitor->set_ready(false);
    monitor->stop();  // publishes the final state, closes the dashboard's connections
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), monitor_sink), sinks.end());
    for (const auto& n : nodes)
      if (n->logger) {
        auto& ns = n->logger->sinks();
        ns.erase(std::remove(ns.begin(), ns.end(), monitor_sink), ns.end());
      }
    monitor.reset();
  }
  // Nodes are destroyed here, before the libraries their types keep loaded.
  nodes.clear();
  if (simulator) {
    simulator->stop();
    if (options.on_simulator_send_times) options.on_simulator_send_times(simulator->send_times());
  }
  return result;
}

}  // namespace qflow
