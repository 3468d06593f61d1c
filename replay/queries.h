#pragma once
// Forensic queries over the log: audit pages and streams through the indexes,
// the state at a point, what changed between two points, and a key's timeline.
// Shared by the HTTP API and the offline CLI, so both answer alike.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "events/event_log.h"
#include "projections/views.h"

namespace latchkey::replay {

using events::Seq;

struct AuditFilter {
  std::optional<std::string> principal_id;
  std::optional<std::string> apikey;
  std::optional<std::string> actor;
  std::optional<events::EventType> type;
  std::optional<Micros> from;  // time >= from
  std::optional<Micros> to;    // time <= to
  Seq after = 0;               // ascending: seq > after
  Seq before = 0;              // descending: seq < before (0: from the newest)
  Seq upto = 0;                // never past this seq (0: the head)
  bool descending = false;
  std::size_t limit = 100;

  // The filters as "k=v&..." in a fixed order, for the audit.read event.
  std::string describe() const;
};

struct AuditPage {
  std::vector<events::Event> events;
  std::optional<Seq> next;  // pass as `after` (ascending) or `before` (descending)
};

// One page. Its cost is the number of index entries visited, not the log's length.
[[nodiscard]] Result<AuditPage> audit_page(const events::EventLog& log, const AuditFilter& filter);

// Parses the query parameters of GET /iam/audit (and the CLI's flags, which
// use the same names). invalid_request names the bad parameter.
[[nodiscard]] Result<AuditFilter> parse_audit_filter(
    const std::map<std::string, std::string>& params);

// A point in the log given as RFC 3339 or a sequence number.
struct Point {
  Seq seq = 0;
  Micros time = 0;  // the instant asked for (for statuses); the event time if given by seq
};
[[nodiscard]] Result<Point> parse_point(const events::EventLog& log, const std::string& text);

// A token live at a point: issued at or before it, not expired then.
struct LiveToken {
  Seq seq = 0;  // its token.issued event
  std::string jti;
  std::string apikey;
  std::int64_t iat = 0;  // seconds
  std::int64_t exp = 0;  // seconds
};

// The state at a point: the views as of it, and the tokens live then.
struct State {
  projections::Views views;
  std::vector<LiveToken> live_tokens;  // in issue order
};

// The views are rebuilt as of point.seq. The live tokens are not in them (they
// would grow with every login): they are the token.issued events found through
// the type index, from point.seq back to the longest token lifetime the
// settings ever had before point.time, whose exp is after point.time. Cost:
// the token.issued events in that window, not the log's length.
[[nodiscard]] Result<State> state_at(const events::EventLog& log, const Point& point);

// One change in a diff: an event that created, changed or removed something.
struct Change {
  Seq seq = 0;
  Micros time = 0;
  std::string
      what;  // "created" | "updated" | "deleted" | "disabled" | "enabled" | "changed" | "rotated"
  std::string actor;
  std::string source_ip;
  // What changed: the fields that apply to its kind, others left empty.
  std::string id;    // a principal
  std::string name;  // a principal created, or a setting
  std::vector<std::string> keys_deactivated;
  std::string apikey;
  std::string principal_id;
  Micros expires_at = 0;  // a key created
  std::int64_t old_value = 0;
  std::int64_t new_value = 0;  // a setting
  std::string kid;
  std::string old_kid;  // a signing key rotated
};

// What changed in (from, to]: principals, keys, settings, signing keys, and
// tokens issued and failed logins counted by key.
struct Diff {
  Point from;
  Point to;
  std::uint64_t events = 0;
  std::vector<Change> principals;
  std::vector<Change> keys;
  std::vector<Change> settings;
  std::vector<Change> signing_keys;
  std::uint64_t tokens_issued = 0;
  std::map<std::string, std::uint64_t> tokens_by_key;
  std::uint64_t failed_logins = 0;
  std::map<std::string, std::uint64_t> failures_by_key;  // "(malformed)" for no apikey
};
[[nodiscard]] Result<Diff> diff(const events::EventLog& log, const Point& from, const Point& to);

// Every event that touched one key, oldest first, from `after`, at most `limit`.
[[nodiscard]] Result<AuditPage> timeline(const events::EventLog& log, const std::string& apikey,
                                         Seq after, std::size_t limit);

}  // namespace latchkey::replay
