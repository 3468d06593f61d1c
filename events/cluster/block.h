#pragma once
// A block: one group commit of the writer, as one message of the replicated
// log (docs/cluster.md). It carries the committed events of every project the
// group touched, each part a run of that project's own hash chain, with the
// writer's epoch and the hash of the block before it, so the blocks form a
// chain of their own over the stream's total order.
//
// Encoding: "LKB1", epoch (u64), writer (bytes), previous block's hash (32),
// the parts (varint count; per part: project (bytes), events (varint count;
// per event: its stored bytes, as the log stores them), data keys (varint
// count; per key: its record)), then the SHA-256 of everything before it.
// A part with no events and no keys is the removal of the project's data
// (a deleted project's): every node drops the project's records at that
// block, so a project id created again later starts a fresh chain.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "events/event.h"

namespace latchkey::events::cluster {

struct BlockPart {
  std::string project;
  // Consecutive events of the project's chain, and their stored bytes (what
  // encode_stored made of each: sealed personal data stays sealed). The
  // bytes are what the block carries; decode_block fills both.
  std::vector<Event> events;
  std::vector<std::string> records;
  // The data keys these events' personal data was first sealed with, as the
  // writer stored them (wrapped under the project's key-encryption key,
  // which every node of the project holds): a node stores them before the
  // events, so it opens what they seal (events/personal.h).
  std::vector<std::string> keys;
  // The project's records are removed at this block (no events, no keys).
  bool drop = false;
};

struct Block {
  std::uint64_t epoch = 0;  // the writer's lease epoch
  std::string writer;       // the writer's node id
  Digest prev{};            // the hash of the block before (zero for the first)
  std::vector<BlockPart> parts;
  Digest hash{};  // set by encode_block, checked by decode_block
};

// The block's bytes (each part's records); sets b.hash.
std::string encode_block(Block& b);

// Decodes and checks a block: its hash, each event's own hash, and that each
// part's events are consecutive links of one chain (seq + 1, prev_hash = the
// hash before). Errc::corruption on any failure; never throws, never reads
// outside `bytes`. Whether the first event of a part links to the project's
// head is the applier's check, not the codec's.
Result<Block> decode_block(std::string_view bytes);

// The events of a block, in all its parts.
std::size_t event_count(const Block& b);

}  // namespace latchkey::events::cluster
