// The block codec of the replicated log: what one group commit carries.

#include <boost/test/unit_test.hpp>

#include "base/encoding.h"
#include "events/cluster/block.h"
#include "events/codec.h"

using namespace latchkey;
using namespace latchkey::events;
using namespace latchkey::events::cluster;

namespace {

// `n` linked login events of `project` from seq `first`, after `prev`.
BlockPart logins(const std::string& project, Seq first, int n, Digest prev) {
  BlockPart part;
  part.project = project;
  for (int i = 0; i < n; ++i) {
    Event e;
    e.seq = first + static_cast<Seq>(i);
    e.time = 1'790'000'000'000'000 + i;
    e.type = EventType::token_issued;
    e.version = current_version(e.type);
    e.context = {"anonymous", "rid-" + std::to_string(i), "192.0.2.7"};
    TokenIssued t;
    t.jti = project + "-jti-" + std::to_string(e.seq);
    t.apikey = "lk_000000000000000000000001";
    t.principal_id = "usr_0123456789abcdef";
    t.iat = 1'790'000'000;
    t.exp = 1'790'003'600;
    t.kid = "k1";
    t.roles = {"admin"};
    e.data = t;
    e.prev_hash = prev;
    part.records.push_back(encode_stored(e));  // sets e.hash
    prev = e.hash;
    part.events.push_back(std::move(e));
  }
  return part;
}

Block sample() {
  Block b;
  b.epoch = 7;
  b.writer = "node-a";
  b.prev = sha256("the block before");
  b.parts.push_back(logins("default", 10, 3, sha256("default head")));
  b.parts.push_back(logins("acme", 1, 2, Digest{}));
  return b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(block)

BOOST_AUTO_TEST_CASE(a_block_decodes_to_what_was_encoded) {
  Block b = sample();
  const std::string bytes = encode_block(b);
  auto d = decode_block(bytes);
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->epoch == 7u);
  BOOST_TEST(d->writer == "node-a");
  BOOST_TEST((d->prev == b.prev));
  BOOST_TEST((d->hash == b.hash));
  BOOST_TEST((d->hash == sha256(std::string_view(bytes).substr(0, bytes.size() - 32))));
  BOOST_TEST_REQUIRE(d->parts.size() == 2u);
  BOOST_TEST(d->parts[1].project == "acme");
  BOOST_TEST(event_count(*d) == 5u);
  for (std::size_t p = 0; p < 2; ++p)
    for (std::size_t i = 0; i < b.parts[p].events.size(); ++i) {
      const Event& want = b.parts[p].events[i];
      const Event& got = d->parts[p].events[i];
      BOOST_TEST(got.seq == want.seq);
      BOOST_TEST((got.hash == want.hash));
      BOOST_TEST(encode_canonical(got) == encode_canonical(want));
      BOOST_TEST(d->parts[p].records[i] == b.parts[p].records[i]);
    }
}

BOOST_AUTO_TEST_CASE(an_empty_block_is_a_block) {
  Block b;
  b.epoch = 1;
  b.writer = "n";
  auto d = decode_block(encode_block(b));
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(d->parts.empty());
}

BOOST_AUTO_TEST_CASE(a_part_that_drops_a_project_decodes_as_one) {
  // A deleted project's data goes at this block on every node; the parts
  // beside it are unchanged.
  Block b = sample();
  BlockPart gone;
  gone.project = "acme";
  gone.drop = true;
  gone.records.push_back("not encoded: a drop carries nothing");
  b.parts.insert(b.parts.begin() + 1, gone);
  auto d = decode_block(encode_block(b));
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST_REQUIRE(d->parts.size() == 3u);
  BOOST_TEST(!d->parts[0].drop);
  BOOST_TEST(d->parts[1].drop);
  BOOST_TEST(d->parts[1].project == "acme");
  BOOST_TEST(d->parts[1].events.empty());
  BOOST_TEST(d->parts[1].records.empty());
  BOOST_TEST(!d->parts[2].drop);
  BOOST_TEST(event_count(*d) == 5u);
}

BOOST_AUTO_TEST_CASE(every_damaged_byte_is_found) {
  Block b = sample();
  const std::string bytes = encode_block(b);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto d = decode_block(bad);
    BOOST_TEST_REQUIRE(!d.has_value(), "flipped byte " << i << " went unnoticed");
    BOOST_TEST((d.error().code == Errc::corruption));
  }
  for (std::size_t n = 0; n < bytes.size(); n += 7)
    BOOST_TEST(!decode_block(bytes.substr(0, n)).has_value());
}

BOOST_AUTO_TEST_CASE(a_part_whose_events_do_not_link_is_refused) {
  // Sealed by a valid block hash, so only the chain check can find it.
  Block b = sample();
  std::swap(b.parts[0].records[1], b.parts[0].records[2]);
  auto d = decode_block(encode_block(b));
  BOOST_TEST_REQUIRE(!d.has_value());
  BOOST_TEST(d.error().message.find("do not link") != std::string::npos);

  Block next = sample();
  next.parts[1].records.push_back(
      logins("acme", 3, 1, next.parts[1].events.back().hash).records[0]);
  BOOST_TEST(decode_block(encode_block(next)).has_value());  // 1, 2 then 3: linked
  Block skip = sample();
  skip.parts[1].records.push_back(
      logins("acme", 4, 1, skip.parts[1].events.back().hash).records[0]);
  BOOST_TEST(!decode_block(encode_block(skip)).has_value());  // 1, 2 then 4
}

BOOST_AUTO_TEST_SUITE_END()
