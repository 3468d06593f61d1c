#pragma once
// The rules of latchkey, as pure functions: the current views and a command
// in, the events to append (or a rejection) out. No I/O, no clock (the time
// is passed in), no randomness (fresh values come in the command).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "domain/commands.h"
#include "domain/throttle.h"
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

enum class LoginOutcome {
  issued,        // a token: the claims are in the decision
  refused,       // invalid_credentials, whatever the reason (the client sees one body)
  locked,        // too_many_requests: the apikey or the address is locked
  rate_limited,  // too_many_requests: the key's rate_per_minute is spent
};

struct LoginDecision {
  LoginOutcome outcome = LoginOutcome::refused;
  std::vector<events::Draft> events;  // token.issued, or login.failed / login.locked (maybe none)
  std::optional<events::TokenIssued> claims;  // when issued
  int retry_after_seconds = 0;                // when locked or rate_limited
  std::string reason;  // the true reason of a failure (never shown to the client)
  // What the attempt does to the throttle's counts, applied by the writer
  // with the login's group (and undone if that group is not committed).
  LoginThrottle::Change throttle;
  // A use from outside the key's networks (reason source_not_allowed): the
  // address's network (/24 or /64), and the owner's address when the owner
  // has not yet been told of a use from that network today.
  std::string blocked_network;
  std::string notify_email;
};

// A login. Locks (login.locked) are checked first, so a locked apikey or
// address is refused even with the right secret. Pure: reads the views and
// the throttle's committed counts, changes neither.
[[nodiscard]] LoginDecision decide_login(const projections::Views& views,
                                         const LoginThrottle& throttle, const LoginAttempt& attempt,
                                         Micros now);

// The end of the lock on logins with `apikey` from `source` at `now`, from
// the committed login.locked events; 0 if neither is locked. An apikey that
// does not have the form of one is not looked up.
[[nodiscard]] Micros locked_until(const projections::Views& views, std::string_view apikey,
                                  std::string_view source, Micros now);

// Retry-After for a lock ending at `until`: whole seconds, rounded up.
[[nodiscard]] int retry_after_seconds(Micros until, Micros now);

// Whether a token for `apikey` issued to `principal_id` still stands: the key
// exists and is active, its principal is that one and not deleted, and the
// token `jti` was not revoked (token.revoked). Its
// own expiry and signature are checked apart (keys/tokens.h). The same rule
// for bearer tokens on the API and for introspection.
[[nodiscard]] bool token_stands(const projections::Views& views, std::string_view apikey,
                                std::string_view principal_id, std::string_view jti);

// The roles a key's tokens carry: the owner's roles now, narrowed to the
// key's `roles` when it has some (so never a role the owner has lost).
[[nodiscard]] std::vector<std::string> effective_roles(const projections::Principal& owner,
                                                       const projections::ApiKey& key);

// At most this many allowed networks per key, and this rate_per_minute.
constexpr std::size_t kMaxAllowedCidrs = 50;
constexpr std::int64_t kMaxRatePerMinute = 100'000;

// The networks in canonical form, without duplicates, or the error message.
[[nodiscard]] Result<std::vector<std::string>> normalize_cidrs(
    const std::vector<std::string>& cidrs);

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
