#include "http/stop_signals.h"

#include <pthread.h>

namespace latchkey::http {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  thread_ = std::thread([this] { watch(); });
}

StopSignals::~StopSignals() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  // Wakes the watcher's sigwait (the signal is blocked, so it goes nowhere else).
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

void StopSignals::serve(std::function<void()> on_stop) {
  std::lock_guard lock(mutex_);
  on_stop_ = std::move(on_stop);
}

void StopSignals::watch() {
  for (;;) {
    int sig = 0;
    if (sigwait(&set_, &sig) != 0) continue;
    std::function<void()> call;
    {
      std::lock_guard lock(mutex_);
      if (done_) return;
      if (!on_stop_) {
        // Not serving yet: the default action, as if the signal had never been blocked.
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
        raise(sig);
        continue;  // not reached for SIGINT/SIGTERM with SIG_DFL
      }
      if (stopping_) continue;
      stopping_ = true;
      call = on_stop_;
    }
    call();
  }
}

}  // namespace latchkey::http
