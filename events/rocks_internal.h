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

inline constexpr const char* kColumnFamilies[] = {"default",    "log",       "idx_principal",
                                                  "idx_apikey", "idx_actor", "idx_type",
                                                  "idx_time",   "snapshots"};
inline constexpr std::size_t kLogCf = 1, kIdxPrincipalCf = 2, kIdxApikeyCf = 3, kIdxActorCf = 4,
                             kIdxTypeCf = 5, kIdxTimeCf = 6, kSnapshotsCf = 7;

struct RocksHandles {
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
