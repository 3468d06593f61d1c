#pragma once
// Group commit: one writer thread turns submitted work into appends.
//
// Work is a *producer*, run on the writer thread against the state the
// committed events have built, returning the drafts to append. Producers
// queued together share one synced append (one WAL sync for the whole group),
// which is what lets many concurrent logins cost one fsync. An *exclusive*
// producer (an admin change, whose decision may depend on the previous
// change) runs alone: what is pending is committed and applied before it
// runs, and it is committed and applied right after, so every decision sees
// all earlier committed effects.
//
// Pipelined: a second thread, the syncer, completes the groups sent to the
// store (writes them, or waits for a replicated log to take them) while the
// writer thread forms the next, and announces the one before (hooks,
// completions). A store may take several groups in flight
// (EventStore::max_in_flight; RocksDB takes one, the cluster's log several
// blocks). While it holds all it takes, what is submitted waits in the queue,
// and the writer sleeps until a group is done: then it runs every producer
// that arrived meanwhile, sends them as the next group, and only then
// announces the group that was done. A shared producer therefore sees what it
// would have seen had it joined the groups in flight: the views without
// their events, the writer's own state (e.g. login counts) with them.
// Nothing is announced before it is durable.
//
// After a successful append the `committed` hook runs (projections apply the
// events), then `settled(true)`, then each producer's completion, all on the
// writer thread: completions must only hand the result off (e.g. post to an
// executor). After a failed append, `settled(false)` runs before the
// completions hear of the failure, and the groups sent or formed meanwhile
// fail with it (their events would have followed ones that were not written).
//
// One Sequencer can serve the logs of many projects (one EventStore): each
// project is a *target* with its own log and hooks, and one group commit
// appends the drafts of every target in it as one unit, one sync for all.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
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
    // For the oldest sealed group not yet settled: true once its events are
    // durable (or it had none); false when its append failed, and then
    // nothing staged after it is kept either (every later group fails too). What producers changed
    // on the writer thread beside their drafts (e.g. login counts) is kept or undone here.
    std::function<void(bool durable)> settled;
    // When the producers of this target that ran since the last call become
    // one group, handed to the log: before any later producer of the target
    // runs. Each sealed group is settled once, in the same order.
    std::function<void()> sealed;
  };
  // Observes each append attempt: events in the group and its latency in microseconds.
  using BatchObserver = std::function<void(std::size_t events, Micros latency, bool ok)>;

  struct Options {
    std::size_t max_batch_events = 4096;
  };

  // One log: its hooks are the one target's, which submit() without a target uses.
  Sequencer(EventLog& log, const Clock& clock, Hooks hooks, Options options);
  // The logs of `store`: targets are added with add_target().
  Sequencer(events::EventStore& store, const Clock& clock, Options options);
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;
  ~Sequencer();  // stop()s

  struct Target;
  // Registers a log of the store and the hooks that hear of its commits.
  // Thread-safe.
  [[nodiscard]] std::shared_ptr<Target> add_target(EventLog& log, Hooks hooks);
  // Waits until nothing submitted for `target` is queued or running, then
  // refuses (unavailable) what is submitted for it later. Not on the writer thread.
  void remove_target(const std::shared_ptr<Target>& target);

  // Thread-safe. After stop(), completes at once with Errc::unavailable.
  void submit(const std::shared_ptr<Target>& target, Isolation isolation, Producer producer,
              Completion done);
  // For the one log of the first constructor.
  void submit(Isolation isolation, Producer producer, Completion done);

  // Blocking helpers for tools and tests. Not for I/O threads.
  [[nodiscard]] Result<std::vector<Event>> submit_and_wait(Isolation isolation, Producer producer);
  [[nodiscard]] Result<std::vector<Event>> submit_and_wait(const std::shared_ptr<Target>& target,
                                                           Isolation isolation, Producer producer);

  void set_batch_observer(BatchObserver observer);

  // Events that reached the store from elsewhere (the blocks a cluster node
  // applies from the replicated log), per log: announced to the targets of
  // their logs through `committed`, as a recovery's are.
  using Found = std::vector<std::pair<EventLog*, std::vector<Event>>>;
  struct Puller {
    // Runs on the writer thread, between groups, at most every `every`.
    std::function<Result<Found>()> pull;
    // After the events of a successful pull were announced (the views have
    // them), or after a failed pull, on the writer thread.
    std::function<void(const Status&)> pulled;
    std::chrono::milliseconds every{20};
  };
  // Set before the first submit (not thread-safe against the writer's loop otherwise).
  void set_puller(Puller puller);
  // Pulls as soon as the writer thread is free, without waiting for
  // `every` (a node that knows a newer block exists). Thread-safe.
  void pull_soon();

  // Finishes everything already submitted, then joins the writer thread.
  void stop();

 private:
  struct Item {
    std::shared_ptr<Target> target;
    Isolation isolation;
    Producer producer;
    Completion done;
  };
  struct Pending {
    Completion done;
    std::size_t first = 0;
    std::size_t count = 0;
  };
  // The drafts of one target in a group.
  struct Group {
    std::shared_ptr<Target> target;  // held until its completions and settle have run
    std::vector<Draft> drafts;
    std::vector<Pending> pending;
  };
  // Producers with a rejection or nothing to append: their completions run
  // right after their group is settled, so a completion never comes before
  // its group is settled, and remove_target() never returns before its last hook.
  struct Settled {
    std::shared_ptr<Target> target;
    Completion done;
    Result<std::vector<Event>> result;
  };
  // One group commit: formed and sent by the writer thread, completed by
  // the syncer, finished (hooks, completions) by the writer thread.
  struct Batch {
    std::vector<Group> groups;
    std::vector<std::shared_ptr<Target>> touched;  // whose producers ran for it
    std::vector<Settled> after_settle;
    std::size_t drafts = 0;
    std::optional<Micros> now;  // the one clock reading its producers and events share
    std::unique_ptr<events::EventStore::Sent> sent;
    // Set by the syncer before `done`:
    Result<std::vector<std::vector<Event>>> result =
        make_error(Errc::unavailable, "the event log cannot be written");
    Micros latency = 0;
    bool attempted = false;  // an append (or the recovery before it) was tried
    bool done = false;       // GUARDED_BY(mu_)
    [[nodiscard]] bool empty() const { return touched.empty() && after_settle.empty(); }
  };

  void run();
  void sync_loop();
  void pull_now();
  void announce(Found& found);
  // Finishes the groups in flight that are done, oldest first (after
  // waiting for the oldest, with `wait`); sends the group being formed when
  // the store has room for it, or settles it when it has no drafts and
  // nothing is in flight. Writer thread.
  void advance(bool wait);
  // Afterwards nothing is in flight or being formed.
  void drain();
  void hand_off_forming();
  void seal(Batch& batch);
  void finish(Batch& batch);
  // Each completion that ran ends one outstanding submission of its target.
  void release(std::span<Target* const> completed);
  Group& group_of(const std::shared_ptr<Target>& target);

  std::unique_ptr<events::EventStore> own_store_;  // the one-log adapter, for the first constructor
  events::EventStore& store_;
  const Clock& clock_;
  Options options_;
  BatchObserver observer_;
  Puller puller_;  // set before use; read by the writer thread only
  std::chrono::steady_clock::time_point last_pull_{};
  std::shared_ptr<Target> single_;  // the first constructor's target
  bool needs_recovery_ = false;     // writer thread only
  std::size_t max_in_flight_ = 1;   // the store's
  // Writer thread only: the group being formed, and those sent, oldest first.
  Batch forming_;
  std::deque<std::unique_ptr<Batch>> in_flight_;

  std::mutex mu_;
  std::condition_variable cv_;                  // the writer's: work, a pull, a written group
  std::deque<Item> queue_;                      // GUARDED_BY(mu_)
  std::vector<std::weak_ptr<Target>> targets_;  // GUARDED_BY(mu_), for recovery
  bool stopping_ = false;                       // GUARDED_BY(mu_)
  bool pull_soon_ = false;                      // GUARDED_BY(mu_)
  bool wants_work_ = false;  // GUARDED_BY(mu_): the writer waits, and would take new work now
  std::condition_variable drained_;  // a target's outstanding count fell
  std::condition_variable sync_cv_;  // the syncer's: a group to write, or stop
  std::deque<Batch*> sync_jobs_;     // GUARDED_BY(mu_), oldest first
  bool sync_stopping_ = false;       // GUARDED_BY(mu_)
  std::thread syncer_;
  std::thread writer_;
};

}  // namespace latchkey::service
