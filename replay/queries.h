#pragma once
// Forensic queries over the log: audit pages and streams through the indexes,
// the state at a point, what changed between two points, and a key's timeline.
// Shared by the HTTP API and the offline CLI, so both answer alike.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
Result<AuditPage> audit_page(const events::EventLog& log, const AuditFilter& filter);

// Parses the query parameters of GET /iam/audit (and the CLI's flags, which
// use the same names). invalid_request names the bad parameter.
Result<AuditFilter> parse_audit_filter(const std::map<std::string, std::string>& params);

// A point in the log given as RFC 3339 or a sequence number.
struct Point {
  Seq seq = 0;
  Micros time = 0;  // the instant asked for (for statuses); the event time if given by seq
};
Result<Point> parse_point(const events::EventLog& log, const std::string& text);

// A key as the API shows it, with its status at `at`. Never a secret or its hash.
nlohmann::json key_json(const projections::ApiKey& k, const projections::Views& v, Micros at);

// The state as of `at` as JSON: principals, keys with their status at that
// instant, settings, live tokens, signing keys.
nlohmann::json state_json(const projections::Views& v, Micros at);

// What changed in (from, to]: principals, keys, settings, signing keys, and
// tokens issued and failed logins counted by key.
Result<nlohmann::json> diff_json(const events::EventLog& log, const Point& from, const Point& to);

// Every event that touched one key, oldest first, from `after`, at most `limit`.
Result<AuditPage> timeline(const events::EventLog& log, const std::string& apikey, Seq after,
                           std::size_t limit);

}  // namespace latchkey::replay
