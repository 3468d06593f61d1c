#pragma once
// Verification of a whole log: the sequence is dense from 1, every record's
// hash matches its bytes, every prev_hash names the previous record's hash,
// time never decreases, and every checkpoint names the true head hash and, if
// public keys are given, carries a valid signature by one of them.
//
// Archived events are read from their segments: archives and the live store
// verify as one chain. Where retention deleted the oldest history, the chain
// is verified from the cut: it starts at the hash that the signed
// log.history_deleted event of that cut names, and fails if no such event
// vouches for it.

#include <functional>
#include <map>
#include <string>

#include "base/signing.h"
#include "events/event_log.h"

namespace latchkey::events {

struct VerifyReport {
  bool ok = true;
  Seq events = 0;                           // records checked
  Seq first_bad = 0;                        // 0 when ok
  std::string reason;                       // what is wrong at first_bad
  std::uint64_t checkpoints = 0;            // checkpoints whose head hash matched
  std::uint64_t checkpoints_signed_ok = 0;  // of those, signatures verified
  Seq last_checkpoint = 0;
  Digest head_hash{};
  Seq archived = 0;              // of the records checked, those read from archive segments
  Seq deleted = 0;               // events 1..deleted are gone: verified from the cut after them
  bool from_signed_cut = false;  // deleted > 0 and a signed log.history_deleted names the start
  std::uint64_t cuts = 0;        // log.archived / log.history_deleted events that matched
  std::uint64_t cuts_signed_ok = 0;
};

// `keys` by kid; when empty, checkpoint signatures are not checked (their head
// hashes still are). An unknown kid or a bad signature with keys given fails.
// `progress`, if given, is called with the number of records checked so far,
// every few thousand records.
VerifyReport verify_log(const EventLog& log, const std::map<std::string, VerifyKey>& keys = {},
                        const std::function<void(Seq done)>& progress = {});

}  // namespace latchkey::events
