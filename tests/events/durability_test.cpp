#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <sstream>
#include <thread>

#include "events/event_log.h"
#include "events/verify.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;

BOOST_AUTO_TEST_SUITE(durability)

// A writer is killed with SIGKILL mid-flight, several times over the same
// log: every append that had returned success is there after reopening, and
// the chain verifies.
BOOST_AUTO_TEST_CASE(every_acknowledged_append_survives_sigkill) {
  test::TempDir dir;
  const std::string log_dir = dir / "log";
  std::mt19937 rng(20261126);
  std::size_t total_acked = 0;
  for (int round = 0; round < 6; ++round) {
    const std::string out = dir / ("acks-" + std::to_string(round));
    const std::string err = dir / ("err-" + std::to_string(round));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string threads = std::to_string(1 + round % 3 * 4);  // 1, 5 or 9 concurrent writers
    std::vector<std::string> args{APPEND_CHILD, log_dir, threads};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    BOOST_REQUIRE(posix_spawn(&pid, APPEND_CHILD, &fa, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    // Kill at a random moment after the writer's first acknowledgement (a
    // loaded machine may take a while to start it): then appends are in flight.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (test::read_file(out).find('\n') == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 600)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Killed by this SIGKILL, not ended before it (a sanitizer aborts with
    // SIGABRT), and no sanitizer report written before it.
    BOOST_TEST_REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL),
                       "the writer died before it was killed: " << test::read_file(err));
    BOOST_TEST(test::sanitizer_report(test::read_file(err)).empty(), test::read_file(err));

    std::vector<std::pair<Seq, std::string>> acked;
    std::istringstream lines(test::read_file(out));
    std::string line;
    while (std::getline(lines, line)) {
      if (lines.eof()) break;  // a line cut by the kill is not an acknowledgement
      std::istringstream fields(line);
      Seq s;
      std::string id;
      if (fields >> s >> id) acked.emplace_back(s, id);
    }
    BOOST_TEST_MESSAGE("round " << round << ": " << acked.size()
                                << " acknowledged appends before the kill");
    BOOST_REQUIRE(!acked.empty());
    total_acked += acked.size();

    auto log = open_rocksdb_log(log_dir, OpenMode::read_write);
    BOOST_REQUIRE(log.has_value());
    for (const auto& [s, id] : acked) {
      auto e = (*log)->get(s);
      BOOST_REQUIRE_MESSAGE(e.has_value(), "acknowledged event " << s << " is missing");
      BOOST_TEST(std::get<PrincipalCreated>(e->data).id == id);
    }
    const auto report = verify_log(**log);
    BOOST_TEST_REQUIRE(report.ok, "verify failed at " << report.first_bad << ": " << report.reason);
    BOOST_TEST(report.events >= acked.back().first);
  }
  BOOST_TEST_MESSAGE("acknowledged appends checked: " << total_acked);
}

// Snapshots skip the WAL (so that a large one does not hold up group
// commits), so put_snapshot must make them durable itself before it returns:
// a process that dies right after, without closing the log, leaves the
// snapshot behind.
BOOST_AUTO_TEST_CASE(a_written_snapshot_survives_a_process_that_dies_at_once) {
  test::TempDir dir;
  const std::string log_dir = dir / "log";
  const std::size_t size = 3u << 20;  // a few megabytes, like a real one
  const auto child =
      test::run_command({APPEND_CHILD, log_dir, "snapshot", "7", std::to_string(size)});
  BOOST_TEST_REQUIRE(child.exit_code == 0, "the child failed: " << child.err);
  BOOST_TEST(test::sanitizer_report(child.err).empty(), child.err);
  auto log = open_rocksdb_log(log_dir, OpenMode::read_write);
  BOOST_REQUIRE(log.has_value());
  auto snap = (*log)->find_snapshot(UINT64_MAX);
  BOOST_REQUIRE(snap.has_value());
  BOOST_REQUIRE_MESSAGE(snap->has_value(), "the snapshot was lost");
  BOOST_TEST((*snap)->seq == 7u);
  BOOST_TEST(((*snap)->bytes == std::string(size, 's')));
}

BOOST_AUTO_TEST_SUITE_END()
