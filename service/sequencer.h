#pragma once
// Group commit: one writer thread turns submitted work into appends.
//
// Work is a *producer*, run on the writer thread against the state the
// committed events have built, returning the drafts to append. Producers
// queued together share one synced append (one WAL sync for the whole group),
// which is what lets many concurrent logins cost one fsync. An *exclusive*
// producer (an admin change, whose decision may depend on the previous
// change) runs alone: what is pending is committed before it runs, and it is
// committed right after, so every decision sees all earlier committed effects.
//
// After a successful append the `committed` hook runs (projections apply the
// events), then `settled(true)`, then each producer's completion, all on the
// writer thread: completions must only hand the result off (e.g. post to an
// executor). After a failed append, `settled(false)` runs before the
// completions hear of the failure.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "events/event_log.h"

namespace latchkey::service {

using events::Draft;
using events::Event;
using events::EventLog;

class Sequencer {
 public:
  enum class Isolation { shared, exclusive };
  // Returns the drafts to append (possibly none), or a rejection. Runs on the writer thread.
  using Producer = std::function<Result<std::vector<Draft>>(Micros now)>;
  // Receives the committed events of this producer (empty if it produced
  // none), the producer's rejection, or Errc::unavailable if the append failed.
  using Completion = std::function<void(Result<std::vector<Event>>)>;
  struct Hooks {
    // The one channel that announces committed events: after every successful
    // append, and after a recovery that found events the writer had not
    // applied (a write whose sync failed after its bytes reached the disk).
    std::function<void(std::span<const Event>)> committed;
    // After each group: true once the events of everything produced since
    // the last call are durable (or there were none), false when their append
    // failed and none of them was kept. What producers changed on the writer
    // thread beside their drafts (e.g. login counts) is kept or undone here.
    std::function<void(bool durable)> settled;
  };
  // Observes each append attempt: events in the group and its latency in microseconds.
  using BatchObserver = std::function<void(std::size_t events, Micros latency, bool ok)>;

  struct Options {
    std::size_t max_batch_events = 4096;
  };

  Sequencer(EventLog& log, const Clock& clock, Hooks hooks, Options options);
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;
  ~Sequencer();  // stop()s

  // Thread-safe. After stop(), completes at once with Errc::unavailable.
  void submit(Isolation isolation, Producer producer, Completion done);

  // Blocking helper for tools and tests. Not for I/O threads.
  [[nodiscard]] Result<std::vector<Event>> submit_and_wait(Isolation isolation, Producer producer);

  void set_batch_observer(BatchObserver observer);

  // Finishes everything already submitted, then joins the writer thread.
  void stop();

 private:
  struct Item {
    Isolation isolation;
    Producer producer;
    Completion done;
  };
  struct Pending {
    Completion done;
    std::size_t first = 0;
    std::size_t count = 0;
  };

  void run();
  void commit(std::vector<Draft>& drafts, std::vector<Pending>& pending, Micros now);
  void settle(bool durable);

  EventLog& log_;
  const Clock& clock_;
  Hooks hooks_;
  Options options_;
  BatchObserver observer_;
  bool needs_recovery_ = false;  // writer thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;   // GUARDED_BY(mu_)
  std::thread writer_;
};

}  // namespace latchkey::service
