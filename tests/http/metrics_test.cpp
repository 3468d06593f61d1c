// Metrics: series computed at scrape time render with their type, and the
// process_* series are read from /proc with the client libraries' meanings.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "http/metrics.h"
#include "http/process_metrics.h"

using namespace latchkey::http;

namespace {

double cpu_time_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(collectors_render_gauges_and_counters_and_may_leave_a_series_out) {
  Metrics m;
  m.add_gauge("test_gauge", "A gauge.", [] { return 2.5; });
  m.add_collector([](std::vector<Metrics::Sample>& out) {
    out.push_back({"test_things_total", "Things.", Metrics::Sample::Type::counter, 7});
    // test_absent is not readable now: no sample, so no series.
  });
  const std::string text = m.render();
  BOOST_TEST(
      contains(text, "# HELP test_gauge A gauge.\n# TYPE test_gauge gauge\ntest_gauge 2.5\n"));
  BOOST_TEST(contains(text,
                      "# HELP test_things_total Things.\n# TYPE test_things_total counter\n"
                      "test_things_total 7\n"));
  BOOST_TEST(!contains(text, "test_absent"));
}

BOOST_AUTO_TEST_CASE(proc_stat_fields_are_found_after_the_last_parenthesis) {
  // comm may hold spaces and parentheses; fields 14, 15 (utime, stime), 22
  // (starttime), 23 (vsize) and 24 (rss) are what count.
  const std::string line =
      "4242 (odd) name (x)) S 1 4242 4242 0 -1 4194560 1500 0 3 0 "
      "731 209 0 0 20 0 9 0 123456 987654321 2345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "
      "17 1 0 0 0 0 0\n";
  const auto st = parse_proc_stat(line);
  BOOST_TEST_REQUIRE(st.has_value());
  BOOST_TEST(st->utime_ticks == 731u);
  BOOST_TEST(st->stime_ticks == 209u);
  BOOST_TEST(st->starttime_ticks == 123456u);
  BOOST_TEST(st->vsize_bytes == 987654321u);
  BOOST_TEST(st->rss_pages == 2345u);
  BOOST_TEST(!parse_proc_stat("4242 (cut) S 1 4242 4242 0 -1 4194560 1500 0 3 0 731").has_value());
  BOOST_TEST(!parse_proc_stat("no parenthesis at all").has_value());
  BOOST_TEST(!parse_proc_stat("").has_value());
}

BOOST_AUTO_TEST_CASE(boot_time_and_open_file_limit_are_parsed) {
  BOOST_TEST(parse_boot_time("cpu  1 2 3\ncpu0 1 2 3\nintr 5\nctxt 99\nbtime 1700000000\n"
                             "processes 10\n")
                 .value_or(0) == 1700000000u);
  BOOST_TEST(!parse_boot_time("cpu  1 2 3\nctxt 99\n").has_value());
  const std::string limits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n"
      "Max open files            1024                 1048576              files     \n"
      "Max locked memory         8388608              8388608              bytes     \n";
  BOOST_TEST(parse_max_open_files(limits).value_or(0) == 1024u);
  const std::string unlimited =
      "Max open files            unlimited            unlimited            files     \n";
  BOOST_TEST(parse_max_open_files(unlimited).value_or(0) == UINT64_MAX);
  BOOST_TEST(!parse_max_open_files("Max cpu time   unlimited   unlimited   seconds\n").has_value());
}

BOOST_AUTO_TEST_CASE(this_process_is_read_from_proc) {
  const ProcessStats s = read_process_stats();
  BOOST_TEST_REQUIRE(s.cpu_seconds.has_value());
  BOOST_TEST_REQUIRE(s.resident_bytes.has_value());
  BOOST_TEST_REQUIRE(s.virtual_bytes.has_value());
  BOOST_TEST_REQUIRE(s.start_time_seconds.has_value());
  BOOST_TEST_REQUIRE(s.open_fds.has_value());
  BOOST_TEST_REQUIRE(s.max_fds.has_value());
  // Resident memory is counted in pages and is at least a megabyte for any
  // C++ test; virtual memory includes it.
  BOOST_TEST(*s.resident_bytes > 1e6);
  BOOST_TEST(*s.virtual_bytes >= *s.resident_bytes);
  // Started before now, and no longer ago than a test binary may run (ctest
  // stops it at 900 s): a wrong unit for the clock ticks would put it hours
  // away on a machine up for a while.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  BOOST_TEST(*s.start_time_seconds <= now + 2);
  BOOST_TEST(*s.start_time_seconds > now - 1000);
  // stdin, stdout and stderr at least.
  BOOST_TEST(*s.open_fds >= 3);
  rlimit lim{};
  BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  BOOST_TEST(*s.max_fds == static_cast<double>(lim.rlim_cur));
}

BOOST_AUTO_TEST_CASE(cpu_seconds_rise_with_work) {
  const double before = read_process_stats().cpu_seconds.value_or(-1);
  BOOST_TEST_REQUIRE(before >= 0);
  // A quarter second of CPU, far above the kernel's 10 ms tick.
  const double until = cpu_time_now() + 0.25;
  volatile std::uint64_t sink = 0;
  while (cpu_time_now() < until) {
    for (int i = 0; i < 10000; ++i) sink = sink + static_cast<std::uint64_t>(i);
  }
  const double after = read_process_stats().cpu_seconds.value_or(-1);
  BOOST_TEST(after >= before + 0.2);
  BOOST_TEST(after < before + 5);
}

BOOST_AUTO_TEST_CASE(open_fds_follow_files_opened_and_closed) {
  const double before = read_process_stats().open_fds.value_or(-1);
  BOOST_TEST_REQUIRE(before >= 3);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(::open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  for (int fd : fds) BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST(read_process_stats().open_fds.value_or(-1) == before + 3);
  for (int fd : fds) ::close(fd);
  BOOST_TEST(read_process_stats().open_fds.value_or(-1) == before);
}

BOOST_AUTO_TEST_CASE(process_series_have_the_client_libraries_names_and_types) {
  Metrics m;
  add_process_metrics(m);
  const std::string text = m.render();
  for (const char* gauge : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                            "process_open_fds", "process_max_fds", "process_start_time_seconds"}) {
    BOOST_TEST(contains(text, std::string("# TYPE ") + gauge + " gauge\n"), gauge);
    BOOST_TEST(contains(text, std::string("\n") + gauge + " "), gauge);
  }
  BOOST_TEST(contains(text, "# TYPE process_cpu_seconds_total counter\n"));
  BOOST_TEST(contains(text, "\nprocess_cpu_seconds_total "));
  BOOST_TEST(
      contains(text, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"));
}

BOOST_AUTO_TEST_SUITE_END()
