#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events/event_log.h"
#include "events/verify.h"
#include "service/sequencer.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::service::Sequencer;

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

BOOST_AUTO_TEST_SUITE(write_errors)

// A real write failure: the process may not grow files past a size limit
// (RLIMIT_FSIZE, as a full disk would refuse). In a child process, so the
// limit does not touch the test runner. The child starts threads after a
// fork of a process with threads, which ThreadSanitizer cannot follow: the
// test runs in every other build (tools/test runs it under ASan and UBSan).
BOOST_AUTO_TEST_CASE(a_failed_write_is_an_error_never_a_silent_success_and_recovers,
                     *boost::unit_test::enable_if<!kThreadSanitizer>()) {
  test::TempDir dir;
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
    if (!log) _exit(10);
    struct rlimit lim {};
    ::getrlimit(RLIMIT_FSIZE, &lim);
    const rlim_t original = lim.rlim_cur;
    lim.rlim_cur = 512 * 1024;
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(11);
    SystemClock clock;
    std::size_t acked = 0;
    Error failure;
    bool failed = false;
    {
      Sequencer seq(**log, clock, {}, {});
      for (int i = 0; i < 2000 && !failed; ++i) {
        auto r = seq.submit_and_wait(
            Sequencer::Isolation::shared, [&](Micros) -> Result<std::vector<Draft>> {
              Draft d = test::user_created("usr_" + std::to_string(i), std::string(4096, 'x'));
              return std::vector<Draft>{d};
            });
        if (r) {
          ++acked;
        } else {
          failed = true;
          failure = r.error();
        }
      }
      if (!failed) _exit(12);  // 8 MB of events under a 512 KB limit cannot all succeed
      if (failure.code != Errc::unavailable) _exit(13);
      if ((*log)->head().seq != acked) _exit(14);  // the failed append left nothing
      // Still failing while the fault lasts.
      auto again = seq.submit_and_wait(Sequencer::Isolation::shared,
                                       [&](Micros) -> Result<std::vector<Draft>> {
                                         return std::vector<Draft>{test::user_created("usr_again")};
                                       });
      if (again.has_value() && (*log)->head().seq != acked + 1) _exit(15);
      // The fault clears: the next append recovers by itself.
      lim.rlim_cur = original;
      if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(16);
      bool recovered = false;
      for (int attempt = 0; attempt < 50 && !recovered; ++attempt) {
        auto r = seq.submit_and_wait(Sequencer::Isolation::shared,
                                     [&](Micros) -> Result<std::vector<Draft>> {
                                       return std::vector<Draft>{test::user_created("usr_after")};
                                     });
        recovered = r.has_value();
        if (!recovered) {
          if (attempt == 0) std::fprintf(stderr, "recovery: %s\n", r.error().detail.c_str());
          ::usleep(100000);
        }
      }
      if (!recovered) _exit(17);
    }
    // Everything acknowledged is there, and the chain holds.
    for (Seq s = 1; s <= acked; ++s) {
      if (!(*log)->get(s)) _exit(18);
    }
    if (!verify_log(**log).ok) _exit(19);
    _exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0,
             "child check " << WEXITSTATUS(status) << " failed (see the test for its meaning)");
}

BOOST_AUTO_TEST_SUITE_END()
