#include "service/sequencer.h"

#include <chrono>
#include <future>

namespace latchkey::service {

Sequencer::Sequencer(EventLog& log, const Clock& clock, Hooks hooks, Options options)
    : log_(log), clock_(clock), hooks_(std::move(hooks)), options_(options) {
  writer_ = std::thread([this] { run(); });
}

Sequencer::~Sequencer() { stop(); }

void Sequencer::set_batch_observer(BatchObserver observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void Sequencer::submit(Isolation isolation, Producer producer, Completion done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Item{isolation, std::move(producer), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(make_error(Errc::unavailable, "the server is shutting down"));
}

Result<std::vector<Event>> Sequencer::submit_and_wait(Isolation isolation, Producer producer) {
  std::promise<Result<std::vector<Event>>> promise;
  auto future = promise.get_future();
  submit(isolation, std::move(producer),
         [&promise](Result<std::vector<Event>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Sequencer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

void Sequencer::run() {
  std::deque<Item> work;
  std::vector<Draft> drafts;
  std::vector<Pending> pending;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      work.swap(queue_);
    }
    // One clock reading per group: every event in it shares this time.
    Micros now = std::max(clock_.now(), log_.head().time);
    while (!work.empty()) {
      Item item = std::move(work.front());
      work.pop_front();
      const bool exclusive = item.isolation == Isolation::exclusive;
      if (exclusive && !drafts.empty()) {
        commit(drafts, pending, now);
        now = std::max(clock_.now(), log_.head().time);
      }
      Result<std::vector<Draft>> produced = make_error(Errc::internal, "producer failed");
      try {
        produced = item.producer(now);
      } catch (const std::exception& ex) {
        produced = make_error(Errc::internal, "internal error", ex.what());
      }
      if (!produced) {
        item.done(produced.error());
      } else if (produced->empty()) {
        item.done(std::vector<Event>{});
      } else {
        Pending p{std::move(item.done), drafts.size(), produced->size()};
        for (auto& d : *produced) drafts.push_back(std::move(d));
        pending.push_back(std::move(p));
        if (exclusive || drafts.size() >= options_.max_batch_events) {
          commit(drafts, pending, now);
          now = std::max(clock_.now(), log_.head().time);
        }
      }
      // Pick up work that arrived meanwhile, so it joins this group.
      if (work.empty()) {
        std::lock_guard lock(mu_);
        work.swap(queue_);
      }
    }
    if (!drafts.empty()) {
      commit(drafts, pending, now);
    } else {
      settle(true);  // producers that appended nothing: what they staged stands
    }
  }
}

void Sequencer::settle(bool durable) {
  if (hooks_.settled) hooks_.settled(durable);
}

void Sequencer::commit(std::vector<Draft>& drafts, std::vector<Pending>& pending, Micros now) {
  const auto start = std::chrono::steady_clock::now();
  Result<std::vector<Event>> committed =
      make_error(Errc::unavailable, "the event log cannot be written");
  if (needs_recovery_) {
    auto found = log_.recover();
    if (!found) {
      committed = found.error();
    } else {
      needs_recovery_ = false;
      // Events the reopened log holds beyond what we knew: apply them, so the
      // views stay equal to the log.
      if (!found->empty() && hooks_.committed) hooks_.committed(*found);
    }
  }
  if (!needs_recovery_) committed = log_.append(drafts, now);
  const Micros latency = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  BatchObserver observer;
  {
    std::lock_guard lock(mu_);
    observer = observer_;
  }
  if (observer) observer(drafts.size(), latency, committed.has_value());
  if (committed) {
    if (hooks_.committed) hooks_.committed(*committed);
    settle(true);
    for (auto& p : pending) {
      std::vector<Event> mine(
          std::make_move_iterator(committed->begin() + static_cast<long>(p.first)),
          std::make_move_iterator(committed->begin() + static_cast<long>(p.first + p.count)));
      p.done(std::move(mine));
    }
  } else {
    needs_recovery_ = true;
    settle(false);
    Error err = committed.error();
    if (err.code != Errc::internal) err.code = Errc::unavailable;
    for (auto& p : pending) p.done(err);
  }
  drafts.clear();
  pending.clear();
}

}  // namespace latchkey::service
