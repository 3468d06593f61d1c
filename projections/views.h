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

// Tokens that have not yet expired, by jti: what introspection and replay's
// "live tokens" need. Expired tokens are pruned as event time passes them.
struct LiveToken {
  std::array<std::uint8_t, 16> jti{};
  std::uint32_t key = 0;  // position in KeyView
  std::int64_t iat = 0;   // seconds
  std::int64_t exp = 0;   // seconds
};

class TokenView {
 public:
  using Jti = std::array<std::uint8_t, 16>;
  const LiveToken* find(const Jti& jti) const;
  std::size_t size() const { return live_.size(); }
  // Live tokens in issue order.
  std::vector<LiveToken> live() const;

  void add(const LiveToken& t);
  // Forgets tokens with exp <= now_seconds, walking the issue order from the
  // oldest (a token issued under a shorter lifetime after a longer one waits
  // for the longer one: it is still reported expired by its exp).
  void prune(std::int64_t now_seconds);

 private:
  struct JtiHash {
    std::size_t operator()(const Jti& a) const noexcept {
      std::size_t h;
      std::memcpy(&h, a.data(), sizeof h);
      return h;
    }
  };
  using Index = std::unordered_map<Jti, std::uint64_t, JtiHash>;
  // A hash table grows by rehashing all it holds at once, under the views'
  // write lock: with a million live tokens one table would stop every login
  // for over 100 ms at each doubling. Split by a byte of the (random) jti that
  // JtiHash does not use, each table holds 1/256 of them and rehashes that.
  static constexpr std::size_t kShards = 256;
  Index& shard(const Jti& jti) { return by_jti_[jti[8]]; }
  const Index& shard(const Jti& jti) const { return by_jti_[jti[8]]; }

  // The live tokens in issue order, and where each is: by_jti_ holds a
  // token's position counted from the first token ever added, first_ the
  // position of live_.front(). Pruning looks only at the front, so adding a
  // token costs one hash insertion and nothing more.
  std::deque<LiveToken> live_;
  std::uint64_t first_ = 0;
  std::array<Index, kShards> by_jti_;
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
  TokenView tokens;
  Settings settings;
  SigningKeyView signing;
  LockoutView lockouts;
  Seq seq = 0;      // the last event applied
  Micros time = 0;  // its time
  Digest hash{};    // its hash
  Seq last_checkpoint = 0;

  Views() = default;
  Views(Views&&) = default;
  Views& operator=(Views&&) = default;
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;
};

// Folds one committed event into the views. Events must come in sequence order.
void apply(Views& v, const events::Event& e);

// Binary snapshot of the views (deterministic: equal views give equal bytes).
std::string snapshot(const Views& v);
Result<Views> restore(std::string_view bytes);

// Jti text (32 hex digits) <-> bytes.
std::optional<std::array<std::uint8_t, 16>> parse_jti(std::string_view hex);
std::string jti_text(const std::array<std::uint8_t, 16>& jti);

}  // namespace latchkey::projections
