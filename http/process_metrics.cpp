#include "http/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <limits>
#include <string>
#include <vector>

#include "base/parse.h"

namespace latchkey::http {
namespace {

// The whole of a /proc file (they report a size of 0, so read to the end).
std::optional<std::string> read_all(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::vector<std::string_view> fields(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

// The rest of the first line of `text` that starts with `prefix`.
std::optional<std::string_view> line_after(std::string_view text, std::string_view prefix) {
  for (std::size_t at = 0; at < text.size();) {
    auto end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(at, end - at);
    if (line.starts_with(prefix)) return line.substr(prefix.size());
    at = end + 1;
  }
  return std::nullopt;
}

// Entries of /proc/self/fd, the descriptor that reads it included (as the
// client libraries count).
std::optional<double> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the
  // fields start after the last ')'. Field 3 (state) is rest[0].
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  const auto rest = fields(text.substr(close + 1));
  if (rest.size() < 22) return std::nullopt;
  const auto field = [&](std::size_t n) { return parse_integer<std::uint64_t>(rest[n - 3]); };
  const auto utime = field(14), stime = field(15), starttime = field(22), vsize = field(23),
             rss = field(24);
  if (!utime || !stime || !starttime || !vsize || !rss) return std::nullopt;
  return ProcStat{*utime, *stime, *starttime, *vsize, *rss};
}

std::optional<std::uint64_t> parse_boot_time(std::string_view proc_stat) {
  const auto rest = line_after(proc_stat, "btime ");
  if (!rest) return std::nullopt;
  const auto f = fields(*rest);
  if (f.size() != 1) return std::nullopt;
  return parse_integer<std::uint64_t>(f[0]);
}

std::optional<std::uint64_t> parse_max_open_files(std::string_view limits) {
  // "Max open files            1024                 1048576              files"
  const auto rest = line_after(limits, "Max open files ");
  if (!rest) return std::nullopt;
  const auto f = fields(*rest);
  if (f.empty()) return std::nullopt;
  if (f[0] == "unlimited") return std::numeric_limits<std::uint64_t>::max();
  return parse_integer<std::uint64_t>(f[0]);
}

ProcessStats read_process_stats() {
  ProcessStats s;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (const auto text = read_all("/proc/self/stat")) {
    if (const auto st = parse_proc_stat(*text)) {
      s.cpu_seconds = static_cast<double>(st->utime_ticks + st->stime_ticks) / ticks;
      s.resident_bytes = static_cast<double>(st->rss_pages) * page;
      s.virtual_bytes = static_cast<double>(st->vsize_bytes);
      // Read once: /proc/stat has a line per CPU, and the start time stays
      // the same from scrape to scrape (a change means a restart), even if
      // the clock is stepped meanwhile.
      static const std::optional<std::uint64_t> boot = [] {
        const auto all = read_all("/proc/stat");
        return all ? parse_boot_time(*all) : std::nullopt;
      }();
      if (boot) {
        s.start_time_seconds =
            static_cast<double>(*boot) + static_cast<double>(st->starttime_ticks) / ticks;
      }
    }
  }
  s.open_fds = count_open_fds();
  if (const auto text = read_all("/proc/self/limits")) {
    if (const auto max = parse_max_open_files(*text)) s.max_fds = static_cast<double>(*max);
  }
  return s;
}

void add_process_metrics(Metrics& metrics) {
  metrics.add_collector([](std::vector<Metrics::Sample>& out) {
    using Type = Metrics::Sample::Type;
    const ProcessStats s = read_process_stats();
    const auto add = [&](const char* name, const char* help, Type type,
                         const std::optional<double>& v) {
      if (v) out.push_back(Metrics::Sample{name, help, type, *v});
    };
    // Names, help and types as the Prometheus client libraries write them.
    add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
        Type::counter, s.cpu_seconds);
    add("process_open_fds", "Number of open file descriptors.", Type::gauge, s.open_fds);
    add("process_max_fds", "Maximum number of open file descriptors.", Type::gauge, s.max_fds);
    add("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::gauge,
        s.virtual_bytes);
    add("process_resident_memory_bytes", "Resident memory size in bytes.", Type::gauge,
        s.resident_bytes);
    add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
        Type::gauge, s.start_time_seconds);
  });
}

}  // namespace latchkey::http
