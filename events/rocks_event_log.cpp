// The RocksDB implementation of EventLog: the only code in latchkey that
// includes RocksDB headers (with events/testing.cpp).
//
// Column families and key layout (see docs/architecture.md):
//   log            be64(seq)                      -> stored event (codec.h)
//   idx_principal  principal_id 0x00 be64(seq)    -> be16(type) be64(time)
//   idx_apikey     apikey 0x00 be64(seq)          -> be16(type) be64(time)
//   idx_actor      actor 0x00 be64(seq)           -> be16(type) be64(time)
//   idx_type       be16(type) be64(seq)           -> be64(time)
//   idx_time       be64(time) be64(last seq of the batch) -> ""
//   snapshots      be64(seq)                      -> view snapshot bytes
//   default        "format" -> "1"
//                  "archive" 0x00 project -> the log's History (archived,
//                  deleted and index-cleaned through; see encode_history)
//
// Archived events live in segment files beside the database (archive.h);
// the live store keeps only what follows the cut.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <tuple>

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include "base/durable_dirs.h"
#include "base/parse.h"
#include "events/archive.h"
#include "events/binary.h"
#include "events/codec.h"
#include "events/event_log.h"
#include "events/personal.h"
#include "events/rocks_internal.h"

namespace latchkey::events {
namespace {

namespace fs = std::filesystem;

// RocksDB's own LOG writer asserts (Debian's librocksdb keeps assertions)
// when it writes again after a failed write: on a full disk, the next
// message, or closing the database to recover, ended the server. This one
// writes the same LOG file with plain stdio and ignores failures, keeping
// one previous generation (LOG.old), each up to kMaxBytes.
class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(std::string dir)
      : Logger(rocksdb::InfoLogLevel::INFO_LEVEL), dir_(std::move(dir)) {}
  ~InfoLog() override {
    if (f_) std::fclose(f_);
  }
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    std::lock_guard lock(mu_);
    if (!f_) f_ = std::fopen((dir_ + "/LOG").c_str(), "a");
    if (!f_) return;
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d-%H:%M:%S ", &tm);
    std::fputs(stamp, f_);
    std::vfprintf(f_, format, ap);
    std::fputc('\n', f_);
    std::fflush(f_);
    if (std::ftell(f_) > kMaxBytes) {
      std::fclose(f_);
      f_ = nullptr;
      std::rename((dir_ + "/LOG").c_str(), (dir_ + "/LOG.old").c_str());
    }
  }

 private:
  static constexpr long kMaxBytes = 8L << 20;
  std::string dir_;
  std::mutex mu_;
  std::FILE* f_ = nullptr;  // GUARDED_BY(mu_)
};

// Scans longer than this many events bypass the block cache.
constexpr Seq kLongScan = 10'000;

// Drops the live copies of archived events (records and index entries: every
// key of the log's families ends with the event's seq) when a compaction
// meets them: no deletion goes through the write path that logins wait on.
class ArchivedFilter final : public rocksdb::CompactionFilter {
 public:
  ArchivedFilter(std::shared_ptr<const Cuts> cuts, bool prefixed)
      : cuts_(std::move(cuts)), prefixed_(prefixed) {}
  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& /*value*/,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    const std::string_view k = key.ToStringView();
    if (k.size() < 8) return false;
    std::string_view project = kDefaultProject;
    if (prefixed_) {
      const auto nul = k.find('\0');
      if (nul == std::string_view::npos) return false;
      project = k.substr(0, nul);
    }
    const Seq cut = cuts_->get(project);
    return cut != 0 && bin::read_be64(k.substr(k.size() - 8)) <= cut;
  }
  const char* Name() const override { return "latchkey.ArchivedFilter"; }

 private:
  std::shared_ptr<const Cuts> cuts_;
  bool prefixed_;
};

Error from_status(const rocksdb::Status& s, Errc code, const std::string& what) {
  return make_error(code, what, s.ToString());
}

std::string index_key(std::string_view key, Seq seq) {
  std::string k;
  k.reserve(key.size() + 9);
  k.append(key);
  k.push_back('\0');
  k.append(bin::be64(seq));
  return k;
}

std::string type_prefix(EventType t) {
  bin::Writer w;
  w.u16(static_cast<std::uint16_t>(t));
  return w.take();
}

std::string index_value(EventType t, Micros time) {
  bin::Writer w;
  w.u16(static_cast<std::uint16_t>(t));
  w.u64(static_cast<std::uint64_t>(time));
  return w.take();
}

// Memtable insert hints. Every column family is written in key order within a
// prefix: the log and the time index by sequence, the type index by sequence
// within a 2-byte type, the subject indexes by sequence after "subject\0".
// RocksDB keeps the insert position of each prefix, so an append that
// continues a prefix skips the skip-list search. In the prefixed ("p_")
// families every key starts with "project\0" first.
//
// RocksDB 7.8 keeps one hint per prefix for a memtable's point entries and
// its range deletions alike, and a hint of the one used in the other breaks
// the skip list. So in the prefixed families, where a dropped project leaves
// a range deletion that starts at "project\0", a key is in the domain only
// if something follows its prefix: the range's bounds never take a hint.
class UpToNul final : public rocksdb::SliceTransform {
 public:
  // Up to and including the `nuls`-th 0x00 byte, then `extra` bytes more.
  UpToNul(int nuls, std::size_t extra, bool prefixed)
      : nuls_(nuls),
        extra_(extra),
        prefixed_(prefixed),
        name_("latchkey.UpToNul." + std::to_string(nuls) + "." + std::to_string(extra) +
              (prefixed ? ".p" : "")) {}
  const char* Name() const override { return prefixed_ ? name_.c_str() : "latchkey.UpToNul"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), *end_of(key)};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    const auto end = end_of(key);
    return end && (!prefixed_ || *end < key.size());
  }

 private:
  std::optional<std::size_t> end_of(const rocksdb::Slice& key) const {
    std::size_t at = 0;
    for (int i = 0; i < nuls_; ++i) {
      const auto* nul =
          static_cast<const char*>(std::memchr(key.data() + at, '\0', key.size() - at));
      if (nul == nullptr) return std::nullopt;
      at = static_cast<std::size_t>(nul - key.data()) + 1;
    }
    if (key.size() - at < extra_) return std::nullopt;
    return at + extra_;
  }
  int nuls_;
  std::size_t extra_;
  bool prefixed_;
  std::string name_;
};

std::shared_ptr<const rocksdb::SliceTransform> insert_hint_prefix(std::size_t cf) {
  const bool prefixed = cf > kSnapshotsCf;
  const int p = prefixed ? 1 : 0;
  switch (prefixed ? cf - kPrefixedCfOffset : cf) {
    case kIdxPrincipalCf:
    case kIdxApikeyCf:
    case kIdxActorCf: return std::make_shared<UpToNul>(1 + p, 0, prefixed);
    case kIdxTypeCf:
      if (prefixed) return std::make_shared<UpToNul>(1, 2, true);
      return std::shared_ptr<const rocksdb::SliceTransform>(rocksdb::NewFixedPrefixTransform(2));
    case kLogCf:
    case kIdxTimeCf:
      if (prefixed) return std::make_shared<UpToNul>(1, 0, true);
      return std::shared_ptr<const rocksdb::SliceTransform>(rocksdb::NewFixedPrefixTransform(0));
    default: return nullptr;
  }
}

class RocksStore;

// One project's log: its records in the store, under its prefix.
class ProjectLog final : public EventLog {
 public:
  ProjectLog(RocksStore& store, std::string project, bool unprefixed)
      : store_(store),
        project_(std::move(project)),
        prefix_(unprefixed ? std::string() : project_ + '\0'),
        cf_offset_(unprefixed ? 0 : kPrefixedCfOffset) {}

  Result<std::vector<Event>> append(std::span<const Draft> drafts, Micros time) override;
  Result<std::vector<Event>> recover() override;
  Head head() const override {
    std::lock_guard lock(head_mu_);
    return head_;
  }
  Result<Event> get(Seq seq) const override;
  Status scan(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    return scan(from, to, to - from < kLongScan, Opening::all, fn);
  }
  Status scan_once(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    return scan(from, to, false, Opening::data_only, fn);
  }
  Status scan_raw(const std::function<bool(std::string_view, std::string_view)>& fn) const override;
  Status scan_index(Index index, std::string_view key, Seq from, Direction dir,
                    const std::function<bool(const IndexEntry&)>& fn) const override;
  Result<Seq> seq_at_time(Micros t) const override;
  Status put_snapshot(const Snapshot& s) override;
  Result<std::optional<Snapshot>> find_snapshot(Seq at) const override;
  Status rewrite_snapshots(
      const std::function<std::optional<std::string>(Seq, std::string_view)>& edit) override;
  std::optional<StorageStats> storage_stats() const override;
  Status refresh() override;
  void set_personal_keys(std::shared_ptr<PersonalKeys> keys) override {
    keys_.store(std::move(keys));
  }
  History history() const override {
    std::shared_lock lock(cut_mu_);
    return history_;
  }
  Result<Seq> write_archive(Seq through,
                            const std::function<void(const ArchiveProgress&)>& progress) override;
  Status cut_archived() override;
  Result<Seq> delete_archived(Seq through) override;
  // Whether this log can be written now. REQUIRES: the handles lock.
  Status writable() const;
  Seq archive_boundary(Seq at_most) const override {
    std::shared_lock lock(cut_mu_);
    Seq out = 0;
    for (const auto& s : segments_) {
      if (s.last > at_most || s.last > history_.archived_through) break;
      out = s.last;
    }
    return out;
  }

  // ---- for the store ----
  std::shared_ptr<PersonalKeys> personal_keys() const override { return keys_.load(); }
  Status scan(Seq from, Seq to, bool fill_cache, Opening opening,
              const std::function<bool(const Event&)>& fn) const;
  const std::string& project() const { return project_; }
  bool unprefixed() const { return prefix_.empty(); }
  std::size_t cf(std::size_t legacy) const { return legacy + cf_offset_; }
  std::string key(std::string_view k) const {
    std::string out;
    out.reserve(prefix_.size() + k.size());
    out.append(prefix_);
    out.append(k);
    return out;
  }
  // The first key after every key of this project (empty: no bound).
  std::string end_key() const {
    if (prefix_.empty()) return {};
    std::string end = project_;
    end.push_back('\x01');
    return end;
  }
  // Puts the records and index entries of `e` (stored as `value`) into `batch`.
  void put_event(rocksdb::WriteBatch& batch, RocksHandles& h, const Event& e,
                 std::string_view value) const;
  void put_time(rocksdb::WriteBatch& batch, RocksHandles& h, Micros t, Seq last) const;
  Status load_head(RocksHandles& h, OpenMode mode);
  // Reads the History and the segment list. REQUIRES: the handles lock.
  Status load_history(RocksHandles& h, OpenMode mode);
  // Compacts away the live copies of archived events (see ArchivedFilter);
  // until then reads skip them. Any thread.
  Status compact_archived();
  std::string meta_key() const { return std::string("archive\0", 8) + project_; }
  // A reader of a directory from before projects has no p_* families: a
  // prefixed log there is empty. REQUIRES: the handles lock.
  bool absent() const;
  void set_head(const Head& head) {
    std::lock_guard lock(head_mu_);
    head_ = head;
  }
  // Copies the stored records 1..upto of `from` unchanged, with their index
  // entries and snapshots. REQUIRES: this log is empty.
  Status copy_from(const EventLog& from, Seq upto,
                   const std::function<void(Seq copied)>& progress = {});

 private:
  RocksStore& store_;
  const std::string project_;
  const std::string prefix_;
  const std::size_t cf_offset_;
  mutable std::mutex head_mu_;
  Head head_;  // GUARDED_BY(head_mu_)
  std::atomic<std::shared_ptr<PersonalKeys>> keys_;

  // Readers hold cut_mu_ shared from reading history_ until their iterator
  // exists (RocksDB iterators see the store as of their creation); a cut
  // takes it exclusively, so no reader misses events between the two.
  mutable std::shared_mutex cut_mu_;
  History history_;            // GUARDED_BY(cut_mu_)
  Seq compacted_through_ = 0;  // subjects' indexes compacted since  GUARDED_BY(cut_mu_)
  std::vector<archive::SegmentInfo> segments_;  // GUARDED_BY(cut_mu_), by first
  std::mutex archiving_mu_;                     // one archiving at a time
  mutable std::mutex segment_cache_mu_;
  mutable std::shared_ptr<const archive::Segment> segment_cache_;  // GUARDED_BY(segment_cache_mu_)

  std::string archive_dir() const;
  void put_history(rocksdb::WriteBatch& batch, const History& hist) const;
  // The segment holding `seq`, read (one is cached). REQUIRES: cut_mu_ held.
  Result<std::shared_ptr<const archive::Segment>> segment_for(Seq seq) const;
  // Calls fn(seq, stored) for archived events from..to (by segment) until it
  // returns false; sets *stopped then. REQUIRES: cut_mu_ held.
  Status scan_archived(Seq from, Seq to, bool* stopped,
                       const std::function<bool(Seq, std::string_view)>& fn) const;
};

// Where a cluster node is in the replicated log (default column family).
constexpr std::string_view kReplicaPositionKey{"replica_position"};

class RocksStore final : public EventStore {
 public:
  RocksStore(std::unique_ptr<RocksHandles> h, std::shared_ptr<Cuts> cuts, std::string dir,
             OpenMode mode, LogOptions options, bool unprefixed_default)
      : cuts_(std::move(cuts)),
        h_(std::move(h)),
        dir_(std::move(dir)),
        archive_dir_(options.archive_dir.empty()
                         ? (fs::path(dir_).parent_path() / "archive").string()
                         : options.archive_dir),
        mode_(mode),
        options_(options),
        unprefixed_default_(unprefixed_default) {
    write_options_.sync = options.sync;
    write_options_.disableWAL = false;
    if (mode_ != OpenMode::read_only) remove_unfinished_snapshots();
  }

  ~RocksStore() override {
    if (!h_ || !h_->db || mode_ == OpenMode::read_only) return;
    h_->db->FlushWAL(true);
    // A clean close writes the memtables out, so the next open has no WAL
    // to replay: with many projects written, replaying hundreds of
    // megabytes of WAL made a restart take seconds. Best effort: what is
    // not flushed is still in the synced WAL.
    if (!stand_in_) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      std::vector<rocksdb::ColumnFamilyHandle*> families;
      for (auto* f : h_->handles) {
        if (f) families.push_back(f);
      }
      (void)h_->db->Flush(fo, families);
    }
  }

  // Loads the log of `project` and its head. Any thread.
  Result<ProjectLog*> open_log(std::string_view project) {
    std::lock_guard lock(logs_mu_);
    if (auto it = logs_.find(project); it != logs_.end()) return it->second.get();
    auto log = std::make_unique<ProjectLog>(*this, std::string(project),
                                            unprefixed_default_ && project == kDefaultProject);
    {
      std::shared_lock handles_lock(handles_mu_);
      if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
      if (auto st = log->load_head(*h_, mode_); !st) return st.error();
    }
    ProjectLog* raw = log.get();
    logs_.emplace(std::string(project), std::move(log));
    return raw;
  }

  EventLog& log(std::string_view project) override {
    auto opened = open_log(project);
    if (opened) return **opened;
    // The head could not be read: the log starts as if empty, and the first
    // append or refresh that can read it again corrects the head.
    std::lock_guard lock(logs_mu_);
    auto log = std::make_unique<ProjectLog>(*this, std::string(project),
                                            unprefixed_default_ && project == kDefaultProject);
    ProjectLog* raw = log.get();
    logs_.emplace(std::string(project), std::move(log));
    return *raw;
  }

  Result<std::vector<std::vector<Event>>> append(std::span<const Part> parts,
                                                 Micros time) override {
    auto prepared = prepare(parts, time);
    if (!prepared) return prepared.error();
    if (auto st = write_prepared(*prepared, std::nullopt); !st) return st.error();
    std::vector<std::vector<Event>> out(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) out[i] = std::move((*prepared)[i].events);
    return out;
  }

  Result<std::vector<PreparedPart>> prepare(std::span<const Part> parts, Micros time) override {
    if (mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    std::vector<PreparedPart> out(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto* log = static_cast<ProjectLog*>(parts[i].log);
      out[i].log = log;
      if (parts[i].drafts.empty()) continue;
      const Head head = parts[i].after ? *parts[i].after : log->head();
      const Micros t = std::max(time, head.time);
      out[i].events.reserve(parts[i].drafts.size());
      out[i].records.reserve(parts[i].drafts.size());
      const auto keys = log->personal_keys();
      Digest prev = head.hash;
      Seq seq = head.seq;
      for (const Draft& d : parts[i].drafts) {
        if (data_index_for(d.type) != d.data.index()) {
          return make_error(Errc::internal, "event data does not match its type");
        }
        Event e;
        e.seq = ++seq;
        e.time = t;
        e.type = d.type;
        e.version = current_version(d.type);
        e.context = d.context;
        e.data = d.data;
        e.prev_hash = prev;
        auto value = encode_stored(e, keys.get());
        if (!value) return value.error();  // a key could not be stored: nothing is written
        prev = e.hash;
        out[i].records.push_back(std::move(*value));
        out[i].events.push_back(std::move(e));
      }
    }
    return out;
  }

  Status write_prepared(std::span<const PreparedPart> parts,
                        const std::optional<ReplicaPosition>& position) override {
    if (mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    std::vector<Head> heads(parts.size());
    rocksdb::WriteBatch batch;
    std::shared_lock handles_lock(handles_mu_);
    if (!h_ || stand_in_) return make_error(Errc::unavailable, "the event log cannot be written");
    bool any = position.has_value();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto* log = static_cast<ProjectLog*>(parts[i].log);
      const Head head = log->head();
      heads[i] = head;
      const auto& events = parts[i].events;
      if (events.empty()) continue;
      if (events.size() != parts[i].records.size())
        return make_error(Errc::internal, "prepared events and records differ in number");
      if (events.front().seq != head.seq + 1 || events.front().prev_hash != head.hash) {
        return make_error(Errc::conflict, "events do not follow the log's head",
                          "head " + std::to_string(head.seq) + ", first event " +
                              std::to_string(events.front().seq));
      }
      any = true;
      for (std::size_t k = 0; k < events.size(); ++k)
        log->put_event(batch, *h_, events[k], parts[i].records[k]);
      log->put_time(batch, *h_, events.back().time, events.back().seq);
      heads[i] = Head{events.back().seq, events.back().time, events.back().hash};
    }
    if (!any) return {};
    if (position) {
      bin::Writer w;
      w.u64(position->block);
      w.digest(position->hash);
      batch.Put(kReplicaPositionKey, w.str());
    }
    const rocksdb::Status st = h_->db->Write(write_options_, &batch);
    if (!st.ok()) return from_status(st, Errc::unavailable, "the event log cannot be written");
    for (std::size_t i = 0; i < parts.size(); ++i) {
      static_cast<ProjectLog*>(parts[i].log)->set_head(heads[i]);
    }
    return {};
  }

  Result<ReplicaPosition> replica_position() const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::string value;
    const rocksdb::Status st = h_->db->Get(rocksdb::ReadOptions(), kReplicaPositionKey, &value);
    if (st.IsNotFound()) return ReplicaPosition{};
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot read the replica position");
    bin::Reader r(value);
    ReplicaPosition p;
    p.block = r.u64();
    p.hash = r.digest();
    if (!r.ok() || !r.at_end())
      return make_error(Errc::corruption, "the replica position is malformed");
    return p;
  }

  Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> recover() override {
    std::vector<std::pair<EventLog*, std::vector<Event>>> found;
    if (mode_ == OpenMode::read_only) return found;
    // Resume() only helps the writable handles; a read-only stand-in must be reopened.
    {
      std::shared_lock handles_lock(handles_mu_);
      if (h_ && !stand_in_ && h_->db->Resume().ok()) return found;
    }
    std::vector<std::pair<ProjectLog*, Seq>> known;
    {
      std::lock_guard lock(logs_mu_);
      for (auto& [_, log] : logs_) known.emplace_back(log.get(), log->head().seq);
    }
    // A failed WAL write is a hard error that Resume() cannot clear: reopen.
    {
      std::unique_lock lock(handles_mu_);  // waits for readers in flight
      h_.reset();
      auto h = open_rocksdb_handles(dir_, OpenMode::read_write, options_, cuts_);
      if (!h) {
        // Readers keep a read-only stand-in; the next append tries again.
        auto retry = open_rocksdb_handles(dir_, OpenMode::read_only, options_, cuts_);
        if (retry) h_ = std::move(*retry);
        stand_in_ = true;
        Error e = h.error();
        e.code = Errc::unavailable;
        return e;
      }
      h_ = std::move(*h);
      stand_in_ = false;
      for (auto& [log, _] : known) {
        if (auto st = log->load_head(*h_, mode_); !st) return st.error();
      }
    }
    for (auto& [log, seq] : known) {
      if (log->head().seq <= seq) continue;
      std::vector<Event> events;
      auto st = log->scan(seq + 1, log->head().seq, [&](const Event& e) {
        events.push_back(e);
        return true;
      });
      if (!st) return st.error();
      found.emplace_back(log, std::move(events));
    }
    return found;
  }

  Status drop(std::string_view project) override {
    if (mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    auto opened = open_log(project);
    if (!opened) return opened.error();
    ProjectLog* log = *opened;
    if (log->unprefixed()) {
      return make_error(Errc::invalid_request,
                        "the default project of a data directory from before projects cannot "
                        "be dropped");
    }
    std::shared_lock handles_lock(handles_mu_);
    if (!h_ || stand_in_) return make_error(Errc::unavailable, "the event log cannot be written");
    rocksdb::WriteBatch batch;
    const std::string begin = log->key("");
    const std::string end = log->end_key();
    for (std::size_t cf = kLogCf; cf <= kSnapshotsCf; ++cf) {
      batch.DeleteRange(h_->cf(log->cf(cf)), begin, end);
    }
    batch.Delete(log->meta_key());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const rocksdb::Status st = h_->db->Write(wo, &batch);
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot drop " + std::string(project));
    log->set_head(Head{});
    {
      std::error_code ec;
      fs::remove_all(archive::project_dir(archive_dir_, project), ec);
      if (auto lst = log->load_history(*h_, mode_); !lst) return lst;
    }
    // The space comes back as compaction rewrites the range; ask for it now,
    // in RocksDB's background threads, without waiting.
    for (std::size_t cf = kLogCf; cf <= kSnapshotsCf; ++cf) {
      rocksdb::Slice b(begin), e(end);
      rocksdb::CompactRangeOptions co;
      co.exclusive_manual_compaction = false;
      co.allow_write_stall = false;
      (void)h_->db->SuggestCompactRange(h_->cf(log->cf(cf)), &b, &e);
    }
    return {};
  }

  Result<std::vector<std::string>> projects() const override {
    std::vector<std::string> out;
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    if (unprefixed_default_) {
      std::unique_ptr<rocksdb::Iterator> it(
          h_->db->NewIterator(rocksdb::ReadOptions(), h_->cf(kLogCf)));
      it->SeekToFirst();
      if (it->Valid()) out.emplace_back(kDefaultProject);
      if (!it->status().ok())
        return from_status(it->status(), Errc::unavailable, "cannot read the log");
    }
    if (h_->cf(kLogCf + kPrefixedCfOffset) == nullptr) return out;  // no p_* families yet
    std::unique_ptr<rocksdb::Iterator> it(
        h_->db->NewIterator(rocksdb::ReadOptions(), h_->cf(kLogCf + kPrefixedCfOffset)));
    for (it->SeekToFirst(); it->Valid();) {
      const std::string_view k = it->key().ToStringView();
      const auto nul = k.find('\0');
      if (nul == std::string_view::npos) return make_error(Errc::corruption, "malformed log key");
      std::string id(k.substr(0, nul));
      it->Seek(id + '\x01');
      out.push_back(std::move(id));
    }
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read the log");
    std::sort(out.begin(), out.end());
    return out;
  }

  std::optional<StorageStats> storage_stats() const override {
    // Never waits for recover(), which holds the lock exclusively while it
    // reopens the database: a scrape then simply has no storage figures.
    std::shared_lock handles_lock(handles_mu_, std::try_to_lock);
    if (!handles_lock.owns_lock() || !h_) return std::nullopt;
    // Properties only. The statistics object (options.statistics, with its
    // STALL_MICROS ticker) stays off: it counts on every read and write, a
    // cost paid by each group commit, while the database's own internal
    // stats already keep the stall time. Each property holds RocksDB's DB
    // mutex for a moment (the block cache's usage not at all); appends take
    // that mutex only to switch a full memtable, never across the WAL's sync.
    rocksdb::DB& db = *h_->db;
    using P = rocksdb::DB::Properties;
    const auto summed = [&](const std::string& property) {
      std::uint64_t v = 0;
      return db.GetAggregatedIntProperty(property, &v) ? v : 0;
    };
    // Figures of the whole database, and the block cache that every column
    // family shares (summing it would count it once per family): read once.
    const auto once = [&](const std::string& property) {
      std::uint64_t v = 0;
      return db.GetIntProperty(property, &v) ? v : 0;
    };
    StorageStats s;
    s.memtable_bytes = summed(P::kCurSizeAllMemTables);
    s.pending_compaction_bytes = summed(P::kEstimatePendingCompactionBytes);
    s.live_sst_bytes = summed(P::kLiveSstFilesSize);
    s.block_cache_bytes = once(P::kBlockCacheUsage);
    s.write_stopped = once(P::kIsWriteStopped) != 0;
    s.delayed_write_rate = once(P::kActualDelayedWriteRate);
    s.running_flushes = once(P::kNumRunningFlushes);
    s.running_compactions = once(P::kNumRunningCompactions);
    // The map form of rocksdb.dbstats: cumulative figures since the open,
    // without resetting the interval that the string form reports.
    std::map<std::string, std::string> db_stats;
    if (db.GetMapProperty(P::kDBStats, &db_stats)) {
      if (auto it = db_stats.find("db.user_write_stall_micros"); it != db_stats.end()) {
        s.write_stall_micros = parse_integer<std::uint64_t>(it->second).value_or(0);
      }
    }
    return s;
  }

  Status refresh() override {
    if (mode_ != OpenMode::read_only) return {};
    // logs_mu_ before handles_mu_, as open_log() takes them.
    std::lock_guard lock(logs_mu_);
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    const rocksdb::Status st = h_->db->TryCatchUpWithPrimary();
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot catch up with the writer");
    for (auto& [_, log] : logs_) {
      if (auto lst = log->load_head(*h_, mode_); !lst) return lst;
    }
    return {};
  }

  // Files of put_snapshot left by a crash before their ingestion.
  void remove_unfinished_snapshots() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("snapshot-") && name.ends_with(".tmp")) fs::remove(entry.path(), ec);
    }
  }

  // ---- for the logs ----
  // Readers hold handles_mu_ shared while they use h_; recover() replaces h_
  // under the exclusive lock.
  mutable std::shared_mutex handles_mu_;
  const std::shared_ptr<Cuts> cuts_;  // before h_: its filters read it
  std::unique_ptr<RocksHandles> h_;   // null only if a reopen found no way to open at all
  bool stand_in_ = false;             // h_ is read-only after a failed reopen (appending thread)
  const std::string dir_;
  const std::string archive_dir_;
  const OpenMode mode_;
  const LogOptions options_;
  rocksdb::WriteOptions write_options_;

 private:
  const bool unprefixed_default_;
  mutable std::mutex logs_mu_;
  std::map<std::string, std::unique_ptr<ProjectLog>, std::less<>> logs_;  // GUARDED_BY(logs_mu_)
};

void ProjectLog::put_event(rocksdb::WriteBatch& batch, RocksHandles& h, const Event& e,
                           std::string_view value) const {
  const std::string seq_key = bin::be64(e.seq);
  batch.Put(h.cf(cf(kLogCf)), key(seq_key), value);
  const std::string iv = index_value(e.type, e.time);
  const Subjects s = subjects_of(e);
  if (!s.principal_id.empty())
    batch.Put(h.cf(cf(kIdxPrincipalCf)), key(index_key(s.principal_id, e.seq)), iv);
  for (const auto& k : s.apikeys) batch.Put(h.cf(cf(kIdxApikeyCf)), key(index_key(k, e.seq)), iv);
  if (indexed_actor(e.context.actor))
    batch.Put(h.cf(cf(kIdxActorCf)), key(index_key(e.context.actor, e.seq)), iv);
  batch.Put(h.cf(cf(kIdxTypeCf)), key(type_prefix(e.type) + seq_key),
            bin::be64(static_cast<std::uint64_t>(e.time)));
}

void ProjectLog::put_time(rocksdb::WriteBatch& batch, RocksHandles& h, Micros t, Seq last) const {
  batch.Put(h.cf(cf(kIdxTimeCf)), key(bin::be64(static_cast<std::uint64_t>(t)) + bin::be64(last)),
            "");
}

Status ProjectLog::load_head(RocksHandles& h, OpenMode mode) {
  if (h.cf(cf(kLogCf)) == nullptr) {  // a reader of a directory from before projects
    set_head(Head{});
    return {};
  }
  if (auto st = load_history(h, mode); !st) return st;
  // Read once, when the log is opened: its blocks stay out of the cache.
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(h.db->NewIterator(ro, h.cf(cf(kLogCf))));
  if (prefix_.empty()) {
    it->SeekToLast();
  } else {
    it->SeekForPrev(key(bin::be64(UINT64_MAX)));
  }
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read the log");
  Head head;
  {
    // Everything archived (not the case while a server runs: its cut markers follow the cut).
    std::shared_lock cut(cut_mu_);
    head = Head{history_.archived_through, history_.archived_time, history_.archived_hash};
  }
  if (it->Valid() && it->key().starts_with(prefix_)) {
    const std::string_view k = it->key().ToStringView().substr(prefix_.size());
    const std::string_view value = it->value().ToStringView();
    if (k.size() != 8 || value.size() < 32) {
      return make_error(Errc::corruption, "the last record of the log is malformed");
    }
    head.seq = bin::read_be64(k);
    std::memcpy(head.hash.data(), value.data() + value.size() - 32, 32);
    auto e = decode_stored(value);
    if (e) {
      head.time = e->time;
    } else if (mode != OpenMode::read_only) {
      return make_error(Errc::corruption, "the last record of the log (seq " +
                                              std::to_string(head.seq) +
                                              ") does not decode; run `latchkey verify`");
    }
  }
  set_head(head);
  return {};
}

Result<std::vector<Event>> ProjectLog::append(std::span<const Draft> drafts, Micros time) {
  const EventStore::Part part{this, drafts};
  auto r = store_.append(std::span(&part, 1), time);
  if (!r) return r.error();
  return std::move(r->front());
}

Result<std::vector<Event>> ProjectLog::recover() {
  auto found = store_.recover();
  if (!found) return found.error();
  for (auto& [log, events] : *found) {
    if (log == this) return std::move(events);
  }
  return std::vector<Event>{};
}

Result<Event> ProjectLog::get(Seq seq) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return make_error(Errc::not_found, "no event " + std::to_string(seq));
  std::shared_lock cut(cut_mu_);
  if (seq != 0 && seq <= history_.archived_through) {
    if (seq <= history_.deleted_through) {
      return make_error(Errc::not_found,
                        "event " + std::to_string(seq) +
                            " was deleted by retention, with the history through " +
                            std::to_string(history_.deleted_through));
    }
    auto seg = segment_for(seq);
    if (!seg) return seg.error();
    return decode_stored((*seg)->record(seq), keys_.load().get());
  }
  std::string value;
  const rocksdb::Status st = store_.h_->db->Get(rocksdb::ReadOptions(), store_.h_->cf(cf(kLogCf)),
                                                key(bin::be64(seq)), &value);
  if (st.IsNotFound()) return make_error(Errc::not_found, "no event " + std::to_string(seq));
  if (!st.ok()) return from_status(st, Errc::unavailable, "cannot read the log");
  return decode_stored(value, keys_.load().get());
}

Status ProjectLog::scan(Seq from, Seq to, bool fill_cache, Opening opening,
                        const std::function<bool(const Event&)>& fn) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return {};
  const auto keys = keys_.load();
  std::shared_lock cut(cut_mu_);
  if (from <= history_.archived_through) {
    bool stopped = false;
    Status failed;
    const Status st =
        scan_archived(from, std::min(to, history_.archived_through), &stopped,
                      [&](Seq seq, std::string_view stored) {
                        auto e = decode_stored(stored, keys.get(), opening);
                        if (!e) {
                          failed = make_error(Errc::corruption, "event " + std::to_string(seq) +
                                                                    ": " + e.error().message);
                          return false;
                        }
                        return fn(*e);
                      });
    if (!st) return st;
    if (!failed) return failed;
    if (stopped || to <= history_.archived_through) return {};
    from = history_.archived_through + 1;
  }
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2u << 20;
  // A long scan or a rebuild reads each block once: keeping those blocks out
  // of the block cache spares the cache's locking and evictions, and the
  // blocks that point reads and short tails use stay cached.
  ro.fill_cache = fill_cache;
  const std::string upper = to == UINT64_MAX ? end_key() : key(bin::be64(to + 1));
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_.h_->db->NewIterator(ro, store_.h_->cf(cf(kLogCf))));
  cut.unlock();
  for (it->Seek(key(bin::be64(from))); it->Valid(); it->Next()) {
    auto e = decode_stored(it->value().ToStringView(), keys.get(), opening);
    if (!e) {
      const Seq at = bin::read_be64(it->key().ToStringView().substr(prefix_.size()));
      return make_error(Errc::corruption, "event " + std::to_string(at) + ": " + e.error().message);
    }
    if (!fn(*e)) return {};
  }
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read the log");
  return {};
}

Status ProjectLog::scan_raw(
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return {};
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2u << 20;
  ro.fill_cache = false;  // the whole log, once
  std::shared_lock cut(cut_mu_);
  if (history_.archived_through > history_.deleted_through) {
    bool stopped = false;
    const Status st =
        scan_archived(history_.deleted_through + 1, history_.archived_through, &stopped,
                      [&](Seq seq, std::string_view stored) { return fn(bin::be64(seq), stored); });
    if (!st || stopped) return st;
  }
  const std::string upper = end_key();
  rocksdb::Slice upper_slice(upper);
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_.h_->db->NewIterator(ro, store_.h_->cf(cf(kLogCf))));
  const Seq first_live = history_.archived_through + 1;
  cut.unlock();
  for (it->Seek(key(bin::be64(first_live))); it->Valid(); it->Next()) {
    if (!fn(it->key().ToStringView().substr(prefix_.size()), it->value().ToStringView())) return {};
  }
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read the log");
  return {};
}

Status ProjectLog::scan_index(Index index, std::string_view k, Seq from, Direction dir,
                              const std::function<bool(const IndexEntry&)>& fn) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return {};
  std::string prefix;
  std::size_t family = kIdxTypeCf;
  std::optional<EventType> fixed_type;
  switch (index) {
    case Index::principal: family = kIdxPrincipalCf; break;
    case Index::apikey: family = kIdxApikeyCf; break;
    case Index::actor: family = kIdxActorCf; break;
    case Index::type: family = kIdxTypeCf; break;
  }
  if (index == Index::type) {
    fixed_type = type_from_name(k);
    if (!fixed_type) return make_error(Errc::invalid_request, "unknown event type");
    prefix = key(type_prefix(*fixed_type));
  } else {
    if (k.find('\0') != std::string_view::npos) return {};
    prefix = key(k);
    prefix.push_back('\0');
  }
  std::shared_lock cut(cut_mu_);
  const Seq archived = history_.archived_through;
  // The archived part: forward, it comes first; backward, last.
  auto archived_entries = [&](bool* stopped) -> Status {
    if (archived <= history_.deleted_through) return {};
    const Seq lo = dir == Direction::forward ? std::max(from, history_.deleted_through + 1)
                                             : history_.deleted_through + 1;
    const Seq hi = dir == Direction::forward || from == 0 ? archived : std::min(from, archived);
    if (lo > hi) return {};
    std::vector<const archive::SegmentInfo*> segs;
    for (const auto& s : segments_) {
      if (s.last >= lo && s.first <= hi) segs.push_back(&s);
    }
    if (dir == Direction::backward) std::reverse(segs.begin(), segs.end());
    for (const archive::SegmentInfo* s : segs) {
      auto seg = segment_for(s->first);
      if (!seg) return seg.error();
      const auto& entries = (*seg)->entries(index, k);
      auto visit = [&](const IndexEntry& e) {
        if (e.seq < lo || e.seq > hi) return true;
        if (!fn(e)) {
          *stopped = true;
          return false;
        }
        return true;
      };
      if (dir == Direction::forward) {
        for (const IndexEntry& e : entries) {
          if (!visit(e)) return {};
        }
      } else {
        for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
          if (!visit(*e)) return {};
        }
      }
    }
    return {};
  };
  if (dir == Direction::forward && from <= archived) {
    bool stopped = false;
    if (auto st = archived_entries(&stopped); !st || stopped) return st;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      store_.h_->db->NewIterator(rocksdb::ReadOptions(), store_.h_->cf(cf(family))));
  auto valid = [&] { return it->Valid() && it->key().starts_with(prefix); };
  if (dir == Direction::forward) {
    it->Seek(prefix + bin::be64(std::max(from, archived + 1)));
  } else {
    it->SeekForPrev(prefix + bin::be64(from == 0 ? UINT64_MAX : from));
  }
  for (; valid(); dir == Direction::forward ? it->Next() : it->Prev()) {
    const std::string_view ik = it->key().ToStringView();
    const std::string_view v = it->value().ToStringView();
    IndexEntry entry;
    entry.seq = bin::read_be64(ik.substr(ik.size() - 8));
    // Entries of archived events that a cut has not removed yet.
    if (entry.seq <= archived) {
      if (dir == Direction::forward) continue;
      break;
    }
    bin::Reader r(v);
    if (fixed_type) {
      entry.type = *fixed_type;
    } else {
      entry.type = static_cast<EventType>(r.u16());
    }
    entry.time = static_cast<Micros>(r.u64());
    if (!r.ok()) return make_error(Errc::corruption, "malformed index entry");
    if (!fn(entry)) return {};
  }
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read an index");
  if (dir == Direction::backward) {
    bool stopped = false;
    return archived_entries(&stopped);
  }
  return {};
}

Result<Seq> ProjectLog::seq_at_time(Micros t) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return Seq{0};
  std::unique_ptr<rocksdb::Iterator> it(
      store_.h_->db->NewIterator(rocksdb::ReadOptions(), store_.h_->cf(cf(kIdxTimeCf))));
  if (t < 0) return Seq{0};
  std::shared_lock cut(cut_mu_);
  it->SeekForPrev(key(bin::be64(static_cast<std::uint64_t>(t)) + bin::be64(UINT64_MAX)));
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read the time index");
  if (it->Valid() && it->key().starts_with(prefix_)) {
    const std::string_view k = it->key().ToStringView().substr(prefix_.size());
    if (k.size() != 16) return make_error(Errc::corruption, "malformed time index entry");
    const Seq seq = bin::read_be64(k.substr(8));
    if (seq > history_.archived_through) return seq;
  }
  // Before the live store: the segments, or the deleted history.
  if (t >= history_.archived_time) return history_.archived_through;
  for (auto s = segments_.rbegin(); s != segments_.rend(); ++s) {
    if (s->first_time > t) continue;
    if (t >= s->last_time) return s->last;
    auto seg = segment_for(s->first);
    if (!seg) return seg.error();
    return (*seg)->seq_at_time(t);
  }
  if (history_.deleted_through > 0 && t >= history_.deleted_time) return history_.deleted_through;
  return Seq{0};
}

Status ProjectLog::put_snapshot(const Snapshot& s) {
  std::shared_lock handles_lock(store_.handles_mu_);
  auto& h = store_.h_;
  if (!h) return make_error(Errc::unavailable, "the event log is being reopened");
  if (store_.mode_ == OpenMode::read_only)
    return make_error(Errc::unavailable, "the log is open read-only");
  // A snapshot can be megabytes. Through the WAL and the memtable it would be
  // copied and synced in the appenders' queue, holding up every group commit
  // behind it. So it is written to a table file of its own here, synced, and
  // ingested into its column family: the queue only waits for the MANIFEST
  // update. A crash before the ingestion loses only this snapshot, never an
  // event.
  static std::atomic<std::uint64_t> counter{0};
  const std::string path = store_.dir_ + "/snapshot-" + std::to_string(s.seq) + "-" +
                           std::to_string(counter.fetch_add(1)) + ".tmp";
  auto* family = h->cf(cf(kSnapshotsCf));
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(h->db->GetDBOptions()),
                                h->db->GetOptions(family), family);
  rocksdb::Status st = writer.Open(path);
  if (st.ok()) st = writer.Put(key(bin::be64(s.seq)), s.bytes);
  if (st.ok()) st = writer.Finish();  // syncs the file
  if (st.ok()) {
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;  // a hard link, not a copy
    st = h->db->IngestExternalFile(family, {path}, ingest);
  }
  std::error_code ec;
  fs::remove(path, ec);  // the link in the log's directory keeps the data
  if (!st.ok()) return from_status(st, Errc::unavailable, "cannot write a snapshot");
  return {};
}

Result<std::optional<Snapshot>> ProjectLog::find_snapshot(Seq at) const {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  if (absent()) return std::optional<Snapshot>{};
  // Snapshots are read to rebuild views, once each: not worth the cache.
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      store_.h_->db->NewIterator(ro, store_.h_->cf(cf(kSnapshotsCf))));
  it->SeekForPrev(key(bin::be64(at)));
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read snapshots");
  if (!it->Valid() || !it->key().starts_with(prefix_)) return std::optional<Snapshot>{};
  Snapshot s;
  s.seq = bin::read_be64(it->key().ToStringView().substr(prefix_.size()));
  s.bytes = it->value().ToString();
  return std::optional<Snapshot>(std::move(s));
}

Status ProjectLog::rewrite_snapshots(
    const std::function<std::optional<std::string>(Seq, std::string_view)>& edit) {
  std::vector<Snapshot> changed;
  bool any = false;
  {
    std::shared_lock handles_lock(store_.handles_mu_);
    if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
    if (store_.mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    if (absent()) return {};
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(
        store_.h_->db->NewIterator(ro, store_.h_->cf(cf(kSnapshotsCf))));
    for (it->Seek(key("")); it->Valid() && it->key().starts_with(prefix_); it->Next()) {
      const Seq seq = bin::read_be64(it->key().ToStringView().substr(prefix_.size()));
      any = true;
      if (auto bytes = edit(seq, it->value().ToStringView())) {
        changed.push_back(Snapshot{seq, std::move(*bytes)});
      }
    }
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read snapshots");
  }
  // With nothing to change the compaction still runs: a rewrite that a crash
  // stopped before its compaction left the old bytes in older table files.
  if (!any) return {};
  for (const Snapshot& s : changed) {
    if (auto st = put_snapshot(s); !st) return st;
  }
  // The replaced values are still in older table files until a compaction
  // drops them: force one over this project's snapshots, to the last level.
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  co.exclusive_manual_compaction = false;
  const std::string begin = key("");
  const std::string end = end_key();
  rocksdb::Slice b(begin), e(end);
  const rocksdb::Status st =
      store_.h_->db->CompactRange(co, store_.h_->cf(cf(kSnapshotsCf)),
                                  prefix_.empty() ? nullptr : &b, end.empty() ? nullptr : &e);
  if (!st.ok()) return from_status(st, Errc::unavailable, "cannot compact the snapshots");
  return {};
}

bool ProjectLog::absent() const { return store_.h_->cf(cf(kLogCf)) == nullptr; }

std::optional<StorageStats> ProjectLog::storage_stats() const { return store_.storage_stats(); }

Status ProjectLog::refresh() { return store_.refresh(); }

// ---- the log's life ----

namespace {

// encode_history: be64 archived_through | archived_hash | be64 archived_time |
//   be64 deleted_through | deleted_hash | be64 deleted_time
std::string encode_history(const History& h) {
  bin::Writer w;
  w.u64(h.archived_through);
  w.digest(h.archived_hash);
  w.u64(static_cast<std::uint64_t>(h.archived_time));
  w.u64(h.deleted_through);
  w.digest(h.deleted_hash);
  w.u64(static_cast<std::uint64_t>(h.deleted_time));
  return w.take();
}

}  // namespace

std::string ProjectLog::archive_dir() const { return store_.archive_dir_; }

void ProjectLog::put_history(rocksdb::WriteBatch& batch, const History& hist) const {
  batch.Put(meta_key(), encode_history(hist));
}

Status ProjectLog::load_history(RocksHandles& h, OpenMode mode) {
  std::string value;
  const rocksdb::Status st = h.db->Get(rocksdb::ReadOptions(), meta_key(), &value);
  if (!st.ok() && !st.IsNotFound()) {
    return from_status(st, Errc::unavailable, "cannot read the log's history");
  }
  History hist;
  if (st.ok()) {
    bin::Reader r(value);
    hist.archived_through = r.u64();
    hist.archived_hash = r.digest();
    hist.archived_time = static_cast<Micros>(r.u64());
    hist.deleted_through = r.u64();
    hist.deleted_hash = r.digest();
    hist.deleted_time = static_cast<Micros>(r.u64());
    if (!r.ok() || !r.at_end()) return make_error(Errc::corruption, "malformed log history");
  }
  std::vector<archive::SegmentInfo> segments;
  if (hist.archived_through > 0 || mode != OpenMode::read_only) {
    auto listed = archive::list_segments(archive_dir(), project_);
    if (!listed) return listed.error();
    for (auto& s : *listed) {
      if (s.last <= hist.deleted_through) {
        // Retention deleted these after recording it: a crash stopped the removal.
        if (mode != OpenMode::read_only) {
          std::error_code ec;
          fs::remove(s.path, ec);
        }
        continue;
      }
      segments.push_back(std::move(s));
    }
  }
  hist.pending_through = hist.archived_through;
  for (const auto& s : segments) {
    if (s.first == hist.pending_through + 1) hist.pending_through = s.last;
    hist.segment_bytes += s.file_bytes;
  }
  hist.segments = segments.size();
  std::unique_lock lock(cut_mu_);
  history_ = hist;
  segments_ = std::move(segments);
  store_.cuts_->set(project_, hist.archived_through);
  return {};
}

Result<std::shared_ptr<const archive::Segment>> ProjectLog::segment_for(Seq seq) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](Seq s, const archive::SegmentInfo& i) { return s < i.first; });
  if (it == segments_.begin() || (--it)->last < seq) {
    return make_error(Errc::not_found, "event " + std::to_string(seq) +
                                           " is archived, but no segment in " + archive_dir() +
                                           " holds it");
  }
  {
    std::lock_guard lock(segment_cache_mu_);
    if (segment_cache_ && segment_cache_->info().path == it->path) return segment_cache_;
  }
  auto seg = archive::Segment::load(it->path);
  if (!seg) return seg.error();
  std::lock_guard lock(segment_cache_mu_);
  segment_cache_ = *seg;
  return *seg;
}

Status ProjectLog::scan_archived(Seq from, Seq to, bool* stopped,
                                 const std::function<bool(Seq, std::string_view)>& fn) const {
  from = std::max(from, history_.deleted_through + 1);
  while (from <= to) {
    auto seg = segment_for(from);
    if (!seg) return seg.error();
    const Seq last = std::min(to, (*seg)->info().last);
    for (Seq s = from; s <= last; ++s) {
      if (!fn(s, (*seg)->record(s))) {
        *stopped = true;
        return {};
      }
    }
    from = last + 1;
  }
  return {};
}

Result<Seq> ProjectLog::write_archive(Seq through,
                                      const std::function<void(const ArchiveProgress&)>& progress) {
  std::lock_guard archiving(archiving_mu_);
  if (store_.mode_ == OpenMode::read_only)
    return make_error(Errc::unavailable, "the log is open read-only");
  if (through > head().seq) return make_error(Errc::invalid_request, "past the head");
  Seq start;
  Digest prev;
  {
    std::shared_lock cut(cut_mu_);
    start = history_.pending_through + 1;
    prev = history_.pending_through == history_.archived_through || segments_.empty()
               ? history_.archived_hash
               : segments_.back().last_hash;
  }
  if (through < start) return start - 1;
  const Seq total = through - start + 1;
  std::optional<archive::SegmentWriter> writer;
  Status failure;
  Seq written = start - 1;
  auto finish = [&]() -> bool {
    auto info = writer->finish(archive_dir());
    writer.reset();
    if (!info) {
      failure = info.error();
      return false;
    }
    written = info->last;
    std::unique_lock cut(cut_mu_);
    history_.pending_through = info->last;
    history_.segments += 1;
    history_.segment_bytes += info->file_bytes;
    segments_.push_back(std::move(*info));
    return true;
  };
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!store_.h_) return make_error(Errc::unavailable, "the event log is being reopened");
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2u << 20;
  ro.fill_cache = false;
  const std::string upper = key(bin::be64(through + 1));
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_.h_->db->NewIterator(ro, store_.h_->cf(cf(kLogCf))));
  Seq expected = start;
  for (it->Seek(key(bin::be64(start))); it->Valid(); it->Next()) {
    const Seq seq = bin::read_be64(it->key().ToStringView().substr(prefix_.size()));
    const std::string_view stored = it->value().ToStringView();
    // Without the data keys: the index needs no personal field, and the
    // segment keeps the sealed bytes as they are.
    auto e = decode_stored(stored, nullptr, Opening::data_only);
    if (!e)
      return make_error(Errc::corruption,
                        "event " + std::to_string(seq) + ": " + e.error().message);
    if (seq != expected || e->seq != seq || e->prev_hash != prev) {
      return make_error(Errc::corruption, "the chain does not link at event " +
                                              std::to_string(expected) + "; run `latchkey verify`");
    }
    if (!writer) writer.emplace(project_, seq, prev);
    writer->add(*e, stored);
    prev = e->hash;
    ++expected;
    if (writer->count() >= store_.options_.archive_segment_events) {
      if (!finish()) return failure.error();
      if (progress) progress(ArchiveProgress{seq - start + 1, total});
    }
  }
  if (!it->status().ok())
    return from_status(it->status(), Errc::unavailable, "cannot read the log");
  if (expected != through + 1) {
    return make_error(Errc::corruption, "event " + std::to_string(expected) + " is missing");
  }
  if (writer && !finish()) return failure.error();
  if (progress) progress(ArchiveProgress{total, total});
  return written;
}

Status ProjectLog::writable() const {
  if (store_.mode_ == OpenMode::read_only)
    return make_error(Errc::unavailable, "the log is open read-only");
  if (!store_.h_ || store_.stand_in_)
    return make_error(Errc::unavailable, "the event log cannot be written");
  return {};
}

Status ProjectLog::cut_archived() {
  std::lock_guard archiving(archiving_mu_);
  {
    std::shared_lock handles_lock(store_.handles_mu_);
    if (auto st = writable(); !st) return st;
    auto& h = *store_.h_;
    std::unique_lock cut(cut_mu_);
    if (history_.pending_through > history_.archived_through) {
      const Seq to = history_.pending_through;
      const archive::SegmentInfo& last = segments_.back();
      History next = history_;
      next.archived_through = to;
      next.archived_hash = last.last_hash;
      next.archived_time = last.last_time;
      // One small write moves the cut: from then on no read looks at the
      // live copies of these events (reads go to the segments), and
      // compactions drop them (ArchivedFilter). No deletion is written:
      // millions of them, in the queue the logins' group commits wait in,
      // held logins up for seconds (docs/benchmarks.md, "Archives").
      rocksdb::WriteBatch batch;
      put_history(batch, next);
      rocksdb::WriteOptions wo;
      wo.sync = true;
      const rocksdb::Status st = h.db->Write(wo, &batch);
      if (!st.ok()) return from_status(st, Errc::unavailable, "cannot cut the log");
      history_ = next;
      store_.cuts_->set(project_, to);
    }
  }
  return compact_archived();
}

Status ProjectLog::compact_archived() {
  std::shared_lock handles_lock(store_.handles_mu_);
  if (!writable()) return {};
  auto& h = *store_.h_;
  Seq to, compacted;
  Micros to_time;
  {
    std::shared_lock cut(cut_mu_);
    to = history_.archived_through;
    to_time = history_.archived_time;
    compacted = compacted_through_;
  }
  if (to == 0) return {};
  // Bytes of the table files (not the memtables) in [begin, end) of a family.
  auto table_bytes = [&](std::size_t family, const std::string& begin, const std::string& end) {
    rocksdb::SizeApproximationOptions so;
    so.include_memtables = false;
    so.include_files = true;
    const rocksdb::Range range(begin, end);
    std::uint64_t n = 0;
    (void)h.db->GetApproximateSizes(so, h.cf(cf(family)), &range, 1, &n);
    return n;
  };
  auto compact = [&](std::size_t family, const std::string& begin, const std::string& end) {
    rocksdb::Slice b(begin), e(end);
    rocksdb::CompactRangeOptions co;
    co.exclusive_manual_compaction = false;
    const rocksdb::Status st = h.db->CompactRange(co, h.cf(cf(family)), &b, &e);
    if (!st.ok()) return Status{from_status(st, Errc::unavailable, "cannot compact the live log")};
    return Status{};
  };
  // The log's records and the time and type indexes keep archived events in
  // ranges of their own. Table files holding archived events only go at
  // once, unread; a range is compacted (by RocksDB's background threads, at
  // their low priority) only when its files still hold more than a
  // twentieth of this project's bytes in the family. Each cut compacting
  // its range would rewrite the files that straddle the cut, flushing the
  // memtables first, every pass: seconds of I/O beside the write-ahead
  // log's syncs (docs/benchmarks.md, "Archives") for a few megabytes; what
  // is left below the cut is dropped by the next compaction that reads it
  // (ArchivedFilter), or by the next cut's once it adds up.
  auto shed = [&](std::size_t family,
                  const std::vector<std::pair<std::string, std::string>>& ranges) -> Status {
    std::vector<rocksdb::Slice> bounds;
    bounds.reserve(ranges.size() * 2);
    for (const auto& [b, e] : ranges) {
      bounds.emplace_back(b);
      bounds.emplace_back(e);
    }
    std::vector<rocksdb::RangePtr> ptrs;
    for (std::size_t i = 0; i < bounds.size(); i += 2)
      ptrs.emplace_back(&bounds[i], &bounds[i + 1]);
    (void)rocksdb::DeleteFilesInRanges(h.db.get(), h.cf(cf(family)), ptrs.data(), ptrs.size(),
                                       /*include_end=*/false);
    std::uint64_t archived = 0;
    for (const auto& [b, e] : ranges) archived += table_bytes(family, b, e);
    if (archived == 0 || archived * 20 < table_bytes(family, key(""), end_key())) return {};
    for (const auto& [b, e] : ranges) {
      if (auto st = compact(family, b, e); !st) return st;
    }
    return {};
  };
  if (auto st = shed(kLogCf, {{key(""), key(bin::be64(to + 1))}}); !st) return st;
  if (auto st =
          shed(kIdxTimeCf, {{key(""), key(bin::be64(static_cast<std::uint64_t>(to_time) + 1))}});
      !st) {
    return st;
  }
  std::vector<std::pair<std::string, std::string>> types;
  for (std::uint16_t t = 1; t <= kMaxEventType; ++t) {
    const std::string p = type_prefix(static_cast<EventType>(t));
    types.emplace_back(key(p), key(p + bin::be64(to + 1)));
  }
  if (auto st = shed(kIdxTypeCf, types); !st) return st;
  // The subjects' indexes interleave archived and live entries: the whole
  // of this log's range is rewritten, once the archived entries not yet
  // compacted are a tenth of the live events (the live log stays within 10%
  // of what its live events need).
  const Seq live = head().seq > to ? head().seq - to : 0;
  if ((to - compacted) * 10 < live) return {};
  for (std::size_t family : {kIdxPrincipalCf, kIdxApikeyCf, kIdxActorCf}) {
    if (auto st = compact(family, key(""), end_key()); !st) return st;
  }
  std::unique_lock cut(cut_mu_);
  compacted_through_ = std::max(compacted_through_, to);
  return {};
}

Result<Seq> ProjectLog::delete_archived(Seq through) {
  std::lock_guard archiving(archiving_mu_);
  std::shared_lock handles_lock(store_.handles_mu_);
  if (auto st = writable(); !st) return st.error();
  auto& h = *store_.h_;
  std::vector<archive::SegmentInfo> gone;
  {
    std::unique_lock cut(cut_mu_);
    History next = history_;
    for (const auto& s : segments_) {
      if (s.last > through || s.last > history_.archived_through) break;
      gone.push_back(s);
    }
    if (gone.empty()) return Seq{0};
    next.deleted_through = gone.back().last;
    next.deleted_hash = gone.back().last_hash;
    next.deleted_time = gone.back().last_time;
    // Recorded first, then the files go: a crash between leaves files that
    // the next open removes. Snapshots of the deleted history go too: they
    // would only rebuild states whose events are gone.
    rocksdb::WriteBatch batch;
    put_history(batch, next);
    {
      rocksdb::ReadOptions ro;
      ro.fill_cache = false;
      std::unique_ptr<rocksdb::Iterator> it(h.db->NewIterator(ro, h.cf(cf(kSnapshotsCf))));
      for (it->Seek(key("")); it->Valid() && it->key().starts_with(prefix_); it->Next()) {
        const Seq seq = bin::read_be64(it->key().ToStringView().substr(prefix_.size()));
        if (seq >= next.deleted_through) break;
        batch.Delete(h.cf(cf(kSnapshotsCf)), it->key());
      }
      if (!it->status().ok())
        return from_status(it->status(), Errc::unavailable, "cannot read snapshots");
    }
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const rocksdb::Status st = h.db->Write(wo, &batch);
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot record the deletion");
    for (const auto& s : gone) {
      next.segments -= 1;
      next.segment_bytes -= std::min(next.segment_bytes, s.file_bytes);
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<long>(gone.size()));
    history_ = next;
  }
  {
    std::lock_guard lock(segment_cache_mu_);
    segment_cache_.reset();
  }
  for (const auto& s : gone) {
    std::error_code ec;
    fs::remove(s.path, ec);
  }
  if (auto st = sync_dir(archive::project_dir(archive_dir(), project_)); !st) return st.error();
  return gone.back().last - gone.front().first + 1;
}

Status ProjectLog::copy_from(const EventLog& from, Seq upto,
                             const std::function<void(Seq copied)>& progress) {
  auto& h = *store_.h_;
  rocksdb::WriteOptions wo;
  rocksdb::WriteBatch batch;
  Status failure;
  Micros last_time = 0;
  Seq last_seq = 0;
  Digest last_hash{};
  auto flush = [&]() -> bool {
    if (batch.Count() == 0) return true;
    const rocksdb::Status st = h.db->Write(wo, &batch);
    batch.Clear();
    if (!st.ok()) failure = from_status(st, Errc::unavailable, "cannot write the copy");
    return st.ok();
  };
  // Archived events stay in their segments (the backup copies those files);
  // the copy records the same history.
  const History archived = from.history();
  const Status scanned = from.scan_raw([&](std::string_view k, std::string_view value) {
    const Seq seq = bin::read_be64(k);
    if (seq <= archived.archived_through) return true;
    if (seq > upto) return false;
    auto e = decode_stored(value);
    if (!e) {
      failure =
          make_error(Errc::corruption, "event " + std::to_string(seq) + ": " + e.error().message);
      return false;
    }
    put_event(batch, h, *e, value);
    if (last_seq != 0 && e->time != last_time) put_time(batch, h, last_time, last_seq);
    last_time = e->time;
    last_seq = seq;
    last_hash = e->hash;
    if (batch.Count() < 4096) return true;
    if (progress) progress(seq);
    return flush();
  });
  if (!scanned) return scanned;
  if (!failure) return failure;
  if (last_seq != 0) put_time(batch, h, last_time, last_seq);
  if (archived.archived_through > 0) {
    History copy = archived;
    copy.pending_through = copy.archived_through;
    put_history(batch, copy);
  }
  for (Seq at = upto;;) {
    auto snap = from.find_snapshot(at);
    if (!snap) return snap.error();
    if (!*snap) break;
    batch.Put(h.cf(cf(kSnapshotsCf)), key(bin::be64((*snap)->seq)), (*snap)->bytes);
    if ((*snap)->seq == 0) break;
    at = (*snap)->seq - 1;
  }
  if (!flush()) return failure;
  set_head(Head{last_seq, last_time, last_hash});
  return load_history(h, store_.mode_);
}

// open_rocksdb_log's result: the default project's log, owning its store.
class DefaultLog final : public EventLog {
 public:
  explicit DefaultLog(std::unique_ptr<RocksStore> store)
      : store_(std::move(store)), log_(store_->log(kDefaultProject)) {}
  Result<std::vector<Event>> append(std::span<const Draft> d, Micros t) override {
    return log_.append(d, t);
  }
  Result<std::vector<Event>> recover() override { return log_.recover(); }
  Head head() const override { return log_.head(); }
  Result<Event> get(Seq seq) const override { return log_.get(seq); }
  Status scan(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    return log_.scan(from, to, fn);
  }
  Status scan_once(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    return log_.scan_once(from, to, fn);
  }
  Status scan_raw(
      const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    return log_.scan_raw(fn);
  }
  Status scan_index(Index index, std::string_view key, Seq from, Direction dir,
                    const std::function<bool(const IndexEntry&)>& fn) const override {
    return log_.scan_index(index, key, from, dir, fn);
  }
  Result<Seq> seq_at_time(Micros t) const override { return log_.seq_at_time(t); }
  Status put_snapshot(const Snapshot& s) override { return log_.put_snapshot(s); }
  Result<std::optional<Snapshot>> find_snapshot(Seq at) const override {
    return log_.find_snapshot(at);
  }
  Status rewrite_snapshots(
      const std::function<std::optional<std::string>(Seq, std::string_view)>& edit) override {
    return log_.rewrite_snapshots(edit);
  }
  std::optional<StorageStats> storage_stats() const override { return log_.storage_stats(); }
  Status refresh() override { return log_.refresh(); }
  void set_personal_keys(std::shared_ptr<PersonalKeys> keys) override {
    log_.set_personal_keys(std::move(keys));
  }
  History history() const override { return log_.history(); }
  Result<Seq> write_archive(Seq through,
                            const std::function<void(const ArchiveProgress&)>& progress) override {
    return log_.write_archive(through, progress);
  }
  Status cut_archived() override { return log_.cut_archived(); }
  Result<Seq> delete_archived(Seq through) override { return log_.delete_archived(through); }
  Seq archive_boundary(Seq at_most) const override { return log_.archive_boundary(at_most); }

 private:
  std::unique_ptr<RocksStore> store_;
  EventLog& log_;
};

// RocksDB's file system, but for one thing: a write-ahead log file that is
// no longer needed is shortened a few megabytes at a time before it goes.
// Written by thousands of small synced appends, such a file is made of
// thousands of extents; unlinked at once (tens of megabytes), freeing them
// (and, on a file system mounted with `discard`, trimming them) filled one
// journal commit for 70 ms, and the group commit's fdatasync, waiting for
// that commit, stopped every login for 50 ms. Step by step, each commit
// frees a little. The deletions run on RocksDB's background threads.
class GradualLogDelete final : public rocksdb::FileSystemWrapper {
 public:
  explicit GradualLogDelete(const std::shared_ptr<rocksdb::FileSystem>& target)
      : rocksdb::FileSystemWrapper(target) {}
  static const char* kClassName() { return "LatchkeyGradualLogDelete"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    if (f.ends_with(".log")) shorten(f);
    return target()->DeleteFile(f, options, dbg);
  }

 private:
  static void shorten(const std::string& f) {
    constexpr off_t kStep = 4 << 20;
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) return;
    // Preallocated space lies past the size: the first step frees it too.
    for (off_t size = st.st_size; size > kStep;) {
      size -= kStep;
      if (::truncate(f.c_str(), size) != 0) return;  // the unlink still happens
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
};

}  // namespace

RocksHandles::~RocksHandles() {
  if (db) {
    for (auto* h : handles) {
      if (h) db->DestroyColumnFamilyHandle(h);
    }
    handles.clear();
    db->Close();
    db.reset();
  }
  if (!secondary_dir.empty()) {
    std::error_code ec;
    fs::remove_all(secondary_dir, ec);
  }
}

Result<std::unique_ptr<RocksHandles>> open_rocksdb_handles(const std::string& dir, OpenMode mode,
                                                           const LogOptions& options,
                                                           std::shared_ptr<const Cuts> cuts) {
  std::error_code ec;
  const bool has_log = fs::exists(fs::path(dir) / "CURRENT", ec);
  if (mode == OpenMode::create_new && has_log) {
    return make_error(Errc::exists, dir + " already holds a log");
  }
  if (mode != OpenMode::create_new && !has_log) {
    return make_error(Errc::not_found,
                      dir + " holds no log (run `latchkey init --data " + dir + "` first)");
  }
  if (mode == OpenMode::create_new) {
    // RocksDB fsyncs the database directory but not the one that holds it:
    // without this, a power cut after `init` could take the whole log away.
    if (auto st = create_directories_durably(dir); !st) return st.error();
    ::chmod(dir.c_str(), 0700);
  }

  rocksdb::Options opts;
  opts.create_if_missing = mode == OpenMode::create_new;
  opts.create_missing_column_families = mode != OpenMode::read_only;
  opts.keep_log_file_num = 4;
  opts.max_log_file_size = 8u << 20;
  opts.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  opts.max_open_files = -1;  // required by secondary instances
  if (mode != OpenMode::read_only) opts.info_log = std::make_shared<InfoLog>(dir);
  opts.IncreaseParallelism(2);
  // One writer thread (the Sequencer) writes; concurrent memtable inserts
  // would buy nothing and would turn the insert hints off.
  opts.allow_concurrent_memtable_write = false;
  // Table files (flushes, compactions, snapshots) are written back a megabyte
  // at a time as they grow, not all at once when they are closed: a burst of
  // tens of megabytes in the disk's queue makes the WAL's fdatasync, and so
  // every group commit, wait behind it.
  opts.bytes_per_sync = 1u << 20;
  // A restart after a crash replays the write-ahead log that the memtables
  // have not yet flushed. The small column families (indexes, snapshots,
  // other projects) fill slowly and would each hold old log files for a long
  // time: hundreds of megabytes to replay, seconds of start-up. Past this
  // size, RocksDB flushes the families that hold the oldest file.
  opts.max_total_wal_size = options.write_buffer_bytes;
  // What a restart replays stays in the memtables (and its log files until
  // they flush as usual), instead of being written out before the open
  // returns.
  opts.avoid_flush_during_recovery = true;
  auto h = std::make_unique<RocksHandles>();
  if (mode != OpenMode::read_only) {
    h->env = rocksdb::NewCompositeEnv(
        std::make_shared<GradualLogDelete>(rocksdb::FileSystem::Default()));
    opts.env = h->env.get();
    // Flushes and compactions come in bursts of hundreds of milliseconds of
    // CPU (several column families at once after the log-size limit above);
    // at the lowest priority they take the cores the I/O threads leave idle
    // instead of stalling logins for tens of milliseconds.
    h->env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow);
    h->env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH, rocksdb::CpuPriority::kLow);
  }
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset();
  rocksdb::ColumnFamilyOptions cf_opts(opts);
  cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_opts.compression = rocksdb::kLZ4Compression;
  cf_opts.write_buffer_size = options.write_buffer_bytes;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (std::size_t i = 0; i < std::size(kColumnFamilies); ++i) {
    cfs.emplace_back(kColumnFamilies[i], cf_opts);
    cfs.back().options.memtable_insert_with_hint_prefix_extractor = insert_hint_prefix(i);
    const std::size_t legacy = i > kSnapshotsCf ? i - kPrefixedCfOffset : i;
    if (cuts && legacy >= kLogCf && legacy <= kIdxTimeCf) {
      h->filters.push_back(std::make_unique<ArchivedFilter>(cuts, i > kSnapshotsCf));
      cfs.back().options.compaction_filter = h->filters.back().get();
    }
  }

  rocksdb::DB* raw = nullptr;
  rocksdb::Status st;
  if (mode == OpenMode::read_only) {
    char tmpl[] = "/tmp/latchkey-reader-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      return make_error(Errc::unavailable, "cannot create a temporary directory");
    h->secondary_dir = tmpl;
    // A reader cannot create column families: one of a directory written
    // before some family existed (the p_* ones, before projects) opens
    // without it, and a null handle stands for it (an empty family).
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(opts), dir, &existing).ok()) {
      std::vector<rocksdb::ColumnFamilyDescriptor> present;
      std::vector<std::size_t> where;
      for (std::size_t i = 0; i < cfs.size(); ++i) {
        if (std::find(existing.begin(), existing.end(), cfs[i].name) != existing.end()) {
          present.push_back(cfs[i]);
          where.push_back(i);
        }
      }
      std::vector<rocksdb::ColumnFamilyHandle*> opened;
      st = rocksdb::DB::OpenAsSecondary(rocksdb::DBOptions(opts), dir, h->secondary_dir, present,
                                        &opened, &raw);
      if (st.ok()) {
        h->handles.assign(cfs.size(), nullptr);
        for (std::size_t j = 0; j < opened.size(); ++j) h->handles[where[j]] = opened[j];
      }
    } else {
      st = rocksdb::DB::OpenAsSecondary(rocksdb::DBOptions(opts), dir, h->secondary_dir, cfs,
                                        &h->handles, &raw);
    }
  } else {
    st = rocksdb::DB::Open(rocksdb::DBOptions(opts), dir, cfs, &h->handles, &raw);
  }
  if (!st.ok()) {
    if (st.IsIOError() && st.ToString().find("lock") != std::string::npos) {
      return make_error(Errc::unavailable,
                        dir +
                            " is in use by another latchkey process (stop the server, or use a "
                            "read-only command)",
                        st.ToString());
    }
    return from_status(st, Errc::unavailable, "cannot open the log in " + dir);
  }
  h->db.reset(raw);
  if (mode == OpenMode::read_only) {
    const rocksdb::Status cst = h->db->TryCatchUpWithPrimary();
    if (!cst.ok()) return from_status(cst, Errc::unavailable, "cannot catch up with the writer");
  }
  if (mode == OpenMode::create_new) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    st = h->db->Put(wo, "format", "1");
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot write to " + dir);
  }
  return h;
}

namespace {

Result<std::unique_ptr<RocksStore>> open_store(const std::string& dir, OpenMode mode,
                                               const LogOptions& options) {
  auto cuts = std::make_shared<Cuts>();
  auto h = open_rocksdb_handles(dir, mode, options, cuts);
  if (!h) return h.error();
  // "format" (in the default column family) is 1: the default project's
  // records are unprefixed, as a data directory written before projects
  // existed has them, and every other log is prefixed.
  std::string format;
  const rocksdb::Status st = (*h)->db->Get(rocksdb::ReadOptions(), "format", &format);
  if (!st.ok() && !st.IsNotFound())
    return from_status(st, Errc::unavailable, "cannot read the log");
  if (st.ok() && format != "1") {
    return make_error(Errc::invalid_request, dir + " holds a log of format " + format +
                                                 ", newer than this latchkey understands");
  }
  const bool unprefixed_default = true;
  return std::make_unique<RocksStore>(std::move(*h), std::move(cuts), dir, mode, options,
                                      unprefixed_default);
}

}  // namespace

Result<std::unique_ptr<EventStore>> open_rocksdb_store(const std::string& dir, OpenMode mode,
                                                       const LogOptions& options) {
  auto store = open_store(dir, mode, options);
  if (!store) return store.error();
  // The default project's head is read now, so that a log whose last record
  // does not decode is refused at the open, as a single log always was.
  if (auto log = (*store)->open_log(kDefaultProject); !log) return log.error();
  return std::unique_ptr<EventStore>(std::move(*store));
}

Result<std::unique_ptr<EventLog>> open_rocksdb_log(const std::string& dir, OpenMode mode,
                                                   const LogOptions& options) {
  auto store = open_store(dir, mode, options);
  if (!store) return store.error();
  if (auto log = (*store)->open_log(kDefaultProject); !log) return log.error();
  return std::unique_ptr<EventLog>(std::make_unique<DefaultLog>(std::move(*store)));
}

Status backup_rocksdb_log(const std::string& from_dir, const std::string& to_dir, std::string* how,
                          const std::function<void(Seq copied, Seq total)>& progress) {
  std::error_code ec;
  if (fs::exists(to_dir, ec)) return make_error(Errc::exists, to_dir + " already exists");
  fs::create_directories(
      fs::path(to_dir).parent_path().empty() ? fs::path(".") : fs::path(to_dir).parent_path(), ec);
  {
    auto primary = open_rocksdb_handles(from_dir, OpenMode::read_write, LogOptions{});
    if (primary) {
      rocksdb::Checkpoint* cp = nullptr;
      rocksdb::Status st = rocksdb::Checkpoint::Create((*primary)->db.get(), &cp);
      if (st.ok()) st = cp->CreateCheckpoint(to_dir);
      delete cp;
      if (!st.ok())
        return from_status(st, Errc::unavailable, "cannot create a checkpoint in " + to_dir);
      ::chmod(to_dir.c_str(), 0700);
      if (how) *how = "checkpoint";
      return {};
    }
    if (primary.error().code != Errc::unavailable) return primary.error();
  }
  // The log is in use: copy every project's log through a reader.
  auto reader = open_store(from_dir, OpenMode::read_only, LogOptions{});
  if (!reader) return reader.error();
  auto out = open_store(to_dir, OpenMode::create_new, LogOptions{});
  if (!out) return out.error();
  auto projects = (*reader)->projects();
  if (!projects) return projects.error();
  Seq copied = 0;
  Seq total = 0;
  for (const std::string& project : *projects) {
    auto from = (*reader)->open_log(project);
    if (!from) return from.error();
    total += (*from)->head().seq;
  }
  for (const std::string& project : *projects) {
    auto from = (*reader)->open_log(project);
    if (!from) return from.error();
    auto to = (*out)->open_log(project);
    if (!to) return to.error();
    const Seq upto = (*from)->head().seq;
    auto step = [&](Seq done) {
      if (progress) progress(copied + done, total);
    };
    if (auto st = (*to)->copy_from(**from, upto, step); !st) return st;
    copied += upto;
    step(0);
  }
  // A cluster node's place in the replicated log, as of the same instant as
  // every head above (the reader does not move while it copies): a node
  // started from the copy goes on from the next block.
  auto position = (*reader)->replica_position();
  if (!position) return position.error();
  if (position->block > 0) {
    if (auto st = (*out)->write_prepared({}, *position); !st) return st;
  }
  {
    std::shared_lock lock((*out)->handles_mu_);
    rocksdb::FlushOptions fo;
    if (const rocksdb::Status st = (*out)->h_->db->Flush(fo, (*out)->h_->handles); !st.ok())
      return from_status(st, Errc::unavailable, "cannot flush the copy");
  }
  if (how) {
    *how = "copy of " + std::to_string(copied) + " events";
    if (projects->size() > 1) *how += " in " + std::to_string(projects->size()) + " logs";
  }
  return {};
}

}  // namespace latchkey::events
