#pragma once
// Internal to events/: the open RocksDB handles, shared by the log and the
// test helpers. Not part of the library's interface.

#include <atomic>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>

#include "base/error.h"
#include "events/event_log.h"

namespace latchkey::events {

// The default project keeps its records unprefixed in the first set ("log"
// ... "snapshots"), as a data directory written before projects existed has
// them; every other log (other projects, the platform's) has the same layout
// in the "p_" set, each key prefixed with its project id and a 0x00 byte.
inline constexpr const char* kColumnFamilies[] = {
    "default",      "log",         "idx_principal", "idx_apikey", "idx_actor",
    "idx_type",     "idx_time",    "snapshots",     "p_log",      "p_idx_principal",
    "p_idx_apikey", "p_idx_actor", "p_idx_type",    "p_idx_time", "p_snapshots"};
inline constexpr std::size_t kLogCf = 1, kIdxPrincipalCf = 2, kIdxApikeyCf = 3, kIdxActorCf = 4,
                             kIdxTypeCf = 5, kIdxTimeCf = 6, kSnapshotsCf = 7;
// Added to one of the above to name its prefixed twin.
inline constexpr std::size_t kPrefixedCfOffset = 7;

// Each log's archive cut: events up to it are in archive segments, and their
// live copies (records and index entries) are dropped by compactions (the
// filter below). Shared by the store and its handles; any thread.
class Cuts {
 public:
  Seq get(std::string_view project) const {
    if (!any_.load(std::memory_order_acquire)) return 0;
    std::shared_lock lock(mu_);
    auto it = cuts_.find(project);
    return it == cuts_.end() ? 0 : it->second;
  }
  void set(std::string_view project, Seq through) {
    std::unique_lock lock(mu_);
    if (through == 0) {
      if (auto it = cuts_.find(project); it != cuts_.end()) cuts_.erase(it);
    } else {
      cuts_.insert_or_assign(std::string(project), through);
    }
    any_.store(!cuts_.empty(), std::memory_order_release);
  }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, Seq, std::less<>> cuts_;  // GUARDED_BY(mu_)
  std::atomic<bool> any_{false};
};

struct RocksHandles {
  // Compaction filters: referenced by the database's options, so they outlive db.
  std::vector<std::unique_ptr<rocksdb::CompactionFilter>> filters;
  std::unique_ptr<rocksdb::Env> env;  // the database's, if not RocksDB's default: outlives db
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  std::string secondary_dir;
  rocksdb::ColumnFamilyHandle* cf(std::size_t i) const { return handles[i]; }
  RocksHandles() = default;
  RocksHandles(const RocksHandles&) = delete;
  RocksHandles& operator=(const RocksHandles&) = delete;
  ~RocksHandles();
};

// `cuts`: where compactions drop archived events (none without).
Result<std::unique_ptr<RocksHandles>> open_rocksdb_handles(
    const std::string& dir, OpenMode mode, const LogOptions& options,
    std::shared_ptr<const Cuts> cuts = nullptr);

}  // namespace latchkey::events
