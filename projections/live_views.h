#pragma once
// The views a server reads while its writer thread applies new events.

#include <atomic>
#include <shared_mutex>
#include <span>

#include "projections/views.h"

namespace latchkey::projections {

class LiveViews {
 public:
  explicit LiveViews(Views initial) : views_(std::move(initial)), seq_(views_.seq) {}
  LiveViews(const LiveViews&) = delete;
  LiveViews& operator=(const LiveViews&) = delete;

  // Runs f(const Views&) under a shared lock and returns its result.
  // Thread-safe; many readers run at once. f must not block or call back in.
  template <class F>
  decltype(auto) read(F&& f) const {
    std::shared_lock lock(mu_);
    return f(static_cast<const Views&>(views_));
  }

  // Applies committed events under the exclusive lock.
  // REQUIRES: called by the log's single writer thread (the only mutator).
  void apply(std::span<const events::Event> committed);

  // The views without a lock. REQUIRES: the writer thread, which is the only
  // thread that changes them, so its reads need no lock.
  const Views& writer_view() const { return views_; }

  // The last applied sequence number; lock-free, any thread.
  Seq seq() const { return seq_.load(std::memory_order_acquire); }

 private:
  mutable std::shared_mutex mu_;
  Views views_;  // GUARDED_BY(mu_) for readers other than the writer thread
  std::atomic<Seq> seq_;
};

}  // namespace latchkey::projections
