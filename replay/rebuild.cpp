#include "replay/rebuild.h"

#include "base/clock.h"
#include "base/encoding.h"

namespace latchkey::replay {

Result<projections::Views> rebuild(const events::EventLog& log, Seq at, bool use_snapshots,
                                   RebuildStats* stats) {
  const Seq head = log.head().seq;
  if (at > head) at = head;
  projections::Views views;
  RebuildStats local;
  if (use_snapshots) {
    auto snap = log.find_snapshot(at);
    if (!snap) return snap.error();
    if (*snap) {
      auto restored = projections::restore((*snap)->bytes);
      if (restored) {  // a bad snapshot is skipped: the log is the truth
        views = std::move(*restored);
        local.snapshot_seq = (*snap)->seq;
      }
    }
  }
  // Where retention deleted the oldest history, only a snapshot taken since
  // can start a rebuild: folding from what is left would give a wrong state.
  if (const events::History h = log.history();
      h.deleted_through > 0 && views.seq < h.deleted_through) {
    return make_error(Errc::not_found, "the state at event " + std::to_string(at) +
                                           " cannot be rebuilt: the history through event " +
                                           std::to_string(h.deleted_through) + " (" +
                                           format_rfc3339(h.deleted_time) +
                                           ") was deleted by retention");
  }
  if (views.seq < at) {
    const Status st = log.scan_once(views.seq + 1, at, [&](const events::Event& e) {
      projections::apply(views, e);
      ++local.applied;
      return true;
    });
    if (!st) return st.error();
  }
  if (stats) *stats = local;
  return views;
}

Result<projections::Views> rebuild_at_time(const events::EventLog& log, Micros t,
                                           RebuildStats* stats) {
  auto seq = log.seq_at_time(t);
  if (!seq) return seq.error();
  return rebuild(log, *seq, true, stats);
}

Snapshotter::Snapshotter(events::EventLog& log, std::uint64_t every, OnError on_error)
    : log_(log), every_(every == 0 ? 1 : every), on_error_(std::move(on_error)) {
  // Unreadable snapshots only mean the first one comes sooner; say so.
  auto latest = log_.find_snapshot(UINT64_MAX);
  if (!latest && on_error_) on_error_(latest.error());
  if (latest && *latest) last_ = (*latest)->seq;
  // The thread starts with the first snapshot due: a server of many small
  // projects keeps no idle thread for each.
}

Snapshotter::~Snapshotter() { stop(); }

void Snapshotter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  // No thread starts once stopping_ is set (notify checks it under mu_).
  if (thread_.joinable()) thread_.join();
}

void Snapshotter::notify(Seq head) {
  if (head < last_.load() + every_) return;
  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  if (head > wanted_) {
    wanted_ = head;
    cv_.notify_one();
  }
}

Status Snapshotter::snapshot_now() { return take(log_.head().seq); }

Result<Digest> Snapshotter::snapshot_at(Seq at) {
  std::lock_guard lock(take_mu_);
  auto views = rebuild(log_, at, true);
  if (!views) return views.error();
  if (views->seq != at) return make_error(Errc::invalid_request, "no event " + std::to_string(at));
  std::string bytes = projections::snapshot(*views);
  const Digest hash = sha256(bytes);
  if (auto st = log_.put_snapshot(events::Snapshot{at, std::move(bytes)}); !st) return st.error();
  return hash;
}

Result<Snapshotter::Built> Snapshotter::build_at(Seq at) {
  Built built;
  built.erasures = erasures_.load();
  auto views = rebuild(log_, at, true);
  if (!views) return views.error();
  if (views->seq != at) return make_error(Errc::invalid_request, "no event " + std::to_string(at));
  built.seq = at;
  built.bytes = projections::snapshot(*views);
  return built;
}

Result<Digest> Snapshotter::store_built(Built built) {
  {
    std::lock_guard lock(take_mu_);
    // Under take_mu_: an erasure either rewrote the stored snapshots before
    // (counted: built again below) or rewrites this one after.
    if (built.erasures == erasures_.load()) {
      const Digest hash = sha256(built.bytes);
      if (auto st = log_.put_snapshot(events::Snapshot{built.seq, std::move(built.bytes)}); !st)
        return st.error();
      return hash;
    }
  }
  return snapshot_at(built.seq);
}

Status erase_from_snapshots(events::EventLog& log, const std::string& principal_id) {
  return log.rewrite_snapshots([&](Seq, std::string_view bytes) -> std::optional<std::string> {
    auto views = projections::restore(bytes);
    // One this build cannot read is of no use: replace it with nothing
    // personal rather than keep it.
    if (!views) return std::string();
    if (!projections::erase_personal_data(*views, principal_id)) return std::nullopt;
    return projections::snapshot(*views);
  });
}

Status Snapshotter::erase_principal(const std::string& principal_id) {
  // Under take_mu_: a snapshot being taken from views that still held the
  // data finishes first, and is then rewritten like the others.
  std::lock_guard lock(take_mu_);
  ++erasures_;
  return erase_from_snapshots(log_, principal_id);
}

Status Snapshotter::take(Seq head) {
  std::lock_guard lock(take_mu_);
  if (head <= last_.load()) return {};
  auto views = rebuild(log_, head, true);
  if (!views) return views.error();
  if (auto st = log_.put_snapshot(events::Snapshot{views->seq, projections::snapshot(*views)}); !st)
    return st;
  last_ = views->seq;
  return {};
}

void Snapshotter::run() {
  for (;;) {
    Seq target;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || wanted_ >= last_.load() + every_; });
      if (stopping_) return;
      target = wanted_;
    }
    if (auto st = take(target); !st && on_error_) {
      on_error_(st.error());
      std::unique_lock lock(mu_);
      // Wait for the next notification rather than spinning on a failing disk.
      wanted_ = 0;
    }
  }
}

}  // namespace latchkey::replay
