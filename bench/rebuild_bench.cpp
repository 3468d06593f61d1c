// bench_rebuild: how fast the views fold from the log, start-up with and
// without a snapshot, and resident memory per active key (issue 3).
//
//   1. memory: in a child process, folds 100,000 user.created and 1,000,000
//      key.created events into empty views and reports the growth of the
//      resident set (/proc/self/statm) per key;
//   2. a log of --events events of the realistic mix (bench/datagen.h), with a
//      snapshot every --snapshot-every events, generated into --dir (reused if
//      it already holds the same) or a temporary directory;
//   3. rebuild rate: replay::rebuild(use_snapshots=false) of the whole log on
//      one thread, events per second, median of --rounds;
//   4. start-up: open the log and load the views, with the newest snapshot and
//      its tail versus folding the whole log, alternating, median of --rounds;
//      plus the worst case for snapshots: a point just before the next snapshot
//      (restore one snapshot, apply --snapshot-every - 1 events).

#include <CLI/CLI.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "bench/bench_log.h"
#include "bench/bench_util.h"
#include "projections/views.h"
#include "replay/rebuild.h"

namespace {

using namespace latchkey;
using events::Event;
using events::EventType;

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Builds views with `keys` active keys (10 per user) by folding events, and
// prints the resident memory growth. Runs in a fresh child process so that
// nothing else has touched the heap.
void measure_memory(std::uint64_t keys) {
  const std::uint64_t principals = (keys + 9) / 10;
  projections::Views v;
  const std::uint64_t rss0 = bench::resident_bytes();
  Event e;
  e.context = events::RequestContext{"sa_00000000c0ffee00", "", ""};
  Micros t = 1'767'225'600'000'000;
  auto user_id = [](std::uint64_t i) { return "usr_" + hex16(i * 0x9e3779b97f4a7c15ull); };
  for (std::uint64_t i = 0; i < principals; ++i) {
    e.seq++;
    e.time = ++t;
    e.type = EventType::user_created;
    e.data = events::PrincipalCreated{
        user_id(i), "user " + std::to_string(i), "person" + std::to_string(i) + "@example.com", {}};
    projections::apply(v, e);
  }
  const std::uint64_t rss1 = bench::resident_bytes();
  for (std::uint64_t i = 0; i < keys; ++i) {
    e.seq++;
    e.time = ++t;
    e.type = EventType::key_created;
    events::KeyCreated k;
    k.apikey = "lk_" + hex16(i * 0xff51afd7ed558ccdull) + hex16(i).substr(8);
    k.principal_id = user_id(i / 10);
    k.secret_hash[0] = static_cast<std::uint8_t>(i);
    k.description = i % 4 ? "deploy key " + std::to_string(i) : "";
    k.expires_at = t + 90 * kMicrosPerDay;
    k.lifetime_source = "default";
    e.data = std::move(k);
    projections::apply(v, e);
  }
  const std::uint64_t rss2 = bench::resident_bytes();
  std::printf(
      "memory: %llu active keys (%llu users, 10 keys each): resident +%.1f MiB; %.0f bytes per key "
      "including its user's share (%.0f for the key alone, %.0f per user)\n",
      static_cast<unsigned long long>(v.keys.size()),
      static_cast<unsigned long long>(v.principals.size()),
      static_cast<double>(rss2 - rss0) / (1 << 20),
      static_cast<double>(rss2 - rss0) / static_cast<double>(keys),
      static_cast<double>(rss2 - rss1) / static_cast<double>(keys),
      static_cast<double>(rss1 - rss0) / static_cast<double>(principals));
  std::fflush(stdout);
}

struct Timed {
  double seconds = 0;
  replay::RebuildStats stats;
};

Result<Timed> startup(const std::string& dir, bool use_snapshots, events::Seq at = UINT64_MAX) {
  const auto start = std::chrono::steady_clock::now();
  auto log = events::open_rocksdb_log(dir, events::OpenMode::read_write);
  if (!log) return log.error();
  Timed t;
  auto views = replay::rebuild(**log, at, use_snapshots, &t.stats);
  if (!views) return views.error();
  t.seconds = bench::seconds_since(start);
  return t;
}

int fail(const Error& e) {
  std::fprintf(stderr, "bench_rebuild: %s %s\n", e.message.c_str(), e.detail.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_rebuild: view rebuild rate, start-up time and memory per key"};
  bench::GenOptions g;
  g.snapshot_every = 100'000;
  std::string dir;
  int rounds = 5;
  std::uint64_t memory_keys = 1'000'000;
  app.add_option("--events", g.events, "Events in the generated log")->capture_default_str();
  app.add_option("--keys", g.keys, "API keys in the generated log")->capture_default_str();
  app.add_option("--snapshot-every", g.snapshot_every, "Snapshot interval in the generated log")
      ->capture_default_str();
  app.add_option("--dir", dir, "Keep the generated log here and reuse it (default: temporary)");
  app.add_option("--rounds", rounds, "Repetitions of each measurement")->capture_default_str();
  app.add_option("--memory-keys", memory_keys, "Active keys for the memory measurement (0: skip)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (memory_keys > 0) {
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child == 0) {
      measure_memory(memory_keys);
      std::_Exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "bench_rebuild: the memory measurement failed\n");
      return 1;
    }
  }

  std::unique_ptr<bench::ScratchDir> scratch;
  if (dir.empty()) {
    scratch = std::make_unique<bench::ScratchDir>();
    dir = scratch->path();
  }
  auto how = bench::ensure_log(dir, g);
  if (!how) return fail(how.error());
  std::printf("log: %s\n", how->c_str());
  const std::string log_dir = dir + "/log";

  // Rebuild rate, whole log, no snapshot.
  {
    auto log = events::open_rocksdb_log(log_dir, events::OpenMode::read_write);
    if (!log) return fail(log.error());
    const events::Seq head = (*log)->head().seq;
    std::vector<double> rates, cpu_rates;
    for (int i = 0; i < rounds; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = bench::thread_cpu_seconds();
      replay::RebuildStats stats;
      auto views = replay::rebuild(**log, head, false, &stats);
      if (!views) return fail(views.error());
      const double cpu = bench::thread_cpu_seconds() - cpu_start;
      rates.push_back(static_cast<double>(stats.applied) / bench::seconds_since(start));
      cpu_rates.push_back(static_cast<double>(stats.applied) / cpu);
    }
    std::printf(
        "rebuild: %llu events, one thread: median %.0f events/s of wall-clock time (min %.0f, max "
        "%.0f); median %.0f events per CPU-second of the rebuilding thread\n",
        static_cast<unsigned long long>(head), bench::median(rates), bench::quantile(rates, 0),
        bench::quantile(rates, 1), bench::median(cpu_rates));
  }

  // Start-up: open + load views, with and without snapshots, alternating.
  events::Seq worst_at = 0;
  {
    auto log = events::open_rocksdb_log(log_dir, events::OpenMode::read_write);
    if (!log) return fail(log.error());
    auto newest = (*log)->find_snapshot(UINT64_MAX);
    if (!newest) return fail(newest.error());
    if (*newest && (*newest)->seq > 1) worst_at = (*newest)->seq - 1;
  }
  std::vector<double> with, without, worst;
  Timed last_with, last_without, last_worst;
  for (int i = 0; i < rounds; ++i) {
    auto a = startup(log_dir, true);
    if (!a) return fail(a.error());
    auto b = startup(log_dir, false);
    if (!b) return fail(b.error());
    with.push_back(a->seconds);
    without.push_back(b->seconds);
    last_with = *a;
    last_without = *b;
    if (worst_at) {
      auto c = startup(log_dir, true, worst_at);
      if (!c) return fail(c.error());
      worst.push_back(c->seconds);
      last_worst = *c;
    }
  }
  std::printf(
      "start-up with snapshot: median %.3f s (snapshot at %llu + %llu events of tail); "
      "without: median %.3f s (%llu events); ratio %.1fx\n",
      bench::median(with), static_cast<unsigned long long>(last_with.stats.snapshot_seq),
      static_cast<unsigned long long>(last_with.stats.applied), bench::median(without),
      static_cast<unsigned long long>(last_without.stats.applied),
      bench::median(without) / bench::median(with));
  if (worst_at) {
    std::printf(
        "start-up with snapshot, worst case (just before the next snapshot): median %.3f s, "
        "max %.3f s (snapshot at %llu + %llu events of tail)\n",
        bench::median(worst), bench::quantile(worst, 1),
        static_cast<unsigned long long>(last_worst.stats.snapshot_seq),
        static_cast<unsigned long long>(last_worst.stats.applied));
  }
  return 0;
}
