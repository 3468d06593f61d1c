#include "events/archive.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/durable_dirs.h"
#include "base/encoding.h"
#include "events/binary.h"

namespace latchkey::events::archive {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "LKARCH01";
constexpr std::string_view kSuffix = ".lka";
// Level 1: on these records (packed, without their hashes) it compresses
// better than level 9 (3.79 against 4.34 MB for 100,000 logins) in a
// twelfth of the CPU, and the CPU is what archiving takes from logins
// (docs/benchmarks.md, "Archives").
constexpr int kLevel = 1;
constexpr std::uint8_t kTimeIndex = 255;  // not an Index: the index frame's time list

std::string padded(Seq s) {
  char buf[21];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(s));
  return buf;
}

Status write_file_durably(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::unavailable, "cannot create " + tmp);
  // A megabyte at a time, each written back before the next is queued (as
  // RocksDB's bytes_per_sync does for its tables): a segment of megabytes
  // handed to the disk at once would make the write-ahead log's syncs, and
  // so every login's group commit, wait behind it.
  constexpr std::size_t kChunk = 1u << 20;
  std::size_t off = 0;
  bool ok = true;
  while (ok && off < bytes.size()) {
    const std::size_t end = std::min(bytes.size(), off + kChunk);
    const std::size_t chunk_start = off;
    while (off < end) {
      const ssize_t n = ::write(fd, bytes.data() + off, end - off);
      if (n <= 0) {
        ok = false;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    if (ok) {
      // Best effort (not every file system has it): the fsync below is what
      // makes the file durable.
      (void)::sync_file_range(
          fd, static_cast<off_t>(chunk_start), static_cast<off_t>(off - chunk_start),
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    }
  }
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return make_error(Errc::unavailable, "cannot write " + path);
  }
  return sync_dir(fs::path(path).parent_path().string());
}

std::string compress(std::string_view in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), kLevel);
  if (ZSTD_isError(n)) return {};
  out.resize(n);
  return out;
}

Result<std::string> decompress(std::string_view in, std::uint64_t size, const std::string& path) {
  std::string out(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != size) {
    return make_error(Errc::corruption, path + ": a compressed frame does not decompress");
  }
  return out;
}

struct Header {
  std::string project;
  SegmentInfo info;
  std::uint64_t records_z = 0, records_raw = 0, index_z = 0, index_raw = 0;
};

std::string encode_header(const Header& h) {
  bin::Writer w;
  w.bytes(h.project);
  w.varint(h.info.first);
  w.varint(h.info.last);
  w.svarint(h.info.first_time);
  w.svarint(h.info.last_time);
  w.digest(h.info.prev_hash);
  w.digest(h.info.last_hash);
  w.varint(h.records_z);
  w.varint(h.records_raw);
  w.varint(h.index_z);
  w.varint(h.index_raw);
  return w.take();
}

// Reads the magic and header of `bytes` (the file's start); the reader is
// left after the header.
Result<Header> decode_header(bin::Reader& r, const std::string& path) {
  if (r.raw(kMagic.size()) != kMagic) return make_error(Errc::corruption, path + ": not a segment");
  bin::Reader h(r.bytes());
  Header out;
  out.project = std::string(h.bytes());
  out.info.path = path;
  out.info.first = h.varint();
  out.info.last = h.varint();
  out.info.first_time = h.svarint();
  out.info.last_time = h.svarint();
  out.info.prev_hash = h.digest();
  out.info.last_hash = h.digest();
  out.records_z = h.varint();
  out.records_raw = h.varint();
  out.index_z = h.varint();
  out.index_raw = h.varint();
  if (!r.ok() || !h.ok() || out.info.first == 0 || out.info.last < out.info.first) {
    return make_error(Errc::corruption, path + ": a malformed segment header");
  }
  return out;
}

// Where the previous record's hash sits in a stored record (codec.cpp:
// format, seq, time, type, version, actor, request id, address, then it).
// `after`: the bytes that must follow (32 in a stored record, none packed).
std::optional<std::size_t> prev_hash_offset(std::string_view record, std::size_t after) {
  bin::Reader r(record);
  r.u8();
  r.varint();
  r.svarint();
  r.u16();
  r.u16();
  r.bytes();
  r.bytes();
  r.bytes();
  if (!r.ok() || r.remaining() < after) return std::nullopt;
  return r.position();
}

Result<std::string> read_file(const std::string& path, std::size_t limit = SIZE_MAX) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return make_error(Errc::not_found, path + ": no such segment");
    return make_error(Errc::unavailable, "cannot read " + path);
  }
  std::string out;
  char buf[1 << 16];
  while (out.size() < limit && in.read(buf, sizeof buf).gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return make_error(Errc::unavailable, "cannot read " + path);
  return out;
}

}  // namespace

std::string project_dir(const std::string& dir, std::string_view project) {
  return dir + "/" + std::string(project);
}

SegmentWriter::SegmentWriter(std::string project, Seq first, const Digest& prev_hash)
    : project_(std::move(project)), first_(first), next_(first), prev_hash_(prev_hash) {}

void SegmentWriter::add(const Event& e, std::string_view stored) {
  if (next_ == first_) first_time_ = e.time;
  last_time_ = e.time;
  last_hash_ = e.hash;
  ++next_;
  // Packed: without the two hashes a record carries (the previous record's
  // and its own), which the reader derives again from the chain. They are a
  // third of a login's bytes and do not compress.
  const std::string_view canonical = stored.substr(0, stored.size() - 32);
  const std::size_t at = prev_hash_offset(canonical, 32).value_or(0);
  bin::Writer w;
  w.varint(canonical.size() - 32);
  w.raw(canonical.substr(0, at));
  w.raw(canonical.substr(at + 32));
  records_ += w.str();
  times_.push_back(e.time);
  const IndexEntry entry{e.seq, e.type, e.time};
  const Subjects s = subjects_of(e);
  if (!s.principal_id.empty()) {
    index_[{static_cast<std::uint8_t>(Index::principal), s.principal_id}].push_back(entry);
  }
  for (const auto& k : s.apikeys) {
    index_[{static_cast<std::uint8_t>(Index::apikey), k}].push_back(entry);
  }
  if (indexed_actor(e.context.actor)) {
    index_[{static_cast<std::uint8_t>(Index::actor), e.context.actor}].push_back(entry);
  }
  index_[{static_cast<std::uint8_t>(Index::type), type_name(e.type)}].push_back(entry);
}

Result<SegmentInfo> SegmentWriter::finish(const std::string& dir) {
  if (next_ == first_) return make_error(Errc::internal, "an empty segment");
  bin::Writer idx;
  idx.u8(kTimeIndex);
  Micros prev = first_time_;
  for (Micros t : times_) {
    idx.svarint(t - prev);
    prev = t;
  }
  idx.varint(index_.size());
  for (const auto& [k, entries] : index_) {
    idx.u8(k.first);
    idx.bytes(k.second);
    idx.varint(entries.size());
    Seq prev_seq = first_ - 1;
    for (const IndexEntry& e : entries) {
      idx.varint(e.seq - prev_seq);
      idx.u16(static_cast<std::uint16_t>(e.type));
      prev_seq = e.seq;
    }
  }
  Header h;
  h.project = project_;
  h.info.first = first_;
  h.info.last = next_ - 1;
  h.info.first_time = first_time_;
  h.info.last_time = last_time_;
  h.info.prev_hash = prev_hash_;
  h.info.last_hash = last_hash_;
  const std::string records_z = compress(records_);
  const std::string index_z = compress(idx.str());
  if (records_z.empty() || index_z.empty()) return make_error(Errc::internal, "zstd failed");
  h.records_z = records_z.size();
  h.records_raw = records_.size();
  h.index_z = index_z.size();
  h.index_raw = idx.str().size();
  bin::Writer file;
  file.raw(kMagic);
  file.bytes(encode_header(h));
  file.raw(records_z);
  file.raw(index_z);
  file.digest(sha256(file.str()));
  const std::string pdir = project_dir(dir, project_);
  if (auto st = create_directories_durably(pdir); !st) return st.error();
  h.info.path =
      pdir + "/" + padded(h.info.first) + "-" + padded(h.info.last) + std::string(kSuffix);
  h.info.file_bytes = file.str().size();
  if (auto st = write_file_durably(h.info.path, file.str()); !st) return st.error();
  return h.info;
}

Result<std::shared_ptr<const Segment>> Segment::load(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  const std::string_view all(*bytes);
  if (all.size() < kMagic.size() + 32) return make_error(Errc::corruption, path + ": truncated");
  const std::string_view body = all.substr(0, all.size() - 32);
  const Digest want = sha256(body);
  if (std::memcmp(want.data(), all.data() + body.size(), 32) != 0) {
    return make_error(Errc::corruption, path + ": the segment's checksum does not match");
  }
  bin::Reader r(body);
  auto h = decode_header(r, path);
  if (!h) return h.error();
  const std::string_view records_z = r.raw(static_cast<std::size_t>(h->records_z));
  const std::string_view index_z = r.raw(static_cast<std::size_t>(h->index_z));
  if (!r.ok() || !r.at_end()) return make_error(Errc::corruption, path + ": malformed frames");
  auto seg = std::make_shared<Segment>();
  seg->info_ = h->info;
  seg->info_.file_bytes = all.size();
  auto records = decompress(records_z, h->records_raw, path);
  if (!records) return records.error();
  seg->records_ = std::move(*records);
  const std::size_t n = static_cast<std::size_t>(h->info.last - h->info.first + 1);
  // Unpacked: each record gets back the previous one's hash and its own,
  // and the last must end where the header says the chain does.
  const std::string packed = std::move(seg->records_);
  seg->records_.clear();
  seg->records_.reserve(packed.size() + n * 64);
  std::vector<std::size_t> ends;
  ends.reserve(n);
  bin::Reader rr(packed);
  Digest prev = h->info.prev_hash;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view rec = rr.bytes();
    const auto at = prev_hash_offset(rec, 0);
    if (!rr.ok() || !at) return make_error(Errc::corruption, path + ": malformed records");
    const std::size_t start = seg->records_.size();
    seg->records_.append(rec.substr(0, *at));
    seg->records_.append(reinterpret_cast<const char*>(prev.data()), prev.size());
    seg->records_.append(rec.substr(*at));
    prev = sha256(std::string_view(seg->records_).substr(start));
    seg->records_.append(reinterpret_cast<const char*>(prev.data()), prev.size());
    ends.push_back(seg->records_.size());
  }
  if (!rr.at_end()) return make_error(Errc::corruption, path + ": records past the last");
  if (prev != h->info.last_hash) {
    return make_error(Errc::corruption,
                      path + ": the records do not hash to the segment's last hash");
  }
  seg->records_view_.reserve(n);
  for (std::size_t i = 0, start = 0; i < n; start = ends[i], ++i) {
    seg->records_view_.push_back(std::string_view(seg->records_).substr(start, ends[i] - start));
  }
  auto index = decompress(index_z, h->index_raw, path);
  if (!index) return index.error();
  bin::Reader ir(*index);
  if (ir.u8() != kTimeIndex) return make_error(Errc::corruption, path + ": malformed index");
  seg->times_.reserve(n);
  Micros t = h->info.first_time;
  for (std::size_t i = 0; i < n; ++i) {
    t += ir.svarint();
    seg->times_.push_back(t);
  }
  const std::uint64_t keys = ir.varint();
  for (std::uint64_t i = 0; i < keys && ir.ok(); ++i) {
    const std::uint8_t kind = ir.u8();
    std::string key(ir.bytes());
    const std::uint64_t count = ir.varint();
    std::vector<IndexEntry> entries;
    Seq seq = h->info.first - 1;
    for (std::uint64_t j = 0; j < count && ir.ok(); ++j) {
      seq += ir.varint();
      const auto type = static_cast<EventType>(ir.u16());
      if (seq < h->info.first || seq > h->info.last) {
        ir.fail();
        break;
      }
      entries.push_back(IndexEntry{seq, type, seg->times_[seq - h->info.first]});
    }
    seg->index_.emplace(std::make_pair(kind, std::move(key)), std::move(entries));
  }
  if (!ir.ok() || !ir.at_end()) return make_error(Errc::corruption, path + ": malformed index");
  return std::shared_ptr<const Segment>(std::move(seg));
}

const std::vector<IndexEntry>& Segment::entries(Index index, std::string_view key) const {
  static const std::vector<IndexEntry> none;
  auto it = index_.find(std::make_pair(static_cast<std::uint8_t>(index), std::string(key)));
  return it == index_.end() ? none : it->second;
}

Seq Segment::seq_at_time(Micros t) const {
  auto it = std::upper_bound(times_.begin(), times_.end(), t);
  if (it == times_.begin()) return 0;
  return info_.first + static_cast<Seq>(it - times_.begin()) - 1;
}

Result<std::vector<SegmentInfo>> list_segments(const std::string& dir, std::string_view project) {
  std::vector<SegmentInfo> out;
  const std::string pdir = project_dir(dir, project);
  std::error_code ec;
  if (!fs::exists(pdir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(pdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(kSuffix)) continue;  // a temporary file of a write a crash stopped
    auto head = read_file(entry.path().string(), 4096);
    if (!head) return head.error();
    bin::Reader r(*head);
    auto h = decode_header(r, entry.path().string());
    if (!h) return h.error();
    if (h->project != project) {
      return make_error(Errc::corruption, entry.path().string() + ": a segment of another project");
    }
    h->info.file_bytes = static_cast<std::uint64_t>(fs::file_size(entry.path(), ec));
    out.push_back(h->info);
  }
  if (ec) return make_error(Errc::unavailable, "cannot list " + pdir);
  std::sort(out.begin(), out.end(),
            [](const SegmentInfo& a, const SegmentInfo& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i].first <= out[i - 1].last) {
      return make_error(Errc::corruption, out[i].path + ": overlaps " + out[i - 1].path);
    }
  }
  return out;
}

}  // namespace latchkey::events::archive
