#pragma once
// The process metrics of the Prometheus client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, ...), with their names, types, help and
// meanings, read from /proc like they do. Linux only.

#include <cstdint>
#include <optional>
#include <string_view>

#include "http/metrics.h"

namespace latchkey::http {

// Fields of /proc/<pid>/stat, in its units (clock ticks, pages).
struct ProcStat {
  std::uint64_t utime_ticks = 0, stime_ticks = 0, starttime_ticks = 0;
  std::uint64_t vsize_bytes = 0, rss_pages = 0;
};
// nullopt when `text` is not a stat line.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// The "btime" line of /proc/stat: the boot time in seconds since the epoch.
std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat);
// The soft "Max open files" of /proc/<pid>/limits ("unlimited": the largest uint64).
std::optional<std::uint64_t> parse_max_open_files(std::string_view limits);

// This process's figures now; a figure whose file cannot be read is nullopt.
struct ProcessStats {
  std::optional<double> cpu_seconds;         // user + system time
  std::optional<double> resident_bytes;      // resident set size
  std::optional<double> virtual_bytes;       // virtual memory size
  std::optional<double> start_time_seconds;  // since the Unix epoch
  std::optional<double> open_fds;
  std::optional<double> max_fds;  // the soft limit on open files
};
ProcessStats read_process_stats();

// Registers the six process_* series, read at each scrape.
void add_process_metrics(Metrics& metrics);

}  // namespace latchkey::http
