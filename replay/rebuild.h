#pragma once
// Rebuilding views from the log: as of any sequence number or instant, from
// the nearest snapshot at or before that point plus the events after it,
// with the very same apply() the live server uses.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "events/event_log.h"
#include "projections/views.h"

namespace latchkey::replay {

using events::Seq;

struct RebuildStats {
  Seq snapshot_seq = 0;       // 0: rebuilt from the first event
  std::uint64_t applied = 0;  // events applied after the snapshot
};

// The views as of `at` (every event with seq <= at applied; `at` past the head
// means the head). With use_snapshots false, folds the whole log from seq 1.
Result<projections::Views> rebuild(const events::EventLog& log, Seq at, bool use_snapshots = true,
                                   RebuildStats* stats = nullptr);

// The views as of instant `t`: every event with time <= t.
Result<projections::Views> rebuild_at_time(const events::EventLog& log, Micros t,
                                           RebuildStats* stats = nullptr);

// After `principal_id`'s data key is destroyed: every snapshot stored in
// `log` that still shows its personal data is rewritten to show "[erased]",
// and the old bytes are compacted away. Not concurrently with a
// Snapshotter of the same log (use its erase_principal then).
Status erase_from_snapshots(events::EventLog& log, const std::string& principal_id);

// Keeps snapshots of the views in the log, every `every` events, on its own
// thread (started when the first snapshot is due): it rebuilds from the
// previous snapshot plus the tail, so it never blocks the writer or the
// readers of the live views.
class Snapshotter {
 public:
  using OnError = std::function<void(const Error&)>;
  Snapshotter(events::EventLog& log, std::uint64_t every, OnError on_error);
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;
  ~Snapshotter();

  // Tells the snapshotter the log's head moved. Thread-safe, cheap.
  void notify(Seq head);
  // Takes a snapshot of the current head now (blocking). For tests and tools.
  Status snapshot_now();
  // Stores a snapshot of the views as of `at` (blocking), whatever was taken
  // before: the state at an archive cut. Returns the SHA-256 of its bytes.
  Result<Digest> snapshot_at(Seq at);
  // The same in two steps, so that the first (reading and folding events:
  // CPU, no write) can run on a thread of low priority and the second (one
  // write) on one that may lead the log's write group.
  struct Built {
    Seq seq = 0;
    std::string bytes;
    std::uint64_t erasures = 0;  // erase_principal calls before it was built
  };
  Result<Built> build_at(Seq at);
  // Stores what build_at built; if a principal was erased since, builds it
  // again first (its bytes may show the erased data).
  Result<Digest> store_built(Built built);
  // After `principal_id`'s data key is destroyed: every stored snapshot that
  // still shows its personal data is rewritten to show "[erased]", and the
  // old bytes are compacted away. Blocks other snapshots meanwhile.
  Status erase_principal(const std::string& principal_id);
  void stop();

 private:
  void run();
  Status take(Seq head);

  events::EventLog& log_;
  std::uint64_t every_;
  OnError on_error_;
  std::atomic<Seq> last_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  Seq wanted_ = 0;                          // GUARDED_BY(mu_)
  bool stopping_ = false;                   // GUARDED_BY(mu_)
  std::mutex take_mu_;                      // one snapshot at a time
  std::atomic<std::uint64_t> erasures_{0};  // erase_principal calls, counted under take_mu_
  std::thread thread_;                      // GUARDED_BY(mu_) until stopping_
};

}  // namespace latchkey::replay
