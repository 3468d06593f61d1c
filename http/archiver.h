#pragma once
// The log's life in a running server (docs/data-lifecycle.md). Every
// data.archive_check_seconds, on its own thread, for the platform's chain
// and each open project, with the project's own archive_after_days and
// retention_days (platform API) or else the server's data.* settings:
//   1. events older than data.archive_after_days are written to archive
//      segments, after a snapshot of the views as of the last of them;
//   2. a signed log.archived event records the cut (its sequence, its hash,
//      the snapshot's hash);
//   3. the live store lets go of them (reads go to the segments from then on);
//   4. archived events older than data.retention_days: a signed
//      log.history_deleted event records where the chain resumes, then their
//      segments are deleted.
// Each step can be stopped by a crash and is finished by the next pass. A
// project that no request has opened since the start is opened by the pass
// that finds something of it due.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "http/config.h"
#include "http/json_log.h"
#include "http/metrics.h"
#include "http/projects.h"

namespace latchkey::http {

class Archiver {
 public:
  Archiver(ProjectDirectory& projects, const Config& config, const Clock& clock, JsonLog& log);
  Archiver(const Archiver&) = delete;
  Archiver& operator=(const Archiver&) = delete;
  ~Archiver();

  // Starts the thread.
  void start();
  // Stops it, waiting for a pass in progress to reach a step's end.
  void stop();
  // Adds the archiving figures to /metrics.
  void add_metrics(Metrics& metrics);

 private:
  // A chain's settings: the project's own (platform API), else the server's.
  struct Life {
    double archive_after_days = 0;
    double retention_days = 0;
  };
  Life life_of(std::string_view project) const;
  // What a chain has due for archiving: the cut it would make, the events
  // older than it still live, and whether to make it now (at least
  // data.archive_min_events of them, or the oldest twice as old as the
  // setting, or segments of a stopped pass to finish).
  struct Plan {
    events::Seq through = 0;
    std::uint64_t due = 0;
    bool go = false;
  };
  Result<Plan> plan(events::EventLog& log, Micros now, const Life& life) const;
  // The archived events retention deletes now: through this sequence (0: none).
  Result<events::Seq> retention_through(events::EventLog& log, Micros now, const Life& life) const;
  void run();
  void pass();
  // Archives what is due; returns how many events older than the cut stay
  // live (fewer than data.archive_min_events, not yet old enough to go on
  // their own).
  Result<std::uint64_t> archive(ProjectRuntime& rt, Micros now, const Life& life);
  Status retain(ProjectRuntime& rt, Micros now, const Life& life);
  // Appends a signed cut event through the project's writer; blocks.
  Status append_cut(ProjectRuntime& rt, events::EventType type, events::Seq through,
                    const Digest& snapshot_hash, std::uint64_t events, std::uint64_t bytes);

  ProjectDirectory& projects_;
  const Config& config_;
  const Clock& clock_;
  JsonLog& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;

  // For /metrics (sums over the chains).
  std::atomic<std::uint64_t> passes_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> archived_{0};  // events moved to segments since the start
  std::atomic<std::uint64_t> deleted_{0};   // events deleted by retention since the start
  std::atomic<std::uint64_t> due_{0};       // events older than the cut not yet archived, last pass
  std::atomic<std::uint64_t> segments_{0};  // segments kept, last pass
  std::atomic<std::uint64_t> segment_bytes_{0};
  std::atomic<std::uint64_t> run_done_{0};   // the archiving in progress: events written so far
  std::atomic<std::uint64_t> run_total_{0};  // and events it writes (0: none in progress)
  std::atomic<double> last_pass_seconds_{0};
};

}  // namespace latchkey::http
