#pragma once
// Archive segments: a range of one project's events moved out of the live
// log, in one file compressed with zstd, with its own index (docs/data-lifecycle.md).
//
//   DIR/<project>/<first>-<last>.lka   (sequence numbers zero-padded to 20 digits)
//     "LKARCH01"
//     varint header size | header: project, first, last, first/last time,
//                          the hash before first, the hash of last, frame sizes
//     zstd frame: the stored records first..last, packed (varint size | bytes):
//                 each without the previous record's hash and its own hash
//                 (a third of a login's bytes, and incompressible); the reader
//                 puts them back from the chain, so a read gives the stored
//                 records byte for byte, and the last must hash to the
//                 header's last hash
//     zstd frame: the index: per record its time; per (index, key) its entries
//     SHA-256 of everything before it
//
// The records read back exactly as the log stored them, so the hash chain and
// the sealed personal data carry over unchanged. A segment is written to a
// temporary name, synced, renamed and its directory synced: it is either
// there whole or not at all. Internal to events/ (the log's implementation).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "events/event.h"
#include "events/event_log.h"

namespace latchkey::events::archive {

struct SegmentInfo {
  std::string path;
  Seq first = 0;
  Seq last = 0;
  Micros first_time = 0;
  Micros last_time = 0;
  Digest prev_hash{};  // the hash of event first - 1 (zero for the first)
  Digest last_hash{};
  std::uint64_t file_bytes = 0;
};

class SegmentWriter {
 public:
  SegmentWriter(std::string project, Seq first, const Digest& prev_hash);
  // Adds the next record: `e` is its decoded event (for the index), `stored`
  // the bytes the log holds. REQUIRES: e.seq == first + count so far.
  void add(const Event& e, std::string_view stored);
  Seq count() const { return next_ - first_; }
  // Writes DIR/<project>/<first>-<last>.lka durably. Errors: unavailable on
  // I/O errors; internal when nothing was added.
  Result<SegmentInfo> finish(const std::string& dir);

 private:
  std::string project_;
  Seq first_;
  Seq next_;
  Digest prev_hash_;
  Digest last_hash_{};
  Micros first_time_ = 0;
  Micros last_time_ = 0;
  std::string records_;
  std::vector<Micros> times_;
  std::map<std::pair<std::uint8_t, std::string>, std::vector<IndexEntry>> index_;
};

// One segment, read whole and checked (its SHA-256 and its header).
class Segment {
 public:
  // Errors: not_found when the file is gone; corruption when it does not
  // check; unavailable on I/O errors.
  static Result<std::shared_ptr<const Segment>> load(const std::string& path);

  const SegmentInfo& info() const { return info_; }
  // The stored record of `seq`. REQUIRES: first <= seq <= last.
  std::string_view record(Seq seq) const {
    return records_view_[static_cast<std::size_t>(seq - info_.first)];
  }
  Micros time(Seq seq) const { return times_[static_cast<std::size_t>(seq - info_.first)]; }
  // The entries of (index, key) in seq order (empty if none). For
  // Index::type the key is the type's name.
  const std::vector<IndexEntry>& entries(Index index, std::string_view key) const;
  // The last seq whose time is <= t (0 if none here).
  Seq seq_at_time(Micros t) const;

 private:
  SegmentInfo info_;
  std::string records_;
  std::vector<std::string_view> records_view_;  // into records_
  std::vector<Micros> times_;
  std::map<std::pair<std::uint8_t, std::string>, std::vector<IndexEntry>, std::less<>> index_;
};

// The segments of `project` under DIR, by first seq, from their headers only.
// Errors: corruption for a file whose name or header does not check;
// unavailable on I/O errors. No directory: none.
Result<std::vector<SegmentInfo>> list_segments(const std::string& dir, std::string_view project);

// Where a project's segments are.
std::string project_dir(const std::string& dir, std::string_view project);

}  // namespace latchkey::events::archive
