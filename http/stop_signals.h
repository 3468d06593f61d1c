#pragma once
// SIGINT and SIGTERM for the server, taken by one thread with sigwait()
// instead of a signal handler.
//
// The constructor blocks both signals in the calling thread, and every thread
// started after it inherits the block: make it before any other thread exists.
// From then on no signal takes its default action behind the server's back:
//   - before serve(), the first signal ends the process as it would have
//     without this class (nothing has been acknowledged yet);
//   - after serve(), the first signal calls on_stop once; later ones are
//     ignored, so a second SIGTERM cannot kill a shutdown half-way;
//   - after the destructor, signals stay blocked and are dropped at exit.
#include <signal.h>

#include <functional>
#include <mutex>
#include <thread>

namespace latchkey::http {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first SIGINT or SIGTERM from now on calls on_stop, on the watching thread.
  void serve(std::function<void()> on_stop);

 private:
  void watch();

  sigset_t set_{};
  std::mutex mutex_;
  std::function<void()> on_stop_;
  bool stopping_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace latchkey::http
