#pragma once
// The contents of one file as programs see them through powerloss_fs: the
// bytes of its backing file up to `base_limit`, zeros past that, and the
// ranges written since the last fsync laid over both, up to `size`. Only
// flush() changes the backing file, so until then it holds exactly what the
// last fsync made durable.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace latchkey::powerloss {

class Overlay {
 public:
  // A file whose backing file holds `backing_size` bytes, none of them changed.
  explicit Overlay(std::uint64_t backing_size)
      : size_(backing_size), base_limit_(backing_size), backing_size_(backing_size) {}

  std::uint64_t size() const { return size_; }
  // Bytes written and not yet flushed (for messages).
  std::uint64_t unsynced_bytes() const;

  void write(std::uint64_t off, std::string_view data);
  // Shrinks (what lay past `size` reads as zeros if the file grows again) or
  // grows with zeros.
  void truncate(std::uint64_t size);
  // Up to `len` bytes at `off`, fewer at the end of the file; the backing
  // file's bytes are read from `fd`. Returns 0 or an errno.
  int read(int fd, std::uint64_t off, std::size_t len, std::string* out) const;
  // Makes the backing file (`fd`) hold exactly what read() shows and fsyncs
  // (or fdatasyncs) it; then nothing is unsynced. Returns 0 or an errno, and
  // keeps everything unsynced if it fails.
  int flush(int fd, bool datasync);

 private:
  std::uint64_t size_;
  std::uint64_t base_limit_;    // bytes of the backing file still visible; <= size_
  std::uint64_t backing_size_;  // what the backing file holds; >= base_limit_
  // Non-overlapping written ranges by offset, each within size_. Adjacent
  // writes are joined, so an appended file is one growing string.
  std::map<std::uint64_t, std::string> ranges_;
};

}  // namespace latchkey::powerloss
