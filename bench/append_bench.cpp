// bench_append: latchkey's synced append path against a bare RocksDB Put loop,
// side by side in one process and one run, for several numbers of concurrent
// writers (issue 2).
//
//   latchkey: N threads each submit one token.issued event to the Sequencer
//             (single writer thread, group commit: one synced WriteBatch per
//             group, with the event's index entries) and wait for it to be durable.
//   bare:     N threads each do DB::Put(WriteOptions::sync = true) of a value as
//             large as the stored event, into a database opened with the same
//             options (RocksDB's own write grouping shares the WAL syncs).
//
// Each round runs both, in alternating order, each in a fresh database; the
// report gives the medians over the rounds and the median of the per-round
// ratios. Usage: bench_append [--writers 1,8,64] [--seconds 3] [--rounds 5] [--dir D]

#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "events/bench_baseline.h"
#include "events/codec.h"
#include "events/event_log.h"
#include "service/sequencer.h"

namespace {

using namespace latchkey;
using events::Draft;
using events::EventType;

struct Run {
  double rate = 0;        // events (or Puts) per second
  double mean_group = 0;  // events per synced append (latchkey only)
};

// The event a login appends, with realistic field sizes.
Draft token_draft(std::uint64_t n) {
  char jti[33];
  std::snprintf(jti, sizeof jti, "%032llx", static_cast<unsigned long long>(n * 2654435761u));
  char apikey[28];
  std::snprintf(apikey, sizeof apikey, "lk_%024llx", static_cast<unsigned long long>(n % 10000));
  char principal[21];
  std::snprintf(principal, sizeof principal, "usr_%016llx",
                static_cast<unsigned long long>(n % 2000));
  char rid[33];
  std::snprintf(rid, sizeof rid, "%032llx", static_cast<unsigned long long>(n));
  events::TokenIssued t;
  t.jti = jti;
  t.apikey = apikey;
  t.principal_id = principal;
  t.iat = 1'790'000'000;
  t.exp = t.iat + 3600;
  t.kid = "pWQn0VQ3r1Nw9vHnq7yNmCVdH0zX1zQpYbB3Ryy7cB4";
  t.roles = {"user"};
  return Draft{EventType::token_issued, std::move(t),
               events::RequestContext{"anonymous", rid, "127.0.0.1"}};
}

std::size_t stored_size() {
  events::Event e;
  e.seq = 1'000'000;
  e.time = 1'790'000'000'000'000;
  Draft d = token_draft(12345);
  e.type = d.type;
  e.version = events::current_version(d.type);
  e.context = d.context;
  e.data = d.data;
  return events::encode_stored(e).size();
}

Result<Run> run_latchkey(const std::string& dir, int writers, std::chrono::milliseconds duration,
                         const service::Sequencer::Options& options) {
  auto log = events::open_rocksdb_log(dir, events::OpenMode::create_new, events::LogOptions{true});
  if (!log) return log.error();
  SystemClock clock;
  service::Sequencer sequencer(**log, clock, {}, options);
  std::atomic<std::uint64_t> groups{0}, grouped{0};
  sequencer.set_batch_observer([&](std::size_t n, Micros, bool ok) {
    if (!ok) return;
    groups.fetch_add(1);
    grouped.fetch_add(n);
  });
  std::atomic<std::uint64_t> next{1}, done{0};
  std::atomic<bool> failed{false};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < writers; ++i) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const auto deadline = std::chrono::steady_clock::now() + duration;
      std::uint64_t mine = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        const std::uint64_t n = next.fetch_add(1);
        auto r = sequencer.submit_and_wait(service::Sequencer::Isolation::shared,
                                           [n](Micros) -> Result<std::vector<Draft>> {
                                             return std::vector<Draft>{token_draft(n)};
                                           });
        if (!r) {
          failed = true;
          break;
        }
        ++mine;
      }
      done.fetch_add(mine);
    });
  }
  while (ready.load() < writers) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const double seconds = bench::seconds_since(start);
  sequencer.stop();
  if (failed) return make_error(Errc::unavailable, "a latchkey append failed in " + dir);
  Run r;
  r.rate = static_cast<double>(done.load()) / seconds;
  r.mean_group = groups ? static_cast<double>(grouped.load()) / static_cast<double>(groups) : 0;
  return r;
}

Result<Run> run_bare(const std::string& dir, int writers, std::chrono::milliseconds duration,
                     std::size_t value_bytes) {
  events::bench::PutLoopOptions o;
  o.threads = writers;
  o.duration = duration;
  o.value_bytes = value_bytes;
  o.sync = true;
  auto r = events::bench::bare_put_loop(dir, o);
  if (!r) return r.error();
  return Run{static_cast<double>(r->puts) / r->seconds, 0};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_append: latchkey's synced append rate against a bare RocksDB Put loop"};
  std::vector<int> writer_counts = {1, 8, 64};
  double seconds = 3;
  int rounds = 5;
  std::string parent;
  service::Sequencer::Options sequencer_options;
  app.add_option("--writers", writer_counts, "Concurrent writers to measure")->delimiter(',');
  app.add_option("--seconds", seconds, "Length of each measurement")->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds (each runs both sides)")->capture_default_str();
  app.add_option("--dir", parent, "Where to create the databases (default $TMPDIR or /tmp)");
  CLI11_PARSE(app, argc, argv);
  const auto duration = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  const std::size_t value_bytes = stored_size();

  std::printf("# bench_append: %d rounds of %.1f s per side; sync=true; bare value %zu bytes\n",
              rounds, seconds, value_bytes);
  std::printf("%8s %14s %14s %9s %9s %9s   %s\n", "writers", "bare ev/s", "latchkey ev/s", "ratio",
              "min", "max", "latchkey mean group");
  int status = 0;
  for (int writers : writer_counts) {
    std::vector<double> bare, mine, ratios, groups;
    for (int round = 0; round < rounds; ++round) {
      Run b, l;
      auto do_bare = [&]() -> bool {
        bench::ScratchDir dir(parent);
        auto r = run_bare(dir.path() + "/db", writers, duration, value_bytes);
        if (!r) {
          std::fprintf(stderr, "bare: %s (%s)\n", r.error().message.c_str(),
                       r.error().detail.c_str());
          return false;
        }
        b = *r;
        return true;
      };
      auto do_latchkey = [&]() -> bool {
        bench::ScratchDir dir(parent);
        auto r = run_latchkey(dir.path() + "/log", writers, duration, sequencer_options);
        if (!r) {
          std::fprintf(stderr, "latchkey: %s (%s)\n", r.error().message.c_str(),
                       r.error().detail.c_str());
          return false;
        }
        l = *r;
        return true;
      };
      const bool ok = round % 2 == 0 ? (do_bare() && do_latchkey()) : (do_latchkey() && do_bare());
      if (!ok) return 1;
      bare.push_back(b.rate);
      mine.push_back(l.rate);
      ratios.push_back(l.rate / b.rate);
      groups.push_back(l.mean_group);
    }
    const double ratio = bench::median(ratios);
    std::printf("%8d %14.0f %14.0f %8.0f%% %8.0f%% %8.0f%%   %.1f\n", writers, bench::median(bare),
                bench::median(mine), 100 * ratio, 100 * bench::quantile(ratios, 0),
                100 * bench::quantile(ratios, 1), bench::median(groups));
    std::fflush(stdout);
  }
  std::printf("# ratio: median over rounds of (latchkey rate / bare rate) in the same round\n");
  return status;
}
