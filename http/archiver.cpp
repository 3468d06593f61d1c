#include "http/archiver.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <future>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "replay/rebuild.h"

namespace latchkey::http {

namespace {

// Settings are bounded (36,500 days, config and platform API); anything
// past a million days, or not a number, counts as "never" rather than
// overflowing.
Micros days(double d) {
  if (!(d < 1e6)) return std::numeric_limits<Micros>::max() / 2;
  if (d <= 0) return 0;
  return static_cast<Micros>(std::llround(d * kMicrosPerDay));
}

bool is_cut(events::EventType t) {
  return t == events::EventType::log_archived || t == events::EventType::log_history_deleted;
}

}  // namespace

Archiver::Archiver(ProjectDirectory& projects, const Config& config, const Clock& clock,
                   JsonLog& log)
    : projects_(projects), config_(config), clock_(clock), log_(log) {}

Archiver::~Archiver() { stop(); }

void Archiver::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Archiver::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Archiver::run() {
  // The first pass one interval after the start: a start is busy enough.
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::seconds(config_.archive_check_seconds),
                       [this] { return stopping_; })) {
    lock.unlock();
    pass();
    lock.lock();
  }
}

void Archiver::pass() {
  if (!projects_.writes()) return;  // a cluster's other node: the writer does it
  projects_.finish_deletions();
  const auto started = std::chrono::steady_clock::now();
  const Micros now = clock_.now();
  std::vector<ProjectRuntime*> chains{&projects_.platform()};
  auto open = projects_.open_runtimes();  // held until the pass ends
  for (const auto& rt : open) chains.push_back(rt.get());
  // Projects that no request has opened since the start: their events age
  // too, and their retention must hold. One look at each one's log; it is
  // opened only when it has something due.
  for (const auto& info : projects_.registry().all()) {
    if (info.status == projections::ProjectStatus::deleted) continue;
    if (projects_.open_runtime(info.id)) continue;
    const Life life = life_of(info.id);
    if (life.archive_after_days <= 0) continue;
    events::EventLog& log = projects_.log_of(info.id);
    auto p = plan(log, now, life);
    auto r = retention_through(log, now, life);
    if (!(p && p->go) && !(r && *r > 0)) continue;
    if (auto rt = projects_.runtime(info.id)) {
      open.push_back(rt);
      chains.push_back(rt.get());
    }
  }
  std::uint64_t due = 0, segments = 0, bytes = 0;
  for (ProjectRuntime* rt : chains) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    const Life life = life_of(rt->id);
    if (life.archive_after_days <= 0) continue;
    auto left = archive(*rt, now, life);
    Status st = left ? retain(*rt, now, life) : Status{left.error()};
    if (!st) {
      ++failures_;
      log_.error("archiving failed", {{"project", rt->id}, {"detail", st.error().detail}});
    }
    if (left) due += *left;
    const events::History h = rt->log->history();
    segments += h.segments;
    bytes += h.segment_bytes;
  }
  due_ = due;
  segments_ = segments;
  segment_bytes_ = bytes;
  ++passes_;
  last_pass_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

Archiver::Life Archiver::life_of(std::string_view project) const {
  Life life{config_.archive_after_days, config_.retention_days};
  if (const auto p = projects_.registry().find(project)) {
    if (p->archive_after_seconds != 0) life.archive_after_days = p->archive_after_seconds / 86400.0;
    if (p->retention_seconds != 0) life.retention_days = p->retention_seconds / 86400.0;
  }
  return life;
}

Result<Archiver::Plan> Archiver::plan(events::EventLog& log, Micros now, const Life& life) const {
  auto through = log.seq_at_time(now - days(life.archive_after_days));
  if (!through) return through.error();
  events::History h = log.history();
  // Segments that a stopped pass wrote past the cut: they are finished
  // first (a new cut event if theirs is missing, then the cut).
  const bool pending = h.pending_through > h.archived_through;
  if (pending) *through = std::max(*through, h.pending_through);
  // The newest event stays live: the cut event follows it.
  const events::Seq head = log.head().seq;
  if (head < 2) return Plan{};
  if (*through >= head) *through = head - 1;
  if (*through <= h.archived_through) return Plan{};
  const std::uint64_t due = *through - h.archived_through;
  if (!pending && due <= 2) {
    // Nothing but the archiver's own cut events since the last cut (a quiet
    // chain): archiving them would append another, one tiny segment per
    // pass for ever.
    bool only_cuts = true;
    for (events::Seq s = h.archived_through + 1; s <= *through && only_cuts; ++s) {
      auto ev = log.get(s);
      if (!ev) return ev.error();
      only_cuts = is_cut(ev->type);
    }
    if (only_cuts) return Plan{};
  }
  if (!pending && due < static_cast<std::uint64_t>(config_.archive_min_events)) {
    auto oldest = log.get(h.archived_through + 1);
    if (!oldest) return oldest.error();
    if (oldest->time > now - 2 * days(life.archive_after_days)) return Plan{*through, due, false};
  }
  return Plan{*through, due, true};
}

Result<std::uint64_t> Archiver::archive(ProjectRuntime& rt, Micros now, const Life& life) {
  events::EventLog& log = *rt.log;
  auto planned = plan(log, now, life);
  if (!planned) return planned.error();
  if (!planned->go) {
    // No new cut: what earlier cuts left in the live store's table files
    // (a memtable flushed after its cut) is shed once it adds up.
    if (auto st = log.cut_archived(); !st) return st.error();
    return planned->due;
  }
  const events::Seq through = planned->through;
  events::History h = log.history();
  const auto started = std::chrono::steady_clock::now();
  const events::Seq before = h.pending_through;
  run_done_ = 0;
  run_total_ = through - before;
  // The state at the cut (so the views rebuild without reading the archive)
  // and the segments (reading, decoding, compressing: CPU) are built by a
  // thread of the lowest priority, like RocksDB's flushes and compactions,
  // so they take what the logins leave. The snapshot is stored from this
  // thread: one that writes to the log may lead RocksDB's write group,
  // logins' appends included, and must not do it at that priority.
  Result<replay::Snapshotter::Built> built = replay::Snapshotter::Built{};
  Result<events::Seq> written = events::Seq{0};
  auto snapshotted = started;
  std::thread segments([&] {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
    built = rt.snapshotter->build_at(through);
    snapshotted = std::chrono::steady_clock::now();
    if (!built) return;
    written = log.write_archive(through, [this](const events::ArchiveProgress& p) {
      run_done_ = p.done;
      run_total_ = p.total;
    });
  });
  segments.join();
  run_total_ = 0;
  run_done_ = 0;
  if (!built) return built.error();
  if (!written) return written.error();
  auto snapshot_hash = rt.snapshotter->store_built(std::move(*built));
  if (!snapshot_hash) return snapshot_hash.error();
  h = log.history();
  if (auto st = append_cut(rt, events::EventType::log_archived, through, *snapshot_hash,
                           through - h.archived_through, h.segment_bytes);
      !st) {
    return st.error();
  }
  const events::Seq moved = through - h.archived_through;
  const auto written_at = std::chrono::steady_clock::now();
  if (auto st = log.cut_archived(); !st) return st.error();
  const auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  archived_ += moved;
  log_.info("events archived",
            {{"project", rt.id},
             {"through", through},
             {"events", moved},
             {"segments", log.history().segments},
             {"seconds", seconds(started, std::chrono::steady_clock::now())},
             {"snapshot_seconds", seconds(started, snapshotted)},
             {"write_seconds", seconds(snapshotted, written_at)},
             {"cut_seconds", seconds(written_at, std::chrono::steady_clock::now())}});
  return 0;
}

Result<events::Seq> Archiver::retention_through(events::EventLog& log, Micros now,
                                                const Life& life) const {
  // Only archived events are deleted: a retention shorter than the archiving
  // age (a project's own setting beside the server's) deletes nothing.
  if (life.retention_days <= 0 || life.retention_days < life.archive_after_days) return 0;
  auto older = log.seq_at_time(now - days(life.retention_days));
  if (!older) return older.error();
  const events::Seq through = log.archive_boundary(*older);
  return through > log.history().deleted_through ? through : 0;
}

Status Archiver::retain(ProjectRuntime& rt, Micros now, const Life& life) {
  events::EventLog& log = *rt.log;
  auto due = retention_through(log, now, life);
  if (!due) return due.error();
  if (*due == 0) return {};
  const events::Seq through = *due;
  const events::History h = log.history();
  if (auto st = append_cut(rt, events::EventType::log_history_deleted, through, Digest{},
                           through - h.deleted_through, 0);
      !st) {
    return st;
  }
  auto deleted = log.delete_archived(through);
  if (!deleted) return deleted.error();
  deleted_ += *deleted;
  log_.info("archived history deleted",
            {{"project", rt.id}, {"through", through}, {"events", *deleted}});
  return {};
}

Status Archiver::append_cut(ProjectRuntime& rt, events::EventType type, events::Seq through,
                            const Digest& snapshot_hash, std::uint64_t count, std::uint64_t bytes) {
  auto at = rt.log->get(through);
  if (!at) return at.error();
  const Digest through_hash = at->hash;
  // A cut event already in the log for this very cut (a pass stopped after
  // appending it) is not appended twice.
  bool present = false;
  (void)rt.log->scan_index(events::Index::type, events::type_name(type), 0,
                           events::Direction::backward, [&](const events::IndexEntry& e) {
                             auto ev = rt.log->get(e.seq);
                             if (ev) {
                               const auto* c = std::get_if<events::LogCut>(&ev->data);
                               present = c && c->through == through;
                             }
                             return false;
                           });
  if (present) return {};
  std::promise<Status> done;
  auto result = done.get_future();
  const ProjectRuntime* r = &rt;
  rt.commands->submit(
      service::Sequencer::Isolation::shared,
      [r, type, through, through_hash, snapshot_hash, count,
       bytes](Micros) -> Result<std::vector<events::Draft>> {
        const auto* active = r->views->writer_view().signing.active();
        if (!active) return make_error(Errc::internal, "no signing key");
        const auto key = r->secrets->signing_key(active->kid);
        if (!key) return make_error(Errc::internal, "the active signing key is not on disk");
        events::LogCut cut;
        cut.through = through;
        cut.through_hash = through_hash;
        cut.snapshot_hash = snapshot_hash;
        cut.events = count;
        cut.bytes = bytes;
        cut.kid = key->kid();
        cut.alg = alg_name(key->alg());
        cut.signature = base64url_encode(
            key->sign(events::cut_message(type, through, through_hash, snapshot_hash)));
        return std::vector<events::Draft>{events::Draft{type, std::move(cut), {}}};
      },
      [&done](Result<std::vector<events::Event>> r) {
        if (r) {
          done.set_value(Status{});
        } else {
          done.set_value(r.error());
        }
      });
  return result.get();
}

void Archiver::add_metrics(Metrics& metrics) {
  metrics.add_collector([this](std::vector<Metrics::Sample>& out) {
    using Type = Metrics::Sample::Type;
    const auto add = [&](const char* name, const char* help, double v, Type type = Type::gauge) {
      out.push_back(Metrics::Sample{name, help, type, v});
    };
    add("latchkey_archive_passes_total", "Passes of the archiver over the open chains.",
        static_cast<double>(passes_.load()), Type::counter);
    add("latchkey_archive_failures_total", "Archiving steps that failed (retried next pass).",
        static_cast<double>(failures_.load()), Type::counter);
    add("latchkey_archive_events_total", "Events moved from the live store to archive segments.",
        static_cast<double>(archived_.load()), Type::counter);
    add("latchkey_archive_deleted_events_total",
        "Archived events deleted by retention (data.retention_days).",
        static_cast<double>(deleted_.load()), Type::counter);
    add("latchkey_archive_due_events",
        "Events older than data.archive_after_days still in the live store, at the last pass.",
        static_cast<double>(due_.load()));
    add("latchkey_archive_segments", "Archive segments kept, at the last pass.",
        static_cast<double>(segments_.load()));
    add("latchkey_archive_segment_bytes", "Bytes of the archive segments, at the last pass.",
        static_cast<double>(segment_bytes_.load()));
    add("latchkey_archive_run_done_events",
        "The archiving in progress: events written to segments so far (0: none running).",
        static_cast<double>(run_done_.load()));
    add("latchkey_archive_run_total_events",
        "The archiving in progress: events it writes (0: none running).",
        static_cast<double>(run_total_.load()));
    add("latchkey_archive_last_pass_seconds", "How long the last pass took.",
        last_pass_seconds_.load());
  });
}

}  // namespace latchkey::http
