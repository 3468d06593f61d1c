#pragma once
// The JSON of the contract, rendered from typed values at the edge: the API's
// handlers and the offline CLI (tools/) print the same documents.

#include <nlohmann/json.hpp>
#include <vector>

#include "events/event.h"
#include "projections/views.h"
#include "replay/queries.h"
#include "replay/usage.h"

namespace latchkey::http {

// A principal as the API shows it; key_count counts its keys that are not deleted at `now`.
[[nodiscard]] nlohmann::json principal_json(const projections::Principal& p,
                                            const projections::Views& v, Micros now);

// A key as the API shows it, with its status at `at`. Never a secret or its hash.
[[nodiscard]] nlohmann::json key_json(const projections::ApiKey& k, const projections::Views& v,
                                      Micros at);

// {"name": value, ...} of every IAM setting.
[[nodiscard]] nlohmann::json settings_json(const projections::Settings& s);

// Events as the audit API shows them (events/codec.h's to_json), in order.
[[nodiscard]] nlohmann::json events_json(const std::vector<events::Event>& evs);

// The state as of `at`: principals, keys with their status at that instant,
// settings, live tokens, signing keys (GET /iam/replay/state).
[[nodiscard]] nlohmann::json state_json(const replay::State& state, Micros at);

// GET /iam/replay/diff.
[[nodiscard]] nlohmann::json diff_json(const replay::Diff& d);

// GET /iam/usage and /platform/usage: {period, bucket_seconds, buckets:
// [{start, logins, failed_logins, active_keys}]}.
[[nodiscard]] nlohmann::json usage_json(const replay::Usage& u);
// The `period` of their query string (day when absent); invalid_request for
// another value or another parameter.
[[nodiscard]] Result<replay::UsagePeriod> usage_period_of(std::string_view query);

// A page cursor: the sequence number as a string, or null at the end.
[[nodiscard]] nlohmann::json cursor_json(const std::optional<std::uint64_t>& next);

}  // namespace latchkey::http
