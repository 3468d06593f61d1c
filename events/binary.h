#pragma once
// The compact binary encoding of stored events and view snapshots: big-endian
// fixed integers, LEB128 varints, length-prefixed strings. The Reader never
// reads past its input: any malformed input sets `ok() == false` and yields
// zeros, so decoders check `ok()` once at the end.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "events/event.h"

namespace latchkey::bin {

class Writer {
 public:
  void u8(std::uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u64(std::uint64_t v) {
    for (int i = 7; i >= 0; --i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      u8(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    u8(static_cast<std::uint8_t>(v));
  }
  // Zig-zag, so small negative numbers stay short.
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void bytes(std::string_view s) {
    varint(s.size());
    buf_.append(s);
  }
  void raw(std::string_view s) { buf_.append(s); }
  void digest(const Digest& d) { buf_.append(reinterpret_cast<const char*>(d.data()), d.size()); }

  const std::string& str() const { return buf_; }
  std::string take() { return std::move(buf_); }
  void reserve(std::size_t n) { buf_.reserve(n); }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  void fail() { ok_ = false; }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>(hi << 8 | u8());
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t b = u8();
      if (!ok_) return 0;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok_ = false;
    return 0;
  }
  std::int64_t svarint() {
    const std::uint64_t z = varint();
    return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
  }
  std::string_view bytes() {
    const std::uint64_t n = varint();
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    const std::string_view s = in_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::string_view raw(std::size_t n) {
    if (!need(n)) return {};
    const std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Digest digest() {
    Digest d{};
    const std::string_view s = raw(d.size());
    if (ok_) std::memcpy(d.data(), s.data(), d.size());
    return d;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Big-endian u64 as an 8-byte key, so RocksDB's bytewise order is numeric order.
inline std::string be64(std::uint64_t v) {
  Writer w;
  w.u64(v);
  return w.take();
}
inline std::uint64_t read_be64(std::string_view s) {
  Reader r(s);
  return r.u64();
}

// Field-wise encoding used by event data and snapshots. A struct lists its
// fields once, in `template <class V> void fields(V& v)`, and these visitors
// encode, decode and print it. The binary form ignores a field's kind.
using events::FieldKind;
using events::LockScope;

struct FieldWriter {
  Writer& w;
  void operator()(const char*, const std::string& v, FieldKind = FieldKind::plain) { w.bytes(v); }
  void operator()(const char*, const bool& v, FieldKind = FieldKind::plain) { w.u8(v ? 1 : 0); }
  void operator()(const char*, const std::int64_t& v, FieldKind = FieldKind::plain) {
    w.svarint(v);
  }
  void operator()(const char*, const std::uint64_t& v, FieldKind = FieldKind::plain) {
    w.varint(v);
  }
  void operator()(const char*, const Digest& v, FieldKind = FieldKind::plain) { w.digest(v); }
  // As its name, so the stored bytes are those of the string it once was.
  void operator()(const char*, const LockScope& v, FieldKind = FieldKind::plain) {
    w.bytes(events::scope_name(v));
  }
  void operator()(const char* n, const std::vector<std::string>& v,
                  FieldKind k = FieldKind::plain) {
    w.varint(v.size());
    for (const auto& s : v) (*this)(n, s, k);
  }
  template <class T>
  void operator()(const char* n, const std::optional<T>& v, FieldKind k = FieldKind::plain) {
    w.u8(v ? 1 : 0);
    if (v) (*this)(n, *v, k);
  }
  template <class T>
  requires requires(T& t, FieldWriter& fw) { t.fields(fw); }
  void operator()(const char*, const T& v, FieldKind = FieldKind::plain) {
    FieldWriter inner{w};
    // fields() is non-const by design (one list for reading and writing).
    const_cast<T&>(v).fields(inner);
  }
  template <class T>
  requires requires(T& t, FieldWriter& fw) { t.fields(fw); }
  void operator()(const char* n, const std::vector<T>& v, FieldKind k = FieldKind::plain) {
    w.varint(v.size());
    for (const auto& e : v) (*this)(n, e, k);
  }
};

struct FieldReader {
  Reader& r;
  void operator()(const char*, std::string& v, FieldKind = FieldKind::plain) {
    v.assign(r.bytes());
  }
  void operator()(const char*, bool& v, FieldKind = FieldKind::plain) { v = r.u8() != 0; }
  void operator()(const char*, std::int64_t& v, FieldKind = FieldKind::plain) { v = r.svarint(); }
  void operator()(const char*, std::uint64_t& v, FieldKind = FieldKind::plain) { v = r.varint(); }
  void operator()(const char*, Digest& v, FieldKind = FieldKind::plain) { v = r.digest(); }
  void operator()(const char*, LockScope& v, FieldKind = FieldKind::plain) {
    const auto s = events::scope_from_name(r.bytes());
    if (!s) r.fail();
    v = s.value_or(LockScope::apikey);
  }
  void operator()(const char* n, std::vector<std::string>& v, FieldKind k = FieldKind::plain) {
    const std::uint64_t count = r.varint();
    v.clear();
    for (std::uint64_t i = 0; i < count && r.ok(); ++i) (*this)(n, v.emplace_back(), k);
  }
  template <class T>
  void operator()(const char* n, std::optional<T>& v, FieldKind k = FieldKind::plain) {
    if (r.u8() != 0) {
      (*this)(n, v.emplace(), k);
    } else {
      v.reset();
    }
  }
  template <class T>
  requires requires(T& t, FieldReader& fr) { t.fields(fr); }
  void operator()(const char*, T& v, FieldKind = FieldKind::plain) {
    FieldReader inner{r};
    v.fields(inner);
  }
  template <class T>
  requires requires(T& t, FieldReader& fr) { t.fields(fr); }
  void operator()(const char* n, std::vector<T>& v, FieldKind k = FieldKind::plain) {
    const std::uint64_t count = r.varint();
    v.clear();
    for (std::uint64_t i = 0; i < count && r.ok(); ++i) (*this)(n, v.emplace_back(), k);
  }
};

// Counts a struct's fields, so data written by an older schema (fewer fields)
// can be told apart from data written by a newer one.
struct FieldCounter {
  std::size_t n = 0;
  template <class T>
  void operator()(const char*, const T&, FieldKind = FieldKind::plain) {
    ++n;
  }
};

}  // namespace latchkey::bin
