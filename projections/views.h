#pragma once
// Read models of latchkey, built only by folding committed events:
// apply(Views&, const Event&). No I/O, no clock: anything time-dependent is
// computed by the reader against the time it passes in, or pruned by the
// event's own time, so the same events always build the same views.

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/cidr.h"
#include "base/error.h"
#include "events/event.h"

namespace latchkey::projections {

using events::LockScope;
using events::Seq;

enum class PrincipalKind : std::uint8_t { user = 0, service_account = 1 };
const char* kind_name(PrincipalKind k) noexcept;  // "user" | "service_account"

struct Principal {
  std::string id;
  PrincipalKind kind = PrincipalKind::user;
  std::string name;
  std::string email;
  std::vector<std::string> roles;
  Micros created_at = 0;
  Micros updated_at = 0;
  Micros deleted_at = 0;  // 0 while the principal exists
  std::string created_by;
  Micros erased_at = 0;  // principal.erased: name, email and key descriptions read "[erased]"
  std::vector<std::uint32_t> keys;  // positions in KeyView, oldest first

  bool deleted() const { return deleted_at != 0; }
  bool has_role(std::string_view role) const;
};

enum class KeyState : std::uint8_t { active = 0, disabled = 1, deleted = 2 };
// What a key's holder sees: deleted keys are never listed.
enum class KeyStatus : std::uint8_t { active, expired, disabled, deleted };
const char* status_name(KeyStatus s) noexcept;

struct ApiKey {
  std::string apikey;
  std::uint32_t principal = 0;  // position in PrincipalView
  std::string description;
  Digest secret_hash{};
  Micros created_at = 0;
  Micros expires_at = 0;
  Micros last_used_at = 0;  // time of the latest token.issued
  Micros reminded_at = 0;   // time of the expiry reminder email, 0 if none
  Micros changed_at = 0;    // last disable / enable / delete
  KeyState state = KeyState::active;
  bool principal_deleted = false;
  // Limits (key.created v2, key.updated). Empty allowed_cidrs: anywhere;
  // empty roles: all of the owner's; rate_per_minute 0: unlimited.
  std::vector<std::string> allowed_cidrs;  // canonical text, as in the events
  std::vector<IpNetwork> networks;         // the same, parsed
  std::vector<std::string> roles;
  std::uint64_t rate_per_minute = 0;
  // Networks whose blocked use was emailed to the owner on `notified_day`
  // (days since the epoch, UTC): one email per key, network and day.
  std::int64_t notified_day = 0;
  std::vector<std::string> notified_networks;

  // Replaces the allowed networks (canonical text; entries that do not parse are dropped).
  void set_allowed_cidrs(std::vector<std::string> cidrs);
  // Whether a use from `source` (an address as text) is inside the allowed networks.
  bool allows_source(std::string_view source) const;
  // Whether the owner was already told today of a blocked use from `network`.
  bool notified(std::string_view network, Micros now) const;

  // At time `now`: expired exactly at expires_at.
  KeyStatus status(Micros now) const;
  // Whether it may log in at `now`.
  bool usable(Micros now) const { return status(now) == KeyStatus::active; }
};

class PrincipalView {
 public:
  const Principal* find(std::string_view id) const;
  const Principal& at(std::uint32_t pos) const { return all_[pos]; }
  std::size_t size() const { return all_.size(); }
  const std::deque<Principal>& all() const { return all_; }

  // Principals of `kind` that exist, in creation order, starting after
  // position `after` (-1: from the start), whose name or email contains
  // `search` ignoring ASCII case; at most `limit`. `next` is the cursor for
  // the following page, or nullopt at the end.
  struct Page {
    std::vector<const Principal*> items;
    std::optional<std::uint32_t> next;
  };
  Page list(PrincipalKind kind, std::string_view search, std::int64_t after,
            std::size_t limit) const;

  Principal* find_mut(std::string_view id);
  Principal& add(Principal p);
  std::optional<std::uint32_t> position(std::string_view id) const;
  Principal& at_mut(std::uint32_t pos) { return all_[pos]; }

 private:
  std::deque<Principal> all_;
  std::unordered_map<std::string_view, std::uint32_t> by_id_;
};

class KeyView {
 public:
  const ApiKey* find(std::string_view apikey) const;
  const ApiKey& at(std::uint32_t pos) const { return all_[pos]; }
  std::size_t size() const { return all_.size(); }
  const std::deque<ApiKey>& all() const { return all_; }

  ApiKey* find_mut(std::string_view apikey);
  ApiKey& add(ApiKey k);
  std::optional<std::uint32_t> position(std::string_view apikey) const;
  ApiKey& at_mut(std::uint32_t pos) { return all_[pos]; }

 private:
  std::deque<ApiKey> all_;
  std::unordered_map<std::string_view, std::uint32_t> by_apikey_;
};

// IAM settings, all integers. Names are the wire names of the contract.
struct Settings {
  std::int64_t default_key_lifetime_days = 90;
  std::int64_t max_key_lifetime_days = 365;
  std::int64_t token_lifetime_seconds = 3600;
  std::int64_t max_keys_per_principal = 10;
  std::int64_t lockout_threshold = 5;          // failures per apikey in a window
  std::int64_t lockout_source_threshold = 20;  // failures per source address in a window
  std::int64_t lockout_window_seconds = 300;
  std::int64_t lockout_duration_seconds = 900;
  std::int64_t expiry_reminder_days = 7;  // 0: no reminders

  // Visits (name, value&) for each setting, in a fixed order.
  template <class F>
  void each(F&& f) {
    f("default_key_lifetime_days", default_key_lifetime_days);
    f("max_key_lifetime_days", max_key_lifetime_days);
    f("token_lifetime_seconds", token_lifetime_seconds);
    f("max_keys_per_principal", max_keys_per_principal);
    f("lockout_threshold", lockout_threshold);
    f("lockout_source_threshold", lockout_source_threshold);
    f("lockout_window_seconds", lockout_window_seconds);
    f("lockout_duration_seconds", lockout_duration_seconds);
    f("expiry_reminder_days", expiry_reminder_days);
  }
  template <class F>
  void each(F&& f) const {
    const_cast<Settings*>(this)->each(
        [&](const char* n, std::int64_t& v) { f(n, static_cast<const std::int64_t&>(v)); });
  }
  std::optional<std::int64_t> get(std::string_view name) const;
  bool set(std::string_view name, std::int64_t value);
};

struct PublishedKey {
  std::string kid;
  std::string alg;
  std::string public_jwk;
  Micros created_at = 0;
  Micros retired_at = 0;            // 0 while it signs
  Micros valid_until = 0;           // published until then once retired
  std::int64_t last_token_exp = 0;  // seconds: the latest exp of a token it signed
};

class SigningKeyView {
 public:
  const PublishedKey* active() const { return keys_.empty() ? nullptr : &keys_.back(); }
  const PublishedKey* find(std::string_view kid) const;
  // Keys to publish at `now`: the active one and retired ones still verifying tokens.
  std::vector<const PublishedKey*> published(Micros now) const;
  const std::vector<PublishedKey>& all() const { return keys_; }
  std::vector<PublishedKey>& all_mut() { return keys_; }

 private:
  std::vector<PublishedKey> keys_;
};

class LockoutView {
 public:
  // When the lock on (scope, subject) ends, or 0 if there is none at `now`.
  Micros locked_until(LockScope scope, std::string_view subject, Micros now) const;
  void lock(LockScope scope, std::string_view subject, Micros until, Micros now);
  const std::unordered_map<std::string, Micros>& all() const { return locks_; }
  std::unordered_map<std::string, Micros>& all_mut() { return locks_; }

 private:
  std::unordered_map<std::string, Micros> locks_;  // "scope\x1fsubject" -> until
};

struct Views {
  PrincipalView principals;
  KeyView keys;
  Settings settings;
  SigningKeyView signing;
  LockoutView lockouts;
  Seq seq = 0;      // the last event applied
  Micros time = 0;  // its time
  Digest hash{};    // its hash
  Seq last_checkpoint = 0;
  // The longest token lifetime the settings have ever had (seconds): no token
  // issued up to `seq` outlives its iat by more. Live tokens are not held here
  // (they would grow with every login); replay finds those live at an instant
  // among the token.issued events of this window before it.
  std::int64_t longest_token_lifetime_seconds = Settings{}.token_lifetime_seconds;
  // Tokens revoked before their expiry (token.revoked): jti -> the token's exp
  // (seconds). An entry is dropped once its token has expired anyway, so this
  // holds only the sessions signed out within one token lifetime.
  std::unordered_map<std::string, std::int64_t> revoked_tokens;

  // Whether the token `jti` was revoked.
  [[nodiscard]] bool revoked(std::string_view jti) const {
    return !revoked_tokens.empty() && revoked_tokens.contains(std::string(jti));
  }

  Views() = default;
  Views(Views&&) = default;
  Views& operator=(Views&&) = default;
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;
};

// Folds one committed event into the views. Events must come in sequence order.
void apply(Views& v, const events::Event& e);

// Replaces a principal's personal data (name, email, its keys' descriptions)
// with "[erased]"; false if there was none to replace.
bool erase_personal_data(Views& v, std::string_view principal_id);

// Binary snapshot of the views (deterministic: equal views give equal bytes).
std::string snapshot(const Views& v);
Result<Views> restore(std::string_view bytes);

}  // namespace latchkey::projections
