#pragma once
// A generated log in a directory, reused across runs when it already holds
// what was asked for (generating 10 million events takes minutes).

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/bench_util.h"
#include "bench/datagen.h"
#include "events/event_log.h"

namespace latchkey::bench {

// DIR/log holds the log; DIR/manifest.txt says what it was generated with and
// how long that took. Returns a description of what was done (for the report).
inline Result<std::string> ensure_log(const std::string& dir, const GenOptions& o) {
  const std::string manifest = dir + "/manifest.txt";
  std::ostringstream want;
  want << "generator=" << kGeneratorVersion << " events=" << o.events << " keys=" << o.keys
       << " keys_per_principal=" << o.keys_per_principal << " batch=" << o.batch
       << " snapshot_every=" << o.snapshot_every << " seed=" << o.seed;
  {
    std::ifstream in(manifest);
    std::string first, second;
    if (std::getline(in, first) && first == want.str()) {
      std::getline(in, second);
      return "reused " + dir + " (" + second + ")";
    }
  }
  std::error_code ec;
  std::filesystem::remove(manifest, ec);
  std::filesystem::remove_all(dir + "/log", ec);
  std::filesystem::create_directories(dir, ec);
  auto log = events::open_rocksdb_log(dir + "/log", events::OpenMode::create_new,
                                      events::LogOptions{false});
  if (!log) return log.error();
  GenOptions g = o;
  std::uint64_t next_report = 1'000'000;
  g.progress = [&](events::Seq head) {
    if (head >= next_report) {
      std::fprintf(stderr, "  generated %llu events\n", static_cast<unsigned long long>(head));
      next_report += 1'000'000;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = generate_log(**log, g);
  if (!r) return r.error();
  log->reset();  // flushes the WAL
  const double seconds = seconds_since(start);
  std::ostringstream how;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", seconds);
  how << "generated " << r->head << " events with " << r->snapshots << " snapshots in " << buf
      << " s;";
  for (const auto& [type, n] : r->by_type) how << " " << type << "=" << n;
  std::ofstream out(manifest, std::ios::trunc);
  out << want.str() << "\n" << how.str() << "\n";
  return how.str();
}

}  // namespace latchkey::bench
