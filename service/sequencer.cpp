#include "service/sequencer.h"

#include <algorithm>
#include <chrono>
#include <future>

namespace latchkey::service {

struct Sequencer::Target {
  EventLog* log = nullptr;
  Hooks hooks;
  std::size_t outstanding = 0;   // GUARDED_BY(Sequencer::mu_): submitted, not yet completed
  bool removed = false;          // GUARDED_BY(Sequencer::mu_)
  bool touched = false;          // writer thread only: a producer ran since the last settle
  std::size_t group = SIZE_MAX;  // writer thread only: its index in the group being formed, if any
};

namespace {

// The store of a Sequencer made for one log: appends go to that log alone.
class SingleLogStore final : public events::EventStore {
 public:
  explicit SingleLogStore(EventLog& log) : log_(log) {}
  EventLog& log(std::string_view) override { return log_; }
  Result<std::vector<std::vector<Event>>> append(std::span<const Part> parts,
                                                 Micros time) override {
    std::vector<std::vector<Event>> out;
    for (const Part& p : parts) {
      if (p.log != &log_) return make_error(Errc::internal, "a draft for another log");
      auto r = log_.append(p.drafts, time);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
    return out;
  }
  Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> recover() override {
    auto found = log_.recover();
    if (!found) return found.error();
    std::vector<std::pair<EventLog*, std::vector<Event>>> out;
    if (!found->empty()) out.emplace_back(&log_, std::move(*found));
    return out;
  }
  Status drop(std::string_view) override {
    return make_error(Errc::invalid_request, "a single log cannot drop a project");
  }
  Result<std::vector<std::string>> projects() const override { return std::vector<std::string>{}; }
  std::optional<events::StorageStats> storage_stats() const override {
    return log_.storage_stats();
  }
  Status refresh() override { return log_.refresh(); }

 private:
  EventLog& log_;
};

}  // namespace

Sequencer::Sequencer(EventLog& log, const Clock& clock, Hooks hooks, Options options)
    : own_store_(std::make_unique<SingleLogStore>(log)),
      store_(*own_store_),
      clock_(clock),
      options_(options),
      max_in_flight_(std::max<std::size_t>(1, store_.max_in_flight())) {
  single_ = add_target(log, std::move(hooks));
  syncer_ = std::thread([this] { sync_loop(); });
  writer_ = std::thread([this] { run(); });
}

Sequencer::Sequencer(events::EventStore& store, const Clock& clock, Options options)
    : store_(store),
      clock_(clock),
      options_(options),
      max_in_flight_(std::max<std::size_t>(1, store_.max_in_flight())) {
  syncer_ = std::thread([this] { sync_loop(); });
  writer_ = std::thread([this] { run(); });
}

Sequencer::~Sequencer() { stop(); }

std::shared_ptr<Sequencer::Target> Sequencer::add_target(EventLog& log, Hooks hooks) {
  auto target = std::make_shared<Target>();
  target->log = &log;
  target->hooks = std::move(hooks);
  std::lock_guard lock(mu_);
  std::erase_if(targets_, [](const std::weak_ptr<Target>& t) { return t.expired(); });
  targets_.push_back(target);
  return target;
}

void Sequencer::remove_target(const std::shared_ptr<Target>& target) {
  std::unique_lock lock(mu_);
  target->removed = true;
  drained_.wait(lock, [&] { return target->outstanding == 0; });
  std::erase_if(targets_, [&](const std::weak_ptr<Target>& t) {
    auto p = t.lock();
    return !p || p == target;
  });
}

void Sequencer::set_batch_observer(BatchObserver observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void Sequencer::submit(const std::shared_ptr<Target>& target, Isolation isolation,
                       Producer producer, Completion done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && !target->removed) {
      ++target->outstanding;
      queue_.push_back(Item{target, isolation, std::move(producer), std::move(done)});
      if (wants_work_) cv_.notify_one();
      return;
    }
  }
  done(make_error(Errc::unavailable, "the server is shutting down"));
}

void Sequencer::submit(Isolation isolation, Producer producer, Completion done) {
  submit(single_, isolation, std::move(producer), std::move(done));
}

Result<std::vector<Event>> Sequencer::submit_and_wait(const std::shared_ptr<Target>& target,
                                                      Isolation isolation, Producer producer) {
  std::promise<Result<std::vector<Event>>> promise;
  auto future = promise.get_future();
  submit(target, isolation, std::move(producer),
         [&promise](Result<std::vector<Event>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Result<std::vector<Event>> Sequencer::submit_and_wait(Isolation isolation, Producer producer) {
  return submit_and_wait(single_, isolation, std::move(producer));
}

void Sequencer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

void Sequencer::release(std::span<Target* const> completed) {
  std::lock_guard lock(mu_);
  for (Target* t : completed) {
    if (--t->outstanding == 0) drained_.notify_all();
  }
}

Sequencer::Group& Sequencer::group_of(const std::shared_ptr<Target>& target) {
  if (target->group == SIZE_MAX) {
    target->group = forming_.groups.size();
    forming_.groups.push_back(Group{target, {}, {}});
  }
  return forming_.groups[target->group];
}

void Sequencer::set_puller(Puller puller) {
  std::lock_guard lock(mu_);
  puller_ = std::move(puller);
  cv_.notify_all();
}

void Sequencer::pull_soon() {
  {
    std::lock_guard lock(mu_);
    pull_soon_ = true;
  }
  cv_.notify_all();
}

void Sequencer::announce(Found& found) {
  std::vector<std::shared_ptr<Target>> targets;
  {
    std::lock_guard lock(mu_);
    for (auto& w : targets_) {
      if (auto t = w.lock()) targets.push_back(std::move(t));
    }
  }
  for (auto& [log, events] : found) {
    for (auto& t : targets) {
      bool removed = false;
      {
        std::lock_guard lock(mu_);
        removed = t->removed && t->outstanding == 0;
      }
      if (t->log == log && !removed && t->hooks.committed) t->hooks.committed(events);
    }
  }
}

void Sequencer::pull_now() {
  last_pull_ = std::chrono::steady_clock::now();
  auto found = puller_.pull();
  if (found) announce(*found);
  if (puller_.pulled) puller_.pulled(found ? Status{} : Status(found.error()));
}

void Sequencer::run() {
  std::deque<Item> work;
  for (;;) {
    bool pull = false;
    bool quit = false;
    {
      std::unique_lock lock(mu_);
      // While the store holds all the groups it takes, new work waits in the
      // queue: the writer sleeps until a group is done, then runs every
      // producer that arrived meanwhile in one go. Waking it for each login
      // instead cost a futex call and a switch per login, more than the
      // producer's own work, and sends nothing sooner.
      const bool saturated = in_flight_.size() >= max_in_flight_;
      const auto ready = [&] {
        return stopping_ || (!saturated && !queue_.empty()) || pull_soon_ ||
               (!in_flight_.empty() && in_flight_.front()->done);
      };
      wants_work_ = !saturated;
      if (puller_.pull) {
        const auto due = last_pull_ + puller_.every;
        cv_.wait_until(lock, due, ready);
        pull = pull_soon_ || std::chrono::steady_clock::now() >= due;
        pull_soon_ = false;
      } else {
        // A puller set meanwhile wakes it too.
        cv_.wait(lock, [&] { return ready() || puller_.pull; });
      }
      wants_work_ = false;
      quit = queue_.empty() && stopping_;
      work.swap(queue_);
    }
    if (quit) {
      drain();
      return;
    }
    if (pull) {
      drain();
      pull_now();
    }
    while (!work.empty()) {
      Item item = std::move(work.front());
      work.pop_front();
      // Held here and in the batches until its completions and settle ran:
      // a finished target may be removed (and its owner gone) at any time.
      const std::shared_ptr<Target> held = item.target;
      Target& target = *held;
      const bool exclusive = item.isolation == Isolation::exclusive;
      if (exclusive) drain();
      // One clock reading per group: every event of a log in it shares this
      // time (raised to the log's newest event's, so time never decreases).
      if (!forming_.now) forming_.now = clock_.now();
      Result<std::vector<Draft>> produced = make_error(Errc::internal, "producer failed");
      try {
        produced = item.producer(std::max(*forming_.now, target.log->head().time));
      } catch (const std::exception& ex) {
        produced = make_error(Errc::internal, "internal error", ex.what());
      }
      if (!target.touched) {
        target.touched = true;
        forming_.touched.push_back(held);
      }
      if (!produced) {
        forming_.after_settle.push_back(Settled{held, std::move(item.done), produced.error()});
      } else if (produced->empty()) {
        forming_.after_settle.push_back(Settled{held, std::move(item.done), std::vector<Event>{}});
      } else {
        Group& g = group_of(held);
        Pending p{std::move(item.done), g.drafts.size(), produced->size()};
        forming_.drafts += produced->size();
        for (auto& d : *produced) g.drafts.push_back(std::move(d));
        g.pending.push_back(std::move(p));
      }
      if (exclusive) {
        drain();  // committed and applied before the next decision
      } else if (forming_.drafts >= options_.max_batch_events) {
        advance(in_flight_.size() >= max_in_flight_);
      }
      // Pick up work that arrived meanwhile, so it joins this group.
      if (work.empty()) {
        std::lock_guard lock(mu_);
        work.swap(queue_);
      }
    }
    // The group formed goes to the log as soon as it has room; until then
    // it grows with what arrives.
    advance(false);
  }
}

void Sequencer::sync_loop() {
  for (;;) {
    Batch* job = nullptr;
    {
      std::unique_lock lock(mu_);
      sync_cv_.wait(lock, [&] { return !sync_jobs_.empty() || sync_stopping_; });
      if (sync_jobs_.empty()) return;
      job = sync_jobs_.front();
      sync_jobs_.pop_front();
    }
    const auto start = std::chrono::steady_clock::now();
    job->result = store_.complete(*job->sent);
    job->attempted = true;
    job->latency = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    {
      std::lock_guard lock(mu_);
      job->done = true;
    }
    cv_.notify_all();
  }
}

void Sequencer::seal(Batch& batch) {
  for (auto& g : batch.groups) g.target->group = SIZE_MAX;
  for (const auto& t : batch.touched) {
    t->touched = false;
    if (t->hooks.sealed) t->hooks.sealed();
  }
}

void Sequencer::hand_off_forming() {
  auto batch = std::make_unique<Batch>(std::move(forming_));
  forming_ = Batch{};
  seal(*batch);
  std::vector<events::EventStore::Part> parts;
  parts.reserve(batch->groups.size());
  for (const Group& g : batch->groups) parts.push_back({g.target->log, g.drafts, std::nullopt});
  batch->sent = store_.send(parts, *batch->now);
  Batch* raw = batch.get();
  in_flight_.push_back(std::move(batch));
  {
    std::lock_guard lock(mu_);
    sync_jobs_.push_back(raw);
  }
  sync_cv_.notify_one();
}

void Sequencer::advance(bool wait) {
  std::vector<std::unique_ptr<Batch>> done;
  {
    std::unique_lock lock(mu_);
    if (wait && !in_flight_.empty()) cv_.wait(lock, [&] { return in_flight_.front()->done; });
    while (!in_flight_.empty() && in_flight_.front()->done) {
      done.push_back(std::move(in_flight_.front()));
      in_flight_.pop_front();
    }
  }
  const Batch* failed = nullptr;
  for (const auto& b : done) {
    if (!b->result) {
      failed = b.get();
      break;
    }
  }
  // The next group goes out before the hooks of those done run.
  if (!failed && !needs_recovery_ && forming_.drafts > 0 && in_flight_.size() < max_in_flight_)
    hand_off_forming();
  for (auto& b : done) finish(*b);  // a failure sets needs_recovery_
  if (failed) {
    // Every group sent after the failed one fails as well (the store's
    // promise); they are settled first, in their order.
    while (!in_flight_.empty()) advance(true);
  }
  if (forming_.empty() || !in_flight_.empty()) return;
  if (forming_.drafts > 0 && !needs_recovery_) {
    if (in_flight_.size() < max_in_flight_) hand_off_forming();
    return;
  }
  // What is left to settle now: a group without drafts; one that cannot
  // follow a failed group; one that waits for the log's recovery.
  auto batch = std::make_unique<Batch>(std::move(forming_));
  forming_ = Batch{};
  batch->result = std::vector<std::vector<Event>>(batch->groups.size());
  if (failed) {
    batch->result = failed->result.error();
  } else if (batch->drafts > 0) {
    // Nothing is in flight, so the log can be reopened here.
    auto found = store_.recover();
    if (!found) {
      batch->result = found.error();
      batch->attempted = true;
    } else {
      needs_recovery_ = false;
      // Events the reopened log holds beyond what we knew: apply them, so the
      // views stay equal to the log.
      announce(*found);
      forming_ = std::move(*batch);
      hand_off_forming();
      return;
    }
  }
  seal(*batch);
  finish(*batch);
}

void Sequencer::drain() {
  while (!in_flight_.empty() || !forming_.empty()) advance(true);
}

void Sequencer::finish(Batch& batch) {
  std::size_t count = 0;
  for (const Group& g : batch.groups) count += g.drafts.size();
  if (batch.attempted) {
    BatchObserver observer;
    {
      std::lock_guard lock(mu_);
      observer = observer_;
    }
    if (observer) observer(count, batch.latency, batch.result.has_value());
  }
  const bool durable = batch.result.has_value();
  if (durable) {
    for (std::size_t i = 0; i < batch.groups.size(); ++i) {
      auto& events = (*batch.result)[i];
      if (!events.empty() && batch.groups[i].target->hooks.committed)
        batch.groups[i].target->hooks.committed(events);
    }
  } else {
    needs_recovery_ = true;
  }
  for (const auto& t : batch.touched) {
    if (t->hooks.settled) t->hooks.settled(durable);
  }
  // The completions' targets are released together, with one lock of mu_
  // for the whole group commit: the I/O threads submitting meanwhile wait
  // on that lock once, not once per completion.
  std::vector<Target*> completed;
  completed.reserve(batch.after_settle.size() + count);
  for (auto& s : batch.after_settle) {
    s.done(std::move(s.result));
    completed.push_back(s.target.get());
  }
  if (durable) {
    for (std::size_t i = 0; i < batch.groups.size(); ++i) {
      auto& events = (*batch.result)[i];
      for (auto& p : batch.groups[i].pending) {
        std::vector<Event> mine(
            std::make_move_iterator(events.begin() + static_cast<long>(p.first)),
            std::make_move_iterator(events.begin() + static_cast<long>(p.first + p.count)));
        p.done(std::move(mine));
        completed.push_back(batch.groups[i].target.get());
      }
    }
  } else {
    Error err = batch.result.error();
    if (err.code != Errc::internal) err.code = Errc::unavailable;
    for (auto& g : batch.groups) {
      for (auto& p : g.pending) {
        p.done(err);
        completed.push_back(g.target.get());
      }
    }
  }
  release(completed);
}

}  // namespace latchkey::service
