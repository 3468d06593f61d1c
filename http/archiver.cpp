#include "http/archiver.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <future>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "replay/rebuild.h"

namespace latchkey::http {

namespace {

Micros days(double d) { return static_cast<Micros>(std::llround(d * kMicrosPerDay)); }

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
  const auto started = std::chrono::steady_clock::now();
  const Micros now = clock_.now();
  std::vector<ProjectRuntime*> chains{&projects_.platform()};
  const auto open = projects_.open_runtimes();  // held until the pass ends
  for (const auto& rt : open) chains.push_back(rt.get());
  std::uint64_t due = 0, segments = 0, bytes = 0;
  for (ProjectRuntime* rt : chains) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    const Life life = life_of(*rt);
    if (life.archive_after_days <= 0) continue;
    Status st = archive(*rt, now, life);
    if (st) st = retain(*rt, now, life);
    if (!st) {
      ++failures_;
      log_.error("archiving failed", {{"project", rt->id}, {"detail", st.error().detail}});
    }
    const events::History h = rt->log->history();
    segments += h.segments;
    bytes += h.segment_bytes;
    auto cut = rt->log->seq_at_time(now - days(life.archive_after_days));
    if (cut && *cut > h.archived_through) due += *cut - h.archived_through;
  }
  due_ = due;
  segments_ = segments;
  segment_bytes_ = bytes;
  ++passes_;
  last_pass_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

Archiver::Life Archiver::life_of(const ProjectRuntime& rt) const {
  Life life{config_.archive_after_days, config_.retention_days};
  if (const auto p = projects_.registry().find(rt.id)) {
    if (p->archive_after_seconds != 0) life.archive_after_days = p->archive_after_seconds / 86400.0;
    if (p->retention_seconds != 0) life.retention_days = p->retention_seconds / 86400.0;
  }
  return life;
}

Status Archiver::archive(ProjectRuntime& rt, Micros now, const Life& life) {
  events::EventLog& log = *rt.log;
  auto through = log.seq_at_time(now - days(life.archive_after_days));
  if (!through) return through.error();
  events::History h = log.history();
  // Segments that a stopped pass wrote past the cut: they are finished
  // first (a new cut event if theirs is missing, then the cut).
  if (h.pending_through > h.archived_through) *through = std::max(*through, h.pending_through);
  // The newest event stays live: the cut event follows it.
  const events::Seq head = log.head().seq;
  if (head < 2) return {};
  if (*through >= head) *through = head - 1;
  if (*through <= h.archived_through) return {};
  if (h.pending_through <= h.archived_through &&
      *through - h.archived_through < static_cast<events::Seq>(config_.archive_min_events)) {
    auto oldest = log.get(h.archived_through + 1);
    if (!oldest) return oldest.error();
    if (oldest->time > now - 2 * days(life.archive_after_days)) return {};
  }
  const auto started = std::chrono::steady_clock::now();
  // The state at the cut, so the views rebuild without reading the archive.
  auto snapshot_hash = rt.snapshotter->snapshot_at(*through);
  if (!snapshot_hash) return snapshot_hash.error();
  const auto snapshotted = std::chrono::steady_clock::now();
  const events::Seq before = h.pending_through;
  run_done_ = 0;
  run_total_ = *through - before;
  // The segments (reading, decoding, compressing: CPU) are written by a
  // thread of the lowest priority, like RocksDB's flushes and compactions,
  // so they take what the logins leave. Only that thread: one that writes
  // to the log would lead RocksDB's write groups, logins' appends included,
  // at that priority.
  Result<events::Seq> written = events::Seq{0};
  std::thread segments([&] {
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
    written = log.write_archive(*through, [this](const events::ArchiveProgress& p) {
      run_done_ = p.done;
      run_total_ = p.total;
    });
  });
  segments.join();
  run_total_ = 0;
  run_done_ = 0;
  if (!written) return written.error();
  h = log.history();
  if (auto st = append_cut(rt, events::EventType::log_archived, *through, *snapshot_hash,
                           *through - h.archived_through, h.segment_bytes);
      !st) {
    return st;
  }
  const events::Seq moved = *through - h.archived_through;
  const auto written_at = std::chrono::steady_clock::now();
  if (auto st = log.cut_archived(); !st) return st;
  const auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  archived_ += moved;
  log_.info("events archived",
            {{"project", rt.id},
             {"through", *through},
             {"events", moved},
             {"segments", log.history().segments},
             {"seconds", seconds(started, std::chrono::steady_clock::now())},
             {"snapshot_seconds", seconds(started, snapshotted)},
             {"write_seconds", seconds(snapshotted, written_at)},
             {"cut_seconds", seconds(written_at, std::chrono::steady_clock::now())}});
  return {};
}

Status Archiver::retain(ProjectRuntime& rt, Micros now, const Life& life) {
  // Only archived events are deleted: a retention shorter than the archiving
  // age (a project's own setting beside the server's) deletes nothing.
  if (life.retention_days <= 0 || life.retention_days < life.archive_after_days) return {};
  events::EventLog& log = *rt.log;
  auto older = log.seq_at_time(now - days(life.retention_days));
  if (!older) return older.error();
  const events::Seq through = log.archive_boundary(*older);
  const events::History h = log.history();
  if (through <= h.deleted_through) return {};
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
