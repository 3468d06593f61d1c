#include "events/bench_baseline.h"

#include <atomic>
#include <thread>
#include <vector>

#include <rocksdb/db.h>

#include "events/binary.h"
#include "events/rocks_internal.h"

namespace latchkey::events::bench {

Result<PutLoopResult> bare_put_loop(const std::string& dir, const PutLoopOptions& o) {
  auto h = open_rocksdb_handles(dir, OpenMode::create_new, LogOptions{o.sync});
  if (!h) return h.error();
  rocksdb::DB* db = (*h)->db.get();
  rocksdb::ColumnFamilyHandle* cf = (*h)->cf(kLogCf);
  rocksdb::WriteOptions wo;
  wo.sync = o.sync;
  const std::string value(o.value_bytes, 'v');

  std::atomic<std::uint64_t> next_key{1};
  std::atomic<std::uint64_t> puts{0};
  std::atomic<bool> failed{false};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(o.threads));
  for (int i = 0; i < o.threads; ++i) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const auto deadline = std::chrono::steady_clock::now() + o.duration;
      std::uint64_t mine = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        const std::string key = bin::be64(next_key.fetch_add(1));
        if (!db->Put(wo, cf, key, value).ok()) {
          failed = true;
          break;
        }
        ++mine;
      }
      puts.fetch_add(mine);
    });
  }
  while (ready.load() < o.threads) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  PutLoopResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.puts = puts.load();
  if (failed) return make_error(Errc::unavailable, "a bare RocksDB Put failed in " + dir);
  return r;
}

}  // namespace latchkey::events::bench
