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

#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include "base/durable_dirs.h"
#include "base/parse.h"
#include "events/binary.h"
#include "events/codec.h"
#include "events/event_log.h"
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
// continues a prefix skips the skip-list search.
class UpToNul final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "latchkey.UpToNul"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const auto* nul = static_cast<const char*>(std::memchr(key.data(), '\0', key.size()));
    return {key.data(), static_cast<std::size_t>(nul - key.data()) + 1};
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return std::memchr(key.data(), '\0', key.size()) != nullptr;
  }
};

std::shared_ptr<const rocksdb::SliceTransform> insert_hint_prefix(std::size_t cf) {
  switch (cf) {
    case kIdxPrincipalCf:
    case kIdxApikeyCf:
    case kIdxActorCf: return std::make_shared<UpToNul>();
    case kIdxTypeCf:
      return std::shared_ptr<const rocksdb::SliceTransform>(rocksdb::NewFixedPrefixTransform(2));
    case kLogCf:
    case kIdxTimeCf:
      return std::shared_ptr<const rocksdb::SliceTransform>(rocksdb::NewFixedPrefixTransform(0));
    default: return nullptr;
  }
}

class RocksEventLog final : public EventLog {
 public:
  RocksEventLog(std::unique_ptr<RocksHandles> h, std::string dir, OpenMode mode, LogOptions options)
      : h_(std::move(h)), dir_(std::move(dir)), mode_(mode), options_(options) {
    const bool sync = options.sync;
    write_options_.sync = sync;
    write_options_.disableWAL = false;
    if (mode_ != OpenMode::read_only) remove_unfinished_snapshots();
  }

  ~RocksEventLog() override {
    if (h_ && h_->db && mode_ != OpenMode::read_only) h_->db->FlushWAL(true);
  }

  Status load_head() {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::unique_ptr<rocksdb::Iterator> it(
        h_->db->NewIterator(rocksdb::ReadOptions(), h_->cf(kLogCf)));
    it->SeekToLast();
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read the log");
    Head head;
    if (it->Valid()) {
      const std::string_view key = it->key().ToStringView();
      const std::string_view value = it->value().ToStringView();
      if (key.size() != 8 || value.size() < 32) {
        return make_error(Errc::corruption, "the last record of the log is malformed");
      }
      head.seq = bin::read_be64(key);
      std::memcpy(head.hash.data(), value.data() + value.size() - 32, 32);
      auto e = decode_stored(value);
      if (e) {
        head.time = e->time;
      } else if (mode_ != OpenMode::read_only) {
        return make_error(Errc::corruption, "the last record of the log (seq " +
                                                std::to_string(head.seq) +
                                                ") does not decode; run `latchkey verify`");
      }
    }
    std::lock_guard lock(head_mu_);
    head_ = head;
    return {};
  }

  Result<std::vector<Event>> append(std::span<const Draft> drafts, Micros time) override {
    if (mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    if (drafts.empty()) return std::vector<Event>{};
    if (!h_ || stand_in_) return make_error(Errc::unavailable, "the event log cannot be written");
    const Head head = this->head();
    const Micros t = std::max(time, head.time);
    std::vector<Event> out;
    out.reserve(drafts.size());
    rocksdb::WriteBatch batch;
    Digest prev = head.hash;
    Seq seq = head.seq;
    for (const Draft& d : drafts) {
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
      const std::string value = encode_stored(e);
      prev = e.hash;
      const std::string key = bin::be64(e.seq);
      batch.Put(h_->cf(kLogCf), key, value);
      const std::string iv = index_value(e.type, e.time);
      const Subjects s = subjects_of(e);
      if (!s.principal_id.empty())
        batch.Put(h_->cf(kIdxPrincipalCf), index_key(s.principal_id, e.seq), iv);
      for (const auto& k : s.apikeys) batch.Put(h_->cf(kIdxApikeyCf), index_key(k, e.seq), iv);
      if (indexed_actor(e.context.actor))
        batch.Put(h_->cf(kIdxActorCf), index_key(e.context.actor, e.seq), iv);
      batch.Put(h_->cf(kIdxTypeCf), type_prefix(e.type) + key,
                bin::be64(static_cast<std::uint64_t>(e.time)));
      out.push_back(std::move(e));
    }
    batch.Put(h_->cf(kIdxTimeCf), bin::be64(static_cast<std::uint64_t>(t)) + bin::be64(seq), "");
    rocksdb::Status st;
    {
      std::shared_lock handles_lock(handles_mu_);
      st = h_->db->Write(write_options_, &batch);
    }
    if (!st.ok()) return from_status(st, Errc::unavailable, "the event log cannot be written");
    {
      std::lock_guard lock(head_mu_);
      head_ = Head{seq, t, prev};
    }
    return out;
  }

  Result<std::vector<Event>> recover() override {
    if (mode_ == OpenMode::read_only) return std::vector<Event>{};
    const Seq known = head().seq;
    // Resume() only helps the writable handles; a read-only stand-in must be reopened.
    if (h_ && !stand_in_ && h_->db->Resume().ok()) return std::vector<Event>{};
    // A failed WAL write is a hard error that Resume() cannot clear: reopen.
    {
      std::unique_lock lock(handles_mu_);  // waits for readers in flight
      h_.reset();
      auto h = open_rocksdb_handles(dir_, OpenMode::read_write, options_);
      if (!h) {
        // Readers keep a read-only stand-in; the next append tries again.
        auto retry = open_rocksdb_handles(dir_, OpenMode::read_only, options_);
        if (retry) h_ = std::move(*retry);
        stand_in_ = true;
        Error e = h.error();
        e.code = Errc::unavailable;
        return e;
      }
      h_ = std::move(*h);
      stand_in_ = false;
    }
    if (auto st = load_head(); !st) return st.error();
    std::vector<Event> found;
    if (head().seq > known) {
      auto st = scan(known + 1, head().seq, [&](const Event& e) {
        found.push_back(e);
        return true;
      });
      if (!st) return st.error();
    }
    return found;
  }

  Head head() const override {
    std::lock_guard lock(head_mu_);
    return head_;
  }

  Result<Event> get(Seq seq) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::string value;
    const rocksdb::Status st =
        h_->db->Get(rocksdb::ReadOptions(), h_->cf(kLogCf), bin::be64(seq), &value);
    if (st.IsNotFound()) return make_error(Errc::not_found, "no event " + std::to_string(seq));
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot read the log");
    return decode_stored(value);
  }

  Status scan(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2u << 20;
    // A long scan (a rebuild) reads each block once: keeping those blocks out
    // of the block cache spares the cache's locking and evictions, and the
    // blocks that point reads and short tails use stay cached.
    ro.fill_cache = to - from < kLongScan;
    const std::string upper = bin::be64(to == UINT64_MAX ? to : to + 1);
    rocksdb::Slice upper_slice(upper);
    if (to != UINT64_MAX) ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(h_->db->NewIterator(ro, h_->cf(kLogCf)));
    for (it->Seek(bin::be64(from)); it->Valid(); it->Next()) {
      auto e = decode_stored(it->value().ToStringView());
      if (!e) {
        const Seq at = bin::read_be64(it->key().ToStringView());
        return make_error(Errc::corruption,
                          "event " + std::to_string(at) + ": " + e.error().message);
      }
      if (!fn(*e)) return {};
    }
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read the log");
    return {};
  }

  Status scan_raw(
      const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2u << 20;
    ro.fill_cache = false;  // the whole log, once
    std::unique_ptr<rocksdb::Iterator> it(h_->db->NewIterator(ro, h_->cf(kLogCf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!fn(it->key().ToStringView(), it->value().ToStringView())) return {};
    }
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read the log");
    return {};
  }

  Status scan_index(Index index, std::string_view key, Seq from, Direction dir,
                    const std::function<bool(const IndexEntry&)>& fn) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::string prefix;
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    std::optional<EventType> fixed_type;
    switch (index) {
      case Index::principal: cf = h_->cf(kIdxPrincipalCf); break;
      case Index::apikey: cf = h_->cf(kIdxApikeyCf); break;
      case Index::actor: cf = h_->cf(kIdxActorCf); break;
      case Index::type: cf = h_->cf(kIdxTypeCf); break;
    }
    if (index == Index::type) {
      fixed_type = type_from_name(key);
      if (!fixed_type) return make_error(Errc::invalid_request, "unknown event type");
      prefix = type_prefix(*fixed_type);
    } else {
      if (key.find('\0') != std::string_view::npos) return {};
      prefix.assign(key);
      prefix.push_back('\0');
    }
    std::unique_ptr<rocksdb::Iterator> it(h_->db->NewIterator(rocksdb::ReadOptions(), cf));
    auto valid = [&] { return it->Valid() && it->key().starts_with(prefix); };
    if (dir == Direction::forward) {
      it->Seek(prefix + bin::be64(from));
    } else {
      it->SeekForPrev(prefix + bin::be64(from == 0 ? UINT64_MAX : from));
    }
    for (; valid(); dir == Direction::forward ? it->Next() : it->Prev()) {
      const std::string_view k = it->key().ToStringView();
      const std::string_view v = it->value().ToStringView();
      IndexEntry entry;
      entry.seq = bin::read_be64(k.substr(k.size() - 8));
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
    return {};
  }

  Result<Seq> seq_at_time(Micros t) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::unique_ptr<rocksdb::Iterator> it(
        h_->db->NewIterator(rocksdb::ReadOptions(), h_->cf(kIdxTimeCf)));
    if (t < 0) return Seq{0};
    it->SeekForPrev(bin::be64(static_cast<std::uint64_t>(t)) + bin::be64(UINT64_MAX));
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read the time index");
    if (!it->Valid()) return Seq{0};
    const std::string_view k = it->key().ToStringView();
    if (k.size() != 16) return make_error(Errc::corruption, "malformed time index entry");
    return bin::read_be64(k.substr(8));
  }

  Status put_snapshot(const Snapshot& s) override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    if (mode_ == OpenMode::read_only)
      return make_error(Errc::unavailable, "the log is open read-only");
    // A snapshot holds every live token, so it can be tens of megabytes.
    // Through the WAL and the memtable it would be copied and synced in the
    // appenders' queue, holding up every group commit behind it. So it is
    // written to a table file of its own here, synced, and ingested into its
    // column family: the queue only waits for the MANIFEST update. A crash
    // before the ingestion loses only this snapshot, never an event.
    const std::string path = dir_ + "/snapshot-" + std::to_string(s.seq) + ".tmp";
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(h_->db->GetDBOptions()),
                                  h_->db->GetOptions(h_->cf(kSnapshotsCf)), h_->cf(kSnapshotsCf));
    rocksdb::Status st = writer.Open(path);
    if (st.ok()) st = writer.Put(bin::be64(s.seq), s.bytes);
    if (st.ok()) st = writer.Finish();  // syncs the file
    if (st.ok()) {
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = true;  // a hard link, not a copy
      st = h_->db->IngestExternalFile(h_->cf(kSnapshotsCf), {path}, ingest);
    }
    std::error_code ec;
    fs::remove(path, ec);  // the link in the log's directory keeps the data
    if (!st.ok()) return from_status(st, Errc::unavailable, "cannot write a snapshot");
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

  Result<std::optional<Snapshot>> find_snapshot(Seq at) const override {
    std::shared_lock handles_lock(handles_mu_);
    if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
    std::unique_ptr<rocksdb::Iterator> it(
        h_->db->NewIterator(rocksdb::ReadOptions(), h_->cf(kSnapshotsCf)));
    it->SeekForPrev(bin::be64(at));
    if (!it->status().ok())
      return from_status(it->status(), Errc::unavailable, "cannot read snapshots");
    if (!it->Valid()) return std::optional<Snapshot>{};
    Snapshot s;
    s.seq = bin::read_be64(it->key().ToStringView());
    s.bytes = it->value().ToString();
    return std::optional<Snapshot>(std::move(s));
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
    {
      std::shared_lock handles_lock(handles_mu_);
      if (!h_) return make_error(Errc::unavailable, "the event log is being reopened");
      const rocksdb::Status st = h_->db->TryCatchUpWithPrimary();
      if (!st.ok()) return from_status(st, Errc::unavailable, "cannot catch up with the writer");
    }
    return load_head();
  }

  // Writes the stored records 1..upto of `from` unchanged (bytes and hashes),
  // with their index entries and the snapshots up to `upto`. REQUIRES: an empty log.
  Status copy_from(const EventLog& from, Seq upto) {
    rocksdb::WriteOptions wo;
    rocksdb::WriteBatch batch;
    Status failure;
    Micros last_time = 0;
    Seq last_seq = 0;
    Digest last_hash{};
    auto flush = [&]() -> bool {
      if (batch.Count() == 0) return true;
      const rocksdb::Status st = h_->db->Write(wo, &batch);
      batch.Clear();
      if (!st.ok()) failure = from_status(st, Errc::unavailable, "cannot write the copy");
      return st.ok();
    };
    const Status scanned = from.scan_raw([&](std::string_view key, std::string_view value) {
      const Seq seq = bin::read_be64(key);
      if (seq > upto) return false;
      auto e = decode_stored(value);
      if (!e) {
        failure =
            make_error(Errc::corruption, "event " + std::to_string(seq) + ": " + e.error().message);
        return false;
      }
      batch.Put(h_->cf(kLogCf), key, value);
      const std::string iv = index_value(e->type, e->time);
      const Subjects s = subjects_of(*e);
      if (!s.principal_id.empty())
        batch.Put(h_->cf(kIdxPrincipalCf), index_key(s.principal_id, seq), iv);
      for (const auto& k : s.apikeys) batch.Put(h_->cf(kIdxApikeyCf), index_key(k, seq), iv);
      if (indexed_actor(e->context.actor))
        batch.Put(h_->cf(kIdxActorCf), index_key(e->context.actor, seq), iv);
      batch.Put(h_->cf(kIdxTypeCf), type_prefix(e->type) + std::string(key),
                bin::be64(static_cast<std::uint64_t>(e->time)));
      if (last_seq != 0 && e->time != last_time) {
        batch.Put(h_->cf(kIdxTimeCf),
                  bin::be64(static_cast<std::uint64_t>(last_time)) + bin::be64(last_seq), "");
      }
      last_time = e->time;
      last_seq = seq;
      last_hash = e->hash;
      return batch.Count() < 4096 || flush();
    });
    if (!scanned) return scanned;
    if (!failure) return failure;
    if (last_seq != 0) {
      batch.Put(h_->cf(kIdxTimeCf),
                bin::be64(static_cast<std::uint64_t>(last_time)) + bin::be64(last_seq), "");
    }
    for (Seq at = upto;;) {
      auto snap = from.find_snapshot(at);
      if (!snap) return snap.error();
      if (!*snap) break;
      batch.Put(h_->cf(kSnapshotsCf), bin::be64((*snap)->seq), (*snap)->bytes);
      if ((*snap)->seq == 0) break;
      at = (*snap)->seq - 1;
    }
    if (!flush()) return failure;
    rocksdb::FlushOptions fo;
    if (const rocksdb::Status st = h_->db->Flush(fo, h_->handles); !st.ok())
      return from_status(st, Errc::unavailable, "cannot flush the copy");
    std::lock_guard lock(head_mu_);
    head_ = Head{last_seq, last_time, last_hash};
    return {};
  }

 private:
  // Readers hold handles_mu_ shared while they use h_; recover() replaces h_
  // under the exclusive lock.
  mutable std::shared_mutex handles_mu_;
  std::unique_ptr<RocksHandles> h_;  // null only if a reopen found no way to open at all
  bool stand_in_ = false;            // h_ is read-only after a failed reopen (appending thread)
  std::string dir_;
  OpenMode mode_;
  LogOptions options_;
  rocksdb::WriteOptions write_options_;
  mutable std::mutex head_mu_;
  Head head_;  // GUARDED_BY(head_mu_)
};

}  // namespace

RocksHandles::~RocksHandles() {
  if (db) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
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
                                                           const LogOptions& options) {
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
  }

  auto h = std::make_unique<RocksHandles>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st;
  if (mode == OpenMode::read_only) {
    char tmpl[] = "/tmp/latchkey-reader-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      return make_error(Errc::unavailable, "cannot create a temporary directory");
    h->secondary_dir = tmpl;
    st = rocksdb::DB::OpenAsSecondary(rocksdb::DBOptions(opts), dir, h->secondary_dir, cfs,
                                      &h->handles, &raw);
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

Result<std::unique_ptr<EventLog>> open_rocksdb_log(const std::string& dir, OpenMode mode,
                                                   const LogOptions& options) {
  auto h = open_rocksdb_handles(dir, mode, options);
  if (!h) return h.error();
  auto log = std::make_unique<RocksEventLog>(std::move(*h), dir, mode, options);
  if (auto st = log->load_head(); !st) return st.error();
  return std::unique_ptr<EventLog>(std::move(log));
}

Status backup_rocksdb_log(const std::string& from_dir, const std::string& to_dir,
                          std::string* how) {
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
  // The log is in use: copy through a reader.
  auto reader = open_rocksdb_log(from_dir, OpenMode::read_only);
  if (!reader) return reader.error();
  auto out = open_rocksdb_log(to_dir, OpenMode::create_new);
  if (!out) return out.error();
  const Head head = (*reader)->head();
  auto* target = static_cast<RocksEventLog*>(out->get());
  Status copy_st = target->copy_from(**reader, head.seq);
  if (!copy_st) return copy_st;
  if (how) *how = "copy of " + std::to_string(head.seq) + " events";
  return {};
}

}  // namespace latchkey::events
