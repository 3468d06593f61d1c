#pragma once
// The event log: an append-only, hash-chained sequence of events.
//
// This interface is deliberately narrow and free of storage types, so that a
// second implementation (e.g. a replicated log) can slot in beside the RocksDB
// one. Events reach their listeners through the writer (service/), not through
// the log: the log only stores them.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "events/event.h"

namespace latchkey::events {

class PersonalKeys;

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

// What the storage engine is doing, for monitoring (RocksDB's figures for the
// RocksDB log). Figures kept per column family are summed over all of them.
struct StorageStats {
  std::uint64_t memtable_bytes = 0;            // memtables not yet flushed, active and immutable
  std::uint64_t block_cache_bytes = 0;         // the one block cache all column families share
  std::uint64_t pending_compaction_bytes = 0;  // estimated bytes compaction still has to rewrite
  std::uint64_t live_sst_bytes = 0;            // table files of the current version
  bool write_stopped = false;                  // writes wait until flushes or compactions catch up
  std::uint64_t delayed_write_rate = 0;        // bytes/s writes are slowed down to; 0: not slowed
  std::uint64_t running_flushes = 0;
  std::uint64_t running_compactions = 0;
  std::uint64_t write_stall_micros = 0;  // time writes spent delayed or stopped, since the open
};

// Where the log's history is (docs/data-lifecycle.md). Events 1..deleted_through
// are gone (retention deleted their archive segments); deleted_through+1 ..
// archived_through are in archive segments, read transparently; the rest is
// in the live store. pending_through > archived_through while a cut is half
// done: segments written, the live copies not yet removed.
struct History {
  Seq archived_through = 0;
  Digest archived_hash{};  // the hash of event archived_through
  Micros archived_time = 0;
  Seq deleted_through = 0;
  Digest deleted_hash{};    // the hash of event deleted_through: the chain goes on from it
  Micros deleted_time = 0;  // the time of event deleted_through
  Seq pending_through = 0;
  std::uint64_t segments = 0;
  std::uint64_t segment_bytes = 0;
};

struct ArchiveProgress {
  Seq done = 0;   // events written to segments so far by this call
  Seq total = 0;  // events this call writes
};

// Contracts (as RocksDB's db.h states them): every method says what it returns
// on each failure. Thread safety: the const methods and put_snapshot may be
// called from any thread at any time; append and recover only by the one
// appending thread (the Sequencer's writer in a server), never concurrently.
// Failures are values, never exceptions.
class EventLog {
 public:
  virtual ~EventLog() = default;

  // Appends `drafts` as one atomic, durable unit: on success every event is on
  // stable storage (WAL synced) with its index entries, and the committed
  // events are returned with seq, time, version and hashes set. `time` is the
  // writer's clock reading; the log raises it to the previous head's time if
  // needed, so time never decreases. No drafts: an empty result, nothing written.
  // Errors (nothing was appended, the head is unchanged): unavailable when the
  // storage refuses the write or the log is open read-only, or a previous
  // failure left it unwritable until recover(); internal when a draft's data
  // does not match its type.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Result<std::vector<Event>> append(std::span<const Draft> drafts,
                                                          Micros time) = 0;

  // After a failed append, tries to bring the log back to a writable state
  // (RocksDB's Resume(), else closing and reopening the database). On success
  // appends may be retried; the result holds any events the reopened log
  // shows beyond the head known before (a write whose sync failed after its
  // bytes reached the disk), so the caller can apply them. Errors:
  // unavailable when the log still cannot be opened for writing (readers keep
  // working on a read-only stand-in), corruption when its last record does not
  // decode. A read-only log returns no events.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Result<std::vector<Event>> recover() = 0;

  // The newest committed event's seq, time and hash (all zero for an empty
  // log). Never fails; any thread.
  [[nodiscard]] virtual Head head() const = 0;

  // One event. Errors: not_found past the head (or for seq 0); corruption if
  // its record does not decode; unavailable if the storage cannot be read.
  [[nodiscard]] virtual Result<Event> get(Seq seq) const = 0;

  // Calls `fn` for each event with from <= seq <= to, in order, until it
  // returns false. Errors: corruption at the first record that does not
  // decode (fn has seen the events before it); unavailable on a read error.
  [[nodiscard]] virtual Status scan(Seq from, Seq to,
                                    const std::function<bool(const Event&)>& fn) const = 0;

  // scan() for a read that visits each record once and keeps what it needs
  // (a rebuild of the views): a storage with a block cache leaves these
  // blocks out of it, so loading thousands of projects does not fill the
  // cache (memory that stays) with blocks nobody reads again. Sealed source
  // addresses are not opened (they read "[sealed]"): the views never keep them.
  [[nodiscard]] virtual Status scan_once(Seq from, Seq to,
                                         const std::function<bool(const Event&)>& fn) const {
    return scan(from, to, fn);
  }

  // Raw records, for verification: (key as stored, value as stored), in key
  // order, until `fn` returns false. Errors: unavailable on a read error.
  [[nodiscard]] virtual Status scan_raw(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;

  // Walks an index for `key` (a principal id, an apikey, an actor, or a type
  // name; the actor index holds no events of kAnonymousActor) starting at `from` (inclusive; 0 with
  // backward means from the end), until `fn` returns false. Cost is proportional to the entries
  // visited. Errors: invalid_request for a type name that is not one; corruption for an entry that
  // does not decode; unavailable on a read error.
  [[nodiscard]] virtual Status scan_index(
      Index index, std::string_view key, Seq from, Direction dir,
      const std::function<bool(const IndexEntry&)>& fn) const = 0;

  // The last sequence number whose time is <= t (0 if none). Errors:
  // unavailable on a read error.
  [[nodiscard]] virtual Result<Seq> seq_at_time(Micros t) const = 0;

  // Stores a snapshot of the views as of s.seq, durably, beside the log; a
  // snapshot for the same seq is replaced. Errors: unavailable when it cannot
  // be written (the log itself is unaffected). Any thread.
  [[nodiscard]] virtual Status put_snapshot(const Snapshot& s) = 0;
  // The newest snapshot with seq <= at, if any. Errors: unavailable on a read
  // error.
  [[nodiscard]] virtual Result<std::optional<Snapshot>> find_snapshot(Seq at) const = 0;
  // Calls `edit` with each snapshot, oldest first; where it returns new
  // bytes, the snapshot is replaced, and then no file of the storage keeps
  // the old bytes (RocksDB: the snapshots' key range is compacted, even when
  // nothing changed, so a repeat finishes a rewrite a crash stopped). For an
  // erasure: a snapshot must not keep what the log no longer shows. Errors:
  // unavailable when a snapshot cannot be read, written or compacted. Any
  // thread, but not concurrently with put_snapshot (the Snapshotter's lock).
  [[nodiscard]] virtual Status rewrite_snapshots(
      const std::function<std::optional<std::string>(Seq, std::string_view)>& /*edit*/) {
    return {};
  }

  // The storage engine's figures, read without waiting for the appending
  // thread (cheap enough for every metrics scrape). nullopt when there are
  // none: a log not backed by RocksDB (this default, kept by test doubles),
  // or one being reopened by recover(). Any thread.
  [[nodiscard]] virtual std::optional<StorageStats> storage_stats() const { return std::nullopt; }

  // A reader opened read-only catches up with a writer in another process
  // (head() then shows the writer's newest synced events). A no-op for the
  // writer itself. Errors: unavailable when it cannot catch up (the reader
  // keeps what it had). Any thread.
  [[nodiscard]] virtual Status refresh() = 0;

  // ---- the log's life (docs/data-lifecycle.md) ----
  // Where the history is. Never fails; any thread.
  [[nodiscard]] virtual History history() const { return {}; }
  // Writes events max(archived, pending)+1 .. through to archive segments,
  // durably, leaving the live store as it is (a cut follows). Returns the
  // new pending_through. Errors: invalid_request past the head; corruption
  // when the chain does not link; unavailable on I/O errors or for a log
  // that keeps no archives. Any thread, one archiving at a time.
  [[nodiscard]] virtual Result<Seq> write_archive(
      Seq /*through*/, const std::function<void(const ArchiveProgress&)>& /*progress*/ = {}) {
    return make_error(Errc::unavailable, "this log keeps no archives");
  }
  // Removes from the live store what the written segments hold (events and
  // their index entries, through pending_through); reads go to the segments
  // from then on, and the space comes back as the storage compacts. Errors:
  // unavailable on a write error (reads are unaffected; a repeat finishes
  // it). Any thread, one archiving at a time.
  [[nodiscard]] virtual Status cut_archived() {
    return make_error(Errc::unavailable, "this log keeps no archives");
  }
  // The last event of an archived segment that is <= at_most (0: none):
  // how far delete_archived(at_most) deletes. Never fails; any thread.
  [[nodiscard]] virtual Seq archive_boundary(Seq /*at_most*/) const { return 0; }
  // Deletes the archive segments whose events are all <= through (retention):
  // the events are gone, and deleted_through moves to the last one deleted.
  // Returns the events deleted. Errors: unavailable on I/O errors.
  [[nodiscard]] virtual Result<Seq> delete_archived(Seq /*through*/) {
    return make_error(Errc::unavailable, "this log keeps no archives");
  }

  // From now on, appends seal personal data with `keys` and reads open it
  // (events/personal.h). Without keys (the default) it is written in clear,
  // and sealed data reads "[sealed]". Any thread.
  virtual void set_personal_keys(std::shared_ptr<PersonalKeys> /*keys*/) {}
  // The keys set last; null if none. Any thread.
  [[nodiscard]] virtual std::shared_ptr<PersonalKeys> personal_keys() const { return nullptr; }
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
  // Where archive segments are (one directory per project inside); empty:
  // "archive" beside the log's directory.
  std::string archive_dir;
  // At most this many events per archive segment (a read decompresses one).
  Seq archive_segment_events = 100'000;
};

// Opens the RocksDB-backed log of the default project under `dir` (the
// store's other logs are reachable through open_rocksdb_store). Errors: exists (create_new on a
// log), not_found (no log), unavailable (locked by another writer, or I/O),
// corruption (the last record does not decode, when opened for writing).
[[nodiscard]] Result<std::unique_ptr<EventLog>> open_rocksdb_log(const std::string& dir,
                                                                 OpenMode mode,
                                                                 const LogOptions& options = {});

}  // namespace latchkey::events

namespace latchkey::events {

// The logs of every project, in one storage (see docs/projects.md).
//
// Each project has its own dense sequence and its own hash chain, so it can
// be verified, exported and dropped on its own; one append can still span
// many projects, as one atomic, durable unit (one sync for all of them: the
// group commit of a server serving many projects). The platform's own chain
// is the log of kPlatformLog. Free of storage types, like EventLog: the
// project is the unit a replicated store partitions by.
inline constexpr std::string_view kDefaultProject = "default";
// Not a valid project id (project ids are DNS labels), so never a project's.
inline constexpr std::string_view kPlatformLog = "_platform";

class EventStore {
 public:
  virtual ~EventStore() = default;

  // The log of `project` (empty until its first append). The reference stays
  // valid as long as the store. Any thread.
  [[nodiscard]] virtual EventLog& log(std::string_view project) = 0;

  struct Part {
    EventLog* log = nullptr;  // one of this store's logs, at most once per append
    std::span<const Draft> drafts;
    // prepare() only: the head to follow instead of the log's own, when
    // events prepared before are not written yet (a pipelined writer).
    std::optional<Head> after;
  };
  // Appends each part to its log, all as one atomic, durable unit: on
  // success, the committed events of each part, in the order of `parts`.
  // Errors as EventLog::append; nothing of any part was appended.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Result<std::vector<std::vector<Event>>> append(std::span<const Part> parts,
                                                                       Micros time) = 0;

  // ---- pipelined appends (service::Sequencer) ----
  // A group sent and not yet completed.
  class Sent {
   public:
    virtual ~Sent() = default;
  };
  // How many groups may be sent before the oldest one is completed.
  [[nodiscard]] virtual std::size_t max_in_flight() const { return 1; }
  // Starts the append of `parts` (their drafts stay alive until complete()),
  // after every group sent before. Never fails: an error comes out of
  // complete(). REQUIRES: the writer thread (one thread sends).
  [[nodiscard]] virtual std::unique_ptr<Sent> send(std::span<const Part> parts, Micros time) {
    return std::make_unique<Deferred>(parts, time);
  }
  // Completes the oldest group sent and not completed, as append() would:
  // its result. After a failure, every group sent later fails too, until
  // recover(). REQUIRES: the appending thread (one thread completes).
  [[nodiscard]] virtual Result<std::vector<std::vector<Event>>> complete(Sent& sent) {
    auto& d = static_cast<Deferred&>(sent);
    return append(d.parts, d.time);
  }

  // ---- what a replicated log builds on (docs/cluster.md) ----
  // A group commit made ready but not written: each part's events as
  // append() would commit them now (seq, time, hashes; personal data sealed)
  // and their stored bytes. Both a writer's local append and a block that a
  // node receives are written from this form, so every node stores the very
  // same bytes.
  struct PreparedPart {
    EventLog* log = nullptr;
    std::vector<Event> events;
    std::vector<std::string> records;  // the stored bytes of each event
  };
  // Where a node is in the replicated log: the last block it applied.
  struct ReplicaPosition {
    std::uint64_t block = 0;  // the block's sequence in the replicated log; 0: none
    Digest hash{};            // the block's hash
  };
  // The events append(parts, time) would commit, written nowhere; an empty
  // part stays empty. Errors as append(); nothing was written.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Result<std::vector<PreparedPart>> prepare(std::span<const Part> /*parts*/,
                                                                  Micros /*time*/) {
    return make_error(Errc::unavailable, "this store cannot be replicated");
  }
  // Writes prepared (or received) events as one atomic, durable unit, with
  // `position` when given. Each part's first event must follow its log's
  // head (the next seq, the head's hash as its previous hash). Errors:
  // conflict when a part does not follow its log's head (nothing written);
  // unavailable as append().
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Status write_prepared(std::span<const PreparedPart> /*parts*/,
                                              const std::optional<ReplicaPosition>& /*position*/) {
    return make_error(Errc::unavailable, "this store cannot be replicated");
  }
  // The position written last by write_prepared (none for a node that
  // never applied a block). Errors: unavailable on a read error.
  [[nodiscard]] virtual Result<ReplicaPosition> replica_position() const {
    return ReplicaPosition{};
  }

  // As EventLog::recover, for every log of the store: the events found
  // beyond the heads known before, per log. Nothing is in flight.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> recover() = 0;

  // Removes every record of `project` (events, index entries, snapshots),
  // durably; its log is empty afterwards. Errors: invalid_request for the
  // default project, whose records have no prefix to remove by (they stay
  // where a data directory from before projects has them); unavailable on a
  // write error.
  // REQUIRES: the appending thread.
  [[nodiscard]] virtual Status drop(std::string_view project) = 0;

  // The projects that hold at least one event (the platform's log included),
  // in id order. Errors: unavailable on a read error.
  [[nodiscard]] virtual Result<std::vector<std::string>> projects() const = 0;

  [[nodiscard]] virtual std::optional<StorageStats> storage_stats() const = 0;
  // As EventLog::refresh, for every log.
  [[nodiscard]] virtual Status refresh() = 0;

 protected:
  // The default send(): nothing happens until complete() appends.
  struct Deferred final : Sent {
    Deferred(std::span<const Part> p, Micros t) : parts(p.begin(), p.end()), time(t) {}
    std::vector<Part> parts;
    Micros time;
  };
};

// Opens the RocksDB store under `dir`; errors as open_rocksdb_log.
[[nodiscard]] Result<std::unique_ptr<EventStore>> open_rocksdb_store(
    const std::string& dir, OpenMode mode, const LogOptions& options = {});

// Copies the log in `from_dir` into the new directory `to_dir` (which must not
// exist). With no other process holding the log this is a RocksDB checkpoint
// (hard links where possible); while a server runs, it is a consistent copy of
// every record up to the head, made through a reader, with indexes and
// snapshots rebuilt beside it, and a cluster node's position in the
// replicated log as of the same instant. `how` says which was done; `progress` is
// called as events are copied (the copy only: a checkpoint is instant).
[[nodiscard]] Status backup_rocksdb_log(
    const std::string& from_dir, const std::string& to_dir, std::string* how = nullptr,
    const std::function<void(Seq copied, Seq total)>& progress = {});

}  // namespace latchkey::events
