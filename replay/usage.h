#pragma once
// A project's use over the last day or month, read from the log's type index
// (for the console's and the platform page's charts): logins (token.issued),
// failed logins (login.failed) and the keys active at the end of each bucket.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "events/event_log.h"

namespace latchkey::replay {

enum class UsagePeriod { day, month };

// "day" or "month"; nullopt for anything else.
[[nodiscard]] std::optional<UsagePeriod> parse_usage_period(std::string_view text);
[[nodiscard]] const char* usage_period_name(UsagePeriod p) noexcept;

struct UsageBucket {
  Micros start = 0;  // UTC, on the hour (day) or at midnight (month)
  std::uint64_t logins = 0;
  std::uint64_t failed_logins = 0;
  // Keys that existed, were enabled and had not expired at the bucket's end
  // (or at `now` for the last bucket).
  std::uint64_t active_keys = 0;
};

struct Usage {
  UsagePeriod period = UsagePeriod::day;
  Micros bucket_micros = 0;
  std::vector<UsageBucket> buckets;  // oldest first; the last one holds `now`
};

// The last 24 hours in hourly buckets, or the last 30 days in daily buckets,
// up to `now`. Cost: one index entry per login and failed login in the
// period, and one event read per key change ever. Errors: those of the log.
[[nodiscard]] Result<Usage> usage(const events::EventLog& log, UsagePeriod period, Micros now);

// Adds `from`'s figures to `into`'s, bucket by bucket (both for the same
// period and `now`); `into` empty takes `from`'s buckets.
void add_usage(Usage& into, const Usage& from);

}  // namespace latchkey::replay
