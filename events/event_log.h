#pragma once
// The event log: an append-only, hash-chained sequence of events.
//
// This interface is deliberately narrow and free of storage types, so that a
// second implementation (e.g. a replicated log) can slot in beside the RocksDB
// one. Thread-safety: every const method may be called from any thread at any
// time; `append` must be called by one thread at a time (the Sequencer's
// writer thread in a server).

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "events/error.h"
#include "events/event.h"

namespace latchkey::events {

struct Head {
  Seq seq = 0;  // 0: empty log
  Micros time = 0;
  Digest hash{};  // all zero for an empty log
};

// Secondary indexes. Each maps a key to the sequence numbers of the events
// that concern it, in order, with the event's type and time beside them so a
// filter on type or time costs nothing more.
enum class Index { principal, apikey, actor, type };

struct IndexEntry {
  Seq seq = 0;
  EventType type = EventType::system_initialized;
  Micros time = 0;
};

enum class Direction { forward, backward };

struct Snapshot {
  Seq seq = 0;
  std::string bytes;
};

class EventLog {
 public:
  virtual ~EventLog() = default;

  // Appends `drafts` as one atomic, durable unit: on success every event is on
  // stable storage (WAL synced) with its index entries, and the committed
  // events are returned with seq, time, version and hashes set. `time` is the
  // writer's clock reading; the log raises it to the previous head's time if
  // needed, so time never decreases. On failure nothing was appended and the
  // error is Errc::unavailable. REQUIRES: one caller at a time.
  virtual Result<std::vector<Event>> append(std::span<const Draft> drafts, Micros time) = 0;

  // After a failed append, tries to bring the log back to a writable state
  // (RocksDB's Resume(), else closing and reopening the database). On success
  // appends may be retried; the result holds any events the reopened log
  // shows beyond the head known before (a write whose sync failed after its
  // bytes reached the disk), so the caller can apply them. REQUIRES: the
  // appending thread.
  virtual Result<std::vector<Event>> recover() = 0;

  virtual Head head() const = 0;
  virtual bool read_only() const = 0;

  // One event. not_found past the head; corruption if it does not decode.
  virtual Result<Event> get(Seq seq) const = 0;

  // Calls `fn` for each event with from <= seq <= to, in order, until it
  // returns false. Stops with corruption at the first record that does not decode.
  virtual Status scan(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const = 0;

  // Raw records, for verification: (key as stored, value as stored), in key order.
  virtual Status scan_raw(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;

  // Walks an index for `key` (a principal id, an apikey, an actor, or a type
  // name) starting at `from` (inclusive; 0 with backward means from the end),
  // until `fn` returns false. Cost is proportional to the entries visited.
  virtual Status scan_index(Index index, std::string_view key, Seq from, Direction dir,
                            const std::function<bool(const IndexEntry&)>& fn) const = 0;

  // The last sequence number whose time is <= t (0 if none).
  virtual Result<Seq> seq_at_time(Micros t) const = 0;

  // View snapshots, stored beside the log.
  virtual Status put_snapshot(const Snapshot& s) = 0;
  // The newest snapshot with seq <= at, if any.
  virtual Result<std::optional<Snapshot>> find_snapshot(Seq at) const = 0;

  // A follower (offline reader) catches up with a writer in another process.
  // A no-op for the writer itself.
  virtual Status refresh() = 0;

  // Called after every successful append, on the appending thread, with the
  // committed events: the live tail that in-process projections follow.
  virtual void subscribe(std::function<void(std::span<const Event>)> fn) = 0;
};

enum class OpenMode {
  create_new,  // the directory must not hold a log; creates one
  read_write,  // the directory must hold a log
  read_only,   // never writes; works while another process writes
};

struct LogOptions {
  bool sync = true;  // WAL synced before append returns (never off outside benchmarks)
  std::size_t block_cache_bytes = 64u << 20;
  // Each column family's memtable: when one is full it is flushed to a table
  // file. RocksDB's own default; tests make it tiny so flushes are frequent.
  std::size_t write_buffer_bytes = 64u << 20;
};

// Opens the RocksDB-backed log under `dir`. Errors: exists (create_new on a
// log), not_found (no log), unavailable (locked by another writer, or I/O).
Result<std::unique_ptr<EventLog>> open_rocksdb_log(const std::string& dir, OpenMode mode,
                                                   const LogOptions& options = {});

}  // namespace latchkey::events

namespace latchkey::events {

// Copies the log in `from_dir` into the new directory `to_dir` (which must not
// exist). With no other process holding the log this is a RocksDB checkpoint
// (hard links where possible); while a server runs, it is a consistent copy of
// every record up to the head, made through a reader, with indexes and
// snapshots rebuilt beside it. `how` says which was done.
Status backup_rocksdb_log(const std::string& from_dir, const std::string& to_dir,
                          std::string* how = nullptr);

}  // namespace latchkey::events
