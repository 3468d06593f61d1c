// bench_audit: filtered audit pages and replay of the state at a random
// instant on a large log (issue 5).
//
// The log (default 10 million events of the realistic mix of bench/datagen.h,
// a snapshot every 100,000 events) is generated once into --dir and reused by
// later runs with the same parameters. Then, on the log opened as the server
// opens it:
//   - audit pages of 100 events (replay::audit_page) filtered by apikey and by
//     principal, for random keys and principals, half newest-first and half
//     ascending from a random point of the log; p50, p99, max;
//   - replay::state_at (views and live tokens) at random instants between the first and the
//     last event (nearest snapshot + tail); p50, p99, max; and the JSON of
//     that state (replay::state_json), as GET /iam/replay/state renders it.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <random>

#include "bench/bench_log.h"
#include "bench/bench_util.h"
#include "http/render.h"
#include "replay/queries.h"
#include "replay/rebuild.h"

namespace {

using namespace latchkey;

int fail(const Error& e) {
  std::fprintf(stderr, "bench_audit: %s %s\n", e.message.c_str(), e.detail.c_str());
  return 1;
}

void report(const char* what, const std::vector<double>& ms, const std::vector<double>& cpu_ms,
            double mean_events) {
  std::printf(
      "%-36s n=%-5zu p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  | CPU p50 %7.3f ms  p99 %7.3f ms  "
      "(%.0f events/page)\n",
      what, ms.size(), bench::quantile(ms, 0.50), bench::quantile(ms, 0.99),
      bench::quantile(ms, 1.0), bench::quantile(cpu_ms, 0.5), bench::quantile(cpu_ms, 0.99),
      mean_events);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_audit: audit pages and replay at an instant on a large log"};
  bench::GenOptions g;
  g.events = 10'000'000;
  g.keys = 20'000;
  g.snapshot_every = 100'000;
  std::string dir;
  int pages = 2000;
  int replays = 100;
  std::uint64_t seed = 7;
  app.add_option("--events", g.events, "Events in the generated log")->capture_default_str();
  app.add_option("--keys", g.keys, "API keys in the generated log")->capture_default_str();
  app.add_option("--snapshot-every", g.snapshot_every, "Snapshot interval")->capture_default_str();
  app.add_option("--dir", dir, "Where the log is generated and reused")->required();
  app.add_option("--pages", pages, "Audit pages per filter")->capture_default_str();
  app.add_option("--replays", replays, "Replays at random instants")->capture_default_str();
  app.add_option("--seed", seed, "Seed of the random choices")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto how = bench::ensure_log(dir, g);
  if (!how) return fail(how.error());
  std::printf("log: %s\n", how->c_str());

  auto opened = events::open_rocksdb_log(dir + "/log", events::OpenMode::read_write);
  if (!opened) return fail(opened.error());
  const events::EventLog& log = **opened;
  const events::Head head = log.head();

  // Every key and principal, from the key.created events (read through the type index).
  std::vector<std::string> keys, principals;
  {
    std::vector<events::Seq> seqs;
    auto st = log.scan_index(events::Index::type, "key.created", 0, events::Direction::forward,
                             [&](const events::IndexEntry& e) {
                               seqs.push_back(e.seq);
                               return true;
                             });
    if (!st) return fail(st.error());
    for (auto s : seqs) {
      auto e = log.get(s);
      if (!e) return fail(e.error());
      const auto& d = std::get<events::KeyCreated>(e->data);
      keys.push_back(d.apikey);
      if (principals.empty() || principals.back() != d.principal_id)
        principals.push_back(d.principal_id);
    }
  }
  auto first = log.get(1);
  if (!first) return fail(first.error());
  std::printf("opened: %llu events, %zu keys, %zu principals with keys, %s .. %s\n",
              static_cast<unsigned long long>(head.seq), keys.size(), principals.size(),
              format_rfc3339_seconds(first->time).c_str(),
              format_rfc3339_seconds(head.time).c_str());

  std::mt19937_64 rng(seed);
  auto audit = [&](const char* what, const std::vector<std::string>& subjects, bool by_key,
                   bool descending) -> int {
    std::vector<double> ms, cpu_ms;
    std::uint64_t returned = 0;
    for (int i = 0; i < pages; ++i) {
      replay::AuditFilter f;
      const std::string& s = subjects[rng() % subjects.size()];
      (by_key ? f.apikey : f.principal_id) = s;
      f.limit = 100;
      f.descending = descending;
      if (!descending) f.after = rng() % head.seq;
      const auto start = std::chrono::steady_clock::now();
      const double cpu_start = bench::thread_cpu_seconds();
      auto page = replay::audit_page(log, f);
      cpu_ms.push_back((bench::thread_cpu_seconds() - cpu_start) * 1000);
      ms.push_back(bench::seconds_since(start) * 1000);
      if (!page) return fail(page.error());
      returned += page->events.size();
    }
    report(what, ms, cpu_ms, static_cast<double>(returned) / pages);
    return 0;
  };
  if (audit("audit by apikey, newest first", keys, true, true)) return 1;
  if (audit("audit by apikey, from a random seq", keys, true, false)) return 1;
  if (audit("audit by principal, newest first", principals, false, true)) return 1;
  if (audit("audit by principal, from random seq", principals, false, false)) return 1;

  std::vector<double> rebuild_ms, rebuild_cpu_ms, json_ms;
  std::uint64_t live = 0;
  std::uniform_int_distribution<Micros> instant(first->time, head.time);
  for (int i = 0; i < replays; ++i) {
    const Micros t = instant(rng);
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = bench::thread_cpu_seconds();
    auto seq = log.seq_at_time(t);
    if (!seq) return fail(seq.error());
    auto state = replay::state_at(log, replay::Point{*seq, t});
    rebuild_cpu_ms.push_back((bench::thread_cpu_seconds() - cpu_start) * 1000);
    rebuild_ms.push_back(bench::seconds_since(start) * 1000);
    if (!state) return fail(state.error());
    live += state->live_tokens.size();
    const auto json_start = std::chrono::steady_clock::now();
    const std::string body = http::state_json(*state, t).dump();
    json_ms.push_back(bench::seconds_since(json_start) * 1000);
    if (body.empty()) return 1;
  }
  std::printf(
      "%-36s n=%-5zu p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  | CPU p50 %7.1f ms  p99 %7.1f ms  "
      "(%.0f live tokens)\n",
      "replay state at a random instant", rebuild_ms.size(), bench::quantile(rebuild_ms, 0.5),
      bench::quantile(rebuild_ms, 0.99), bench::quantile(rebuild_ms, 1.0),
      bench::quantile(rebuild_cpu_ms, 0.5), bench::quantile(rebuild_cpu_ms, 0.99),
      static_cast<double>(live) / replays);
  std::printf("%-36s n=%-5zu p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n",
              "  then its JSON (state_json)", json_ms.size(), bench::quantile(json_ms, 0.5),
              bench::quantile(json_ms, 0.99), bench::quantile(json_ms, 1.0));
  return 0;
}
