#pragma once
// The bare RocksDB baseline of bench/append_bench: the same database options as
// the event log, no latchkey code on the write path, just N threads each doing
// DB::Put with WriteOptions::sync. Lives in events/ because only events/ may
// include RocksDB headers; built as its own library (latchkey_events_bench),
// used by the benchmarks only, never by the product.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"

namespace latchkey::events::bench {

struct PutLoopOptions {
  int threads = 1;
  std::chrono::milliseconds duration{2000};
  std::size_t value_bytes = 256;
  bool sync = true;
};

struct PutLoopResult {
  std::uint64_t puts = 0;  // Puts that returned OK before the deadline
  double seconds = 0;      // from the common start to the last thread's exit
};

// Creates a new database in `dir` (which must not hold one) with the options
// open_rocksdb_log uses, then runs `threads` threads, each doing
// Put(log column family, unique big-endian key, value of `value_bytes`) with
// WriteOptions::sync = `sync` until `duration` has passed. RocksDB's own write
// grouping lets concurrent synced Puts share one WAL sync. Errors:
// unavailable (cannot create or write the database). Blocking; any thread.
Result<PutLoopResult> bare_put_loop(const std::string& dir, const PutLoopOptions& options);

}  // namespace latchkey::events::bench
