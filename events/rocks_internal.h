#pragma once
// Internal to events/: the open RocksDB handles, shared by the log and the
// test helpers. Not part of the library's interface.

#include <memory>
#include <string>
#include <vector>

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

struct RocksHandles {
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

Result<std::unique_ptr<RocksHandles>> open_rocksdb_handles(const std::string& dir, OpenMode mode,
                                                           const LogOptions& options);

}  // namespace latchkey::events
