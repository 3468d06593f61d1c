#include "events/verify.h"

#include "events/binary.h"
#include "events/codec.h"

namespace latchkey::events {

VerifyReport verify_log(const EventLog& log, const std::map<std::string, VerifyKey>& keys,
                        const std::function<void(Seq done)>& progress) {
  VerifyReport report;
  const History history = log.history();
  Seq expected = history.deleted_through + 1;
  Digest prev = history.deleted_hash;
  report.deleted = history.deleted_through;
  report.archived = history.archived_through - history.deleted_through;
  report.events = history.deleted_through;
  Micros prev_time = INT64_MIN;
  auto fail = [&](Seq at, std::string why) {
    report.ok = false;
    report.first_bad = at;
    report.reason = std::move(why);
    return false;
  };
  const Status st = log.scan_raw([&](std::string_view key, std::string_view value) {
    if (key.size() != 8) return fail(expected, "malformed key");
    const Seq seq = bin::read_be64(key);
    if (seq != expected)
      return fail(expected, seq > expected ? "missing event" : "sequence out of order");
    auto e = decode_stored(value);
    if (!e) return fail(seq, e.error().message);
    if (e->seq != seq) return fail(seq, "record holds event " + std::to_string(e->seq));
    if (e->prev_hash != prev)
      return fail(seq, "prev_hash does not match the previous event's hash");
    if (e->time < prev_time) return fail(seq, "time goes backwards");
    if (const auto* cp = std::get_if<Checkpoint>(&e->data)) {
      if (cp->head_seq + 1 != seq || cp->head_hash != prev) {
        return fail(seq, "checkpoint does not match the chain before it");
      }
      if (!keys.empty()) {
        const auto it = keys.find(cp->kid);
        if (it == keys.end()) return fail(seq, "checkpoint signed by an unknown key " + cp->kid);
        const auto sig = base64url_decode(cp->signature);
        if (!sig || !it->second.verify(checkpoint_message(cp->head_seq, cp->head_hash), *sig)) {
          return fail(seq, "checkpoint signature is not valid");
        }
        ++report.checkpoints_signed_ok;
      }
      ++report.checkpoints;
      report.last_checkpoint = seq;
    }
    if (const auto* cut = std::get_if<LogCut>(&e->data)) {
      if (cut->through >= seq) return fail(seq, "a cut names an event after itself");
      if (e->type == EventType::log_history_deleted && cut->through == history.deleted_through) {
        if (cut->through_hash != history.deleted_hash) {
          return fail(seq, "the deleted history's cut names another hash than the chain starts at");
        }
        report.from_signed_cut = true;
      } else if (cut->through > history.deleted_through) {
        // An event already checked above: its hash, as stored, is the one the cut names.
        auto at = log.get(cut->through);
        if (!at) return fail(seq, "the event this cut names cannot be read: " + at.error().message);
        if (at->hash != cut->through_hash) {
          return fail(seq, "a cut names another hash than event " + std::to_string(cut->through));
        }
      }
      if (!keys.empty()) {
        const auto it = keys.find(cut->kid);
        if (it == keys.end()) return fail(seq, "cut signed by an unknown key " + cut->kid);
        const auto sig = base64url_decode(cut->signature);
        if (!sig ||
            !it->second.verify(
                cut_message(e->type, cut->through, cut->through_hash, cut->snapshot_hash), *sig)) {
          return fail(seq, "cut signature is not valid");
        }
        ++report.cuts_signed_ok;
      }
      ++report.cuts;
    }
    prev = e->hash;
    prev_time = e->time;
    report.events = seq;
    ++expected;
    if (progress && (seq & 4095) == 0) progress(seq);
    return true;
  });
  if (!st && report.ok) {
    report.ok = false;
    report.first_bad = expected;
    report.reason = st.error().message;
  }
  if (report.ok && history.deleted_through > 0 && !report.from_signed_cut) {
    report.ok = false;
    report.first_bad = history.deleted_through + 1;
    report.reason = "the history through event " + std::to_string(history.deleted_through) +
                    " was deleted, and no log.history_deleted event vouches for where the chain "
                    "resumes";
  }
  report.head_hash = prev;
  return report;
}

}  // namespace latchkey::events
