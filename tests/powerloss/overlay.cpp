#include "tests/powerloss/overlay.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace latchkey::powerloss {

std::uint64_t Overlay::unsynced_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [off, bytes] : ranges_) n += bytes.size();
  return n;
}

void Overlay::write(std::uint64_t off, std::string_view data) {
  if (data.empty()) return;
  const std::uint64_t end = off + data.size();
  // The range that starts at or before `off` and reaches it (or ends right
  // there) takes the write; otherwise a new range starts at `off`.
  auto it = ranges_.upper_bound(off);
  std::uint64_t start = off;
  std::string* target = nullptr;
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.size() >= off) {
      start = prev->first;
      target = &prev->second;
    }
  }
  // Ranges starting inside (off, end] are absorbed; the part of the last one
  // past `end` is kept.
  std::string tail;
  while (it != ranges_.end() && it->first <= end) {
    const std::uint64_t range_end = it->first + it->second.size();
    if (range_end > end) tail = it->second.substr(end - it->first);
    it = ranges_.erase(it);
  }
  if (target == nullptr) target = &ranges_[off];
  if (start + target->size() > end) {
    target->replace(off - start, data.size(), data);  // inside one range
  } else {
    target->resize(off - start);
    target->append(data);
    target->append(tail);
  }
  size_ = std::max(size_, end);
}

void Overlay::truncate(std::uint64_t size) {
  if (size < size_) {
    auto it = ranges_.lower_bound(size);
    ranges_.erase(it, ranges_.end());
    if (!ranges_.empty()) {
      auto& [off, bytes] = *ranges_.rbegin();
      if (off + bytes.size() > size) bytes.resize(size - off);
    }
    base_limit_ = std::min(base_limit_, size);
  }
  size_ = size;
}

int Overlay::read(int fd, std::uint64_t off, std::size_t len, std::string* out) const {
  out->clear();
  if (off >= size_) return 0;
  const std::uint64_t end = std::min<std::uint64_t>(size_, off + len);
  out->assign(end - off, '\0');
  // The backing file's bytes that are still visible.
  const std::uint64_t base_end = std::min(end, base_limit_);
  std::uint64_t pos = off;
  while (pos < base_end) {
    const ssize_t n = ::pread(fd, out->data() + (pos - off), base_end - pos, pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // the backing file is shorter than it should be
    pos += n;
  }
  // The written ranges over them.
  auto it = ranges_.upper_bound(off);
  if (it != ranges_.begin()) --it;
  for (; it != ranges_.end() && it->first < end; ++it) {
    const std::uint64_t from = std::max(off, it->first);
    const std::uint64_t to = std::min(end, it->first + it->second.size());
    if (from < to) {
      std::copy_n(it->second.data() + (from - it->first), to - from, out->data() + (from - off));
    }
  }
  return 0;
}

int Overlay::flush(int fd, bool datasync) {
  // What lay past a truncation must not come back: cut the backing file
  // there first, then write the ranges, then give it its size.
  if (backing_size_ > base_limit_ && ::ftruncate(fd, base_limit_) != 0) return errno;
  backing_size_ = std::min(backing_size_, base_limit_);
  for (const auto& [off, bytes] : ranges_) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, off + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      done += n;
    }
    backing_size_ = std::max(backing_size_, off + bytes.size());
  }
  if (backing_size_ != size_ && ::ftruncate(fd, size_) != 0) return errno;
  backing_size_ = size_;
  if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return errno;
  ranges_.clear();
  base_limit_ = size_;
  return 0;
}

}  // namespace latchkey::powerloss
