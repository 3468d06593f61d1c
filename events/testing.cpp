#include "events/testing.h"

#include <rocksdb/db.h>

#include "events/binary.h"
#include "events/codec.h"
#include "events/rocks_internal.h"

namespace latchkey::events::testing {
namespace {

Result<std::unique_ptr<RocksHandles>> open(const std::string& dir) {
  return open_rocksdb_handles(dir, OpenMode::read_write, LogOptions{});
}

Status check(const rocksdb::Status& s) {
  if (!s.ok()) return make_error(Errc::unavailable, s.ToString());
  return {};
}

}  // namespace

Status flip_byte(const std::string& dir, Seq seq, std::size_t offset) {
  auto h = open(dir);
  if (!h) return h.error();
  std::string value;
  if (auto st = check((*h)->db->Get({}, (*h)->cf(kLogCf), bin::be64(seq), &value)); !st) return st;
  if (offset >= value.size()) return make_error(Errc::invalid_request, "offset past the record");
  value[offset] = static_cast<char>(value[offset] ^ 0x01);
  return check((*h)->db->Put({}, (*h)->cf(kLogCf), bin::be64(seq), value));
}

Status delete_record(const std::string& dir, Seq seq) {
  auto h = open(dir);
  if (!h) return h.error();
  return check((*h)->db->Delete({}, (*h)->cf(kLogCf), bin::be64(seq)));
}

Status swap_records(const std::string& dir, Seq a, Seq b) {
  auto h = open(dir);
  if (!h) return h.error();
  std::string va, vb;
  if (auto st = check((*h)->db->Get({}, (*h)->cf(kLogCf), bin::be64(a), &va)); !st) return st;
  if (auto st = check((*h)->db->Get({}, (*h)->cf(kLogCf), bin::be64(b), &vb)); !st) return st;
  if (auto st = check((*h)->db->Put({}, (*h)->cf(kLogCf), bin::be64(a), vb)); !st) return st;
  return check((*h)->db->Put({}, (*h)->cf(kLogCf), bin::be64(b), va));
}

Status rewrite_log(const std::string& dir,
                   const std::function<void(Event&, const Digest& prev)>& edit) {
  auto h = open(dir);
  if (!h) return h.error();
  auto& db = *(*h)->db;
  auto* cf = (*h)->cf(kLogCf);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator({}, cf));
  Digest prev{};
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto e = decode_stored(it->value().ToStringView());
    if (!e) return e.error();
    const Digest old_hash = e->hash;
    edit(*e, prev);
    e->prev_hash = prev;
    const std::string value = encode_stored(*e);
    if (e->hash != old_hash) {
      if (auto st = check(db.Put({}, cf, it->key(), value)); !st) return st;
    }
    prev = e->hash;
  }
  return {};
}

Status rewrite_event(const std::string& dir, Seq seq, const std::function<void(Event&)>& edit) {
  return rewrite_log(dir, [&](Event& e, const Digest&) {
    if (e.seq == seq) edit(e);
  });
}

Status rechain_from(const std::string& dir, Seq from) {
  return rewrite_event(dir, from, [](Event&) {});
}

}  // namespace latchkey::events::testing
