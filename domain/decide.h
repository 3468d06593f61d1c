#pragma once
// The rules of latchkey, as pure functions: the current views and a command
// in, the events to append (or a rejection) out. No I/O, no clock (the time
// is passed in), no randomness (fresh values come in the command).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/commands.h"
#include "domain/throttle.h"
#include "base/error.h"
#include "events/event.h"
#include "projections/views.h"

namespace latchkey::domain {

// Events for an admin or self-service command. Rejections: invalid_request
// (bad value; the message says which), not_found (unknown or deleted
// principal or key, or one of the other kind), conflict (key limit reached,
// or the change would leave no admin). An accepted command that changes
// nothing yields no events.
Result<std::vector<events::Draft>> decide(const projections::Views& views, const Command& cmd,
                                          Micros now);

struct LoginDecision {
  Errc outcome = Errc::invalid_credentials;  // ok | invalid_credentials | too_many_requests
  std::vector<events::Draft> events;  // token.issued, or login.failed / login.locked (maybe none)
  std::optional<events::TokenIssued> claims;  // when ok
  int retry_after_seconds = 0;                // when too_many_requests
  std::string reason;  // the true reason of a failure (never shown to the client)
};

// A login. Locks (login.locked) are checked first, so a locked apikey or
// address is refused even with the right secret. REQUIRES: the caller owns
// `throttle` (the writer thread).
LoginDecision decide_login(const projections::Views& views, LoginThrottle& throttle,
                           const LoginAttempt& attempt, Micros now);

// ---- validation, shared with the HTTP layer's messages ----
std::optional<std::string> check_name(std::string_view name);  // error message, or nullopt
std::optional<std::string> check_email(std::string_view email);
std::optional<std::string> check_roles(const std::vector<std::string>& roles);
std::optional<std::string> check_description(std::string_view description);

struct SettingRange {
  const char* name;
  std::int64_t min;
  std::int64_t max;
};
// The allowed range of each setting.
const std::vector<SettingRange>& setting_ranges();

}  // namespace latchkey::domain
