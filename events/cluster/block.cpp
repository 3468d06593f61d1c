#include "events/cluster/block.h"

#include "events/binary.h"
#include "events/codec.h"

namespace latchkey::events::cluster {
namespace {
constexpr std::string_view kMagic = "LKB1";
// A part or a block holds at most this many entries: bounds what a corrupt
// count can make the decoder reserve.
constexpr std::uint64_t kMaxEntries = 1u << 24;
}  // namespace

std::string encode_block(Block& b) {
  bin::Writer w;
  w.raw(kMagic);
  w.u64(b.epoch);
  w.bytes(b.writer);
  w.digest(b.prev);
  w.varint(b.parts.size());
  for (auto& part : b.parts) {
    w.bytes(part.project);
    if (part.drop) {  // no events, no keys
      w.varint(0);
      w.varint(0);
      continue;
    }
    w.varint(part.records.size());
    for (const auto& r : part.records) w.bytes(r);
    w.varint(part.keys.size());
    for (const auto& k : part.keys) w.bytes(k);
  }
  b.hash = sha256(w.str());
  w.digest(b.hash);
  return w.take();
}

Result<Block> decode_block(std::string_view bytes) {
  const auto bad = [](const std::string& what) {
    return make_error(Errc::corruption, "a block of the replicated log is damaged: " + what);
  };
  if (bytes.size() < kMagic.size() + 32 || bytes.substr(0, kMagic.size()) != kMagic)
    return bad("not a block");
  const std::string_view body = bytes.substr(0, bytes.size() - 32);
  bin::Reader trailer(bytes.substr(bytes.size() - 32));
  Block b;
  b.hash = trailer.digest();
  if (sha256(body) != b.hash) return bad("its hash does not match");
  bin::Reader r(body.substr(kMagic.size()));
  b.epoch = r.u64();
  b.writer = std::string(r.bytes());
  b.prev = r.digest();
  const std::uint64_t parts = r.varint();
  if (!r.ok() || parts > kMaxEntries) return bad("bad header");
  b.parts.reserve(static_cast<std::size_t>(parts));
  for (std::uint64_t i = 0; i < parts; ++i) {
    BlockPart part;
    part.project = std::string(r.bytes());
    const std::uint64_t n = r.varint();
    if (!r.ok() || n > kMaxEntries || n > r.remaining()) return bad("bad part");
    part.events.reserve(static_cast<std::size_t>(n));
    part.records.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::string_view stored = r.bytes();
      if (!r.ok()) return bad("bad event");
      auto e = decode_stored(stored);
      if (!e) return bad("an event does not decode");
      if (!part.events.empty()) {
        const Event& before = part.events.back();
        if (e->seq != before.seq + 1 || e->prev_hash != before.hash)
          return bad("the events of project " + part.project + " do not link");
      }
      part.events.push_back(std::move(*e));
      part.records.emplace_back(stored);
    }
    const std::uint64_t keys = r.varint();
    if (!r.ok() || keys > r.remaining()) return bad("bad keys");
    for (std::uint64_t k = 0; k < keys; ++k) part.keys.emplace_back(r.bytes());
    if (!r.ok()) return bad("bad key");
    part.drop = part.events.empty() && part.keys.empty();
    b.parts.push_back(std::move(part));
  }
  if (!r.at_end()) return bad("trailing bytes");
  return b;
}

std::size_t event_count(const Block& b) {
  std::size_t n = 0;
  for (const auto& p : b.parts) n += p.events.size();
  return n;
}

}  // namespace latchkey::events::cluster
