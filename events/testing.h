#pragma once
// Test helpers that damage a closed log on disk, the way an attacker or a
// broken disk would, so tests can show that verification notices. Never used
// by the product.

#include <functional>
#include <string>

#include "base/error.h"
#include "events/event_log.h"

namespace latchkey::events::testing {

// Flips one byte of the stored record `seq` at `offset` (from the start of the record).
Status flip_byte(const std::string& dir, Seq seq, std::size_t offset);
// Removes the record `seq`.
Status delete_record(const std::string& dir, Seq seq);
// Exchanges the stored records of `a` and `b`.
Status swap_records(const std::string& dir, Seq a, Seq b);
// Re-hashes the chain from `from` on, so only checkpoints can reveal an edit.
Status rechain_from(const std::string& dir, Seq from);
// Walks the whole log as an attacker with write access would: `edit(event,
// prev_hash)` may change any event (prev_hash is the recomputed hash of the
// event before it), and every record is re-hashed so the chain holds again.
Status rewrite_log(const std::string& dir,
                   const std::function<void(Event&, const Digest& prev)>& edit);
// Replaces the data of the event `seq` by `edit(event)` and re-hashes the chain after it.
Status rewrite_event(const std::string& dir, Seq seq, const std::function<void(Event&)>& edit);

}  // namespace latchkey::events::testing
