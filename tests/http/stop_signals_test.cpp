// StopSignals: how the server takes SIGINT and SIGTERM. Each case runs in a
// forked child, so that the signals it blocks and sends stay out of the test
// runner; the child reports through its exit status.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "http/stop_signals.h"

using latchkey::http::StopSignals;

namespace {

// Runs body in a child process; returns its raw wait status.
int in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

bool wait_until(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(once_serving_the_first_signal_stops_and_later_ones_are_ignored) {
  for (const int first : {SIGTERM, SIGINT}) {
    const int status = in_child([first] {
      std::atomic<int> calls{0};
      {
        StopSignals signals;
        signals.serve([&] { calls.fetch_add(1); });
        ::kill(::getpid(), first);
        if (!wait_until([&] { return calls.load() == 1; })) return 2;
        // More SIGTERMs and SIGINTs during the shutdown neither call again nor kill.
        for (int i = 0; i < 20; ++i) {
          ::kill(::getpid(), i % 2 ? SIGINT : SIGTERM);
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      // After the destructor, signals are still blocked: one now is dropped at exit.
      ::kill(::getpid(), SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      return calls.load() == 1 ? 0 : 3;
    });
    BOOST_TEST_REQUIRE(WIFEXITED(status),
                       "first signal " << first << ": killed by signal " << WTERMSIG(status));
    BOOST_TEST(WEXITSTATUS(status) == 0, "first signal " << first);
  }
}

BOOST_AUTO_TEST_CASE(before_serving_a_signal_ends_the_process_as_by_default) {
  for (const int sig : {SIGTERM, SIGINT}) {
    const int status = in_child([sig] {
      StopSignals signals;
      ::kill(::getpid(), sig);
      std::this_thread::sleep_for(std::chrono::seconds(10));
      return 0;
    });
    BOOST_TEST_REQUIRE(WIFSIGNALED(status), "signal " << sig << ": exit " << WEXITSTATUS(status));
    BOOST_TEST(WTERMSIG(status) == sig);
  }
}

BOOST_AUTO_TEST_CASE(the_destructor_returns_with_no_signal_ever_sent) {
  const int status = in_child([] {
    { StopSignals signals; }
    {
      StopSignals signals;
      signals.serve([] {});
    }
    return 0;
  });
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}
