#pragma once
// The events of latchkey: what happened, in the past tense. The wire ids of
// EventType are frozen: never renumber or reuse one (a removed type keeps its
// number, retired). Each type has a schema version; data written by an older
// version is upcast when read (events/codec.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"

namespace latchkey::events {

using Seq = std::uint64_t;

enum class EventType : std::uint16_t {
  system_initialized = 1,
  user_created = 2,
  user_updated = 3,
  user_deleted = 4,
  service_account_created = 5,
  service_account_updated = 6,
  service_account_deleted = 7,
  key_created = 8,
  key_disabled = 9,
  key_enabled = 10,
  key_deleted = 11,
  token_issued = 12,
  login_failed = 13,
  login_locked = 14,
  settings_changed = 15,
  email_sent = 16,
  email_failed = 17,
  signing_key_rotated = 18,
  audit_read = 19,
  checkpoint = 20,
  key_updated = 21,
  // The platform's own log (see docs/projects.md).
  project_created = 22,
  project_updated = 23,
  project_suspended = 24,
  project_resumed = 25,
  project_deleted = 26,
  // A session's token revoked before its expiry (the console's sign-out).
  token_revoked = 27,
  // A principal's personal data made unreadable (its data key destroyed).
  principal_erased = 28,
  // The log's own life (docs/data-lifecycle.md): events moved to archive
  // segments, and archived history deleted by retention.
  log_archived = 29,
  log_history_deleted = 30,
};
constexpr std::uint16_t kMaxEventType = 30;

// "user.created", ...; nullptr for an id this build does not know.
const char* type_name(EventType t) noexcept;
std::optional<EventType> type_from_name(std::string_view name) noexcept;
// Current schema version written for a type.
std::uint16_t current_version(EventType t) noexcept;

// ---- event data ----------------------------------------------------------
// Each struct lists its fields once; append new fields at the end and bump the
// type's version (see codec.cpp for the upcasting hook). A field's FieldKind
// says how it is shown: the codecs decide by kind, never by a field's name.

enum class FieldKind {
  plain,
  instant,   // Micros since the epoch: JSON shows RFC 3339, and 0 as null
  secret,    // derived from a secret (an HMAC): stored, never shown
  personal,  // about a person (a string): stored sealed, erasable (events/personal.h)
};

// Which subject a login lock holds. Stored and shown as "apikey" | "source".
enum class LockScope : std::uint8_t { apikey, source };
const char* scope_name(LockScope s) noexcept;
std::optional<LockScope> scope_from_name(std::string_view name) noexcept;

struct SystemInitialized {
  std::string instance_id;
  std::uint64_t format_version = 1;
  template <class V>
  void fields(V& v) {
    v("instance_id", instance_id);
    v("format_version", format_version);
  }
};

// user.created and service_account.created.
struct PrincipalCreated {
  std::string id;
  std::string name;
  std::string email;  // may be empty for a service account
  std::vector<std::string> roles;
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("name", name, FieldKind::personal);
    v("email", email, FieldKind::personal);
    v("roles", roles);
  }
};

// user.updated and service_account.updated: the fields that changed, new values.
struct PrincipalUpdated {
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> email;
  std::optional<std::vector<std::string>> roles;
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("name", name, FieldKind::personal);
    v("email", email, FieldKind::personal);
    v("roles", roles);
  }
};

// user.deleted and service_account.deleted. Deleting a principal deactivates
// its keys; they are listed so each key's history shows it.
struct PrincipalDeleted {
  std::string id;
  std::vector<std::string> keys_deactivated;
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("keys_deactivated", keys_deactivated);
  }
};

struct KeyCreated {
  std::string apikey;
  std::string principal_id;
  // HMAC-SHA256(pepper, secretkey). Never printed (see codec's to_json).
  Digest secret_hash{};
  std::string description;
  Micros expires_at = 0;
  std::string lifetime_source;  // "default" | "lifetime_days" | "expires_at"
  bool send_email = false;
  // Version 2: the key's limits (see KeyLimits in projections/views.h).
  std::vector<std::string> allowed_cidrs;  // canonical networks; empty: anywhere
  std::vector<std::string> roles;          // a subset of the owner's; empty: all of them
  std::uint64_t rate_per_minute = 0;       // logins per minute; 0: unlimited
  template <class V>
  void fields(V& v) {
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("secret_hash", secret_hash, FieldKind::secret);
    v("description", description, FieldKind::personal);
    v("expires_at", expires_at, FieldKind::instant);
    v("lifetime_source", lifetime_source);
    v("send_email", send_email);
    v("allowed_cidrs", allowed_cidrs);
    v("roles", roles);
    v("rate_per_minute", rate_per_minute);
  }
};

// key.updated: what an admin (or the key's owner) changed on a key. Each
// field is null unless it changed, and then holds the new value beside the
// old one.
struct KeyUpdated {
  std::string apikey;
  std::string principal_id;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> allowed_cidrs;
  std::optional<std::vector<std::string>> roles;
  std::optional<std::uint64_t> rate_per_minute;
  std::optional<std::string> old_description;
  std::optional<std::vector<std::string>> old_allowed_cidrs;
  std::optional<std::vector<std::string>> old_roles;
  std::optional<std::uint64_t> old_rate_per_minute;
  template <class V>
  void fields(V& v) {
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("description", description, FieldKind::personal);
    v("allowed_cidrs", allowed_cidrs);
    v("roles", roles);
    v("rate_per_minute", rate_per_minute);
    v("old_description", old_description, FieldKind::personal);
    v("old_allowed_cidrs", old_allowed_cidrs);
    v("old_roles", old_roles);
    v("old_rate_per_minute", old_rate_per_minute);
  }
};

// key.disabled, key.enabled, key.deleted.
struct KeyChanged {
  std::string apikey;
  std::string principal_id;
  template <class V>
  void fields(V& v) {
    v("apikey", apikey);
    v("principal_id", principal_id);
  }
};

// The claims of an issued token (the token itself is never stored).
struct TokenIssued {
  std::string jti;
  std::string apikey;
  std::string principal_id;
  std::int64_t iat = 0;  // seconds since the epoch, as in the JWT
  std::int64_t exp = 0;  // seconds since the epoch, as in the JWT
  std::string kid;
  std::vector<std::string> roles;
  template <class V>
  void fields(V& v) {
    v("jti", jti);
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("iat", iat);
    v("exp", exp);
    v("kid", kid);
    v("roles", roles);
  }
};

// A failed login. `reason` is the true reason (the client only ever sees
// invalid_credentials): unknown_key, wrong_secret, expired, disabled, deleted,
// principal_deleted, malformed, source_not_allowed (outside the key's
// allowed_cidrs), rate_limited (over the key's rate_per_minute; answered 429). `attempts` is how
// many failed attempts this event stands for: failures are recorded in bounded numbers (see
// domain/throttle).
struct LoginFailed {
  std::string apikey;  // as presented, if it has the form of an apikey; else ""
  std::string principal_id;
  std::string reason;
  std::uint64_t attempts = 1;
  template <class V>
  void fields(V& v) {
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("reason", reason);
    v("attempts", attempts);
  }
};

// Logins for an apikey or from a source address are refused until `until`.
struct LoginLocked {
  LockScope scope = LockScope::apikey;
  std::string subject;  // the apikey or the address
  Micros until = 0;
  std::uint64_t failures = 0;
  template <class V>
  void fields(V& v) {
    v("scope", scope);
    v("subject", subject);
    v("until", until, FieldKind::instant);
    v("failures", failures);
  }
};

struct SettingChange {
  std::string name;
  std::int64_t old_value = 0;
  std::int64_t new_value = 0;
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("old", old_value);
    v("new", new_value);
  }
};

struct SettingsChanged {
  std::vector<SettingChange> changes;
  template <class V>
  void fields(V& v) {
    v("changes", changes);
  }
};

// email.sent and email.failed. Never holds the secret or the message body.
struct EmailOutcome {
  std::string kind;  // "key_created" | "expiry_reminder" | "blocked_use"
  std::string apikey;
  std::string principal_id;
  std::string to;
  std::string error;  // email.failed only: what the mail server or transport said
  // Version 2. blocked_use only: the network (/24 or /64) of the blocked
  // address; one email per key, network and UTC day.
  std::string network;
  template <class V>
  void fields(V& v) {
    v("kind", kind);
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("to", to, FieldKind::personal);
    v("error", error);
    v("network", network, FieldKind::personal);
  }
};

// A new token signing key. The old key stays published until `old_valid_until`.
struct SigningKeyRotated {
  std::string kid;
  std::string alg;         // "ES256" | "EdDSA"
  std::string public_jwk;  // the public key as a JWK (JSON text)
  std::string old_kid;     // empty for the first key
  Micros old_valid_until = 0;
  template <class V>
  void fields(V& v) {
    v("kid", kid);
    v("alg", alg);
    v("public_jwk", public_jwk);
    v("old_kid", old_kid);
    v("old_valid_until", old_valid_until, FieldKind::instant);
  }
};

struct AuditRead {
  std::string route;    // "audit" | "replay/state" | "replay/diff" | "timeline" | "export"
  std::string filters;  // the query as given, canonical order
  std::uint64_t returned = 0;
  template <class V>
  void fields(V& v) {
    v("route", route);
    v("filters", filters);
    v("returned", returned);
  }
};

// A signed statement of the log's head: everything up to head_seq hashes to head_hash.
struct Checkpoint {
  std::uint64_t head_seq = 0;
  Digest head_hash{};
  std::string kid;
  std::string alg;
  std::string signature;  // base64url, over checkpoint_message(head_seq, head_hash)
  template <class V>
  void fields(V& v) {
    v("head_seq", head_seq);
    v("head_hash", head_hash);
    v("kid", kid);
    v("alg", alg);
    v("signature", signature);
  }
};

// project.created|updated|suspended|resumed|deleted, in the platform's log.
struct ProjectChanged {
  std::string id;
  std::string name;      // created: the name; updated: the new name
  std::string old_name;  // updated: the name before
  // deleted: the project's event count (its head's seq) and chain head hash
  // when it was deleted, so that an export made before can be checked.
  std::uint64_t final_seq = 0;
  Digest final_hash{};
  // created, updated: the project's login rate (logins per second over the
  // whole project; 0: unlimited), and on updated the rate before.
  std::uint64_t login_rate_per_second = 0;
  std::uint64_t old_login_rate_per_second = 0;
  // v2, created and updated: the project's own archive_after_days and
  // retention_days, in seconds (0: the server's data.* settings).
  std::uint64_t archive_after_seconds = 0;
  std::uint64_t retention_seconds = 0;
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("name", name);
    v("old_name", old_name);
    v("final_seq", final_seq);
    v("final_hash", final_hash);
    v("login_rate_per_second", login_rate_per_second);
    v("old_login_rate_per_second", old_login_rate_per_second);
    v("archive_after_seconds", archive_after_seconds);
    v("retention_seconds", retention_seconds);
  }
};

// token.revoked: one token ended before its exp (a console session signed
// out). The token itself is never in an event, only its jti.
struct TokenRevoked {
  std::string jti;
  std::string apikey;
  std::string principal_id;
  std::int64_t exp = 0;  // the token's own exp (seconds): the revocation is kept until then
  std::string reason;    // "signed_out"
  template <class V>
  void fields(V& v) {
    v("jti", jti);
    v("apikey", apikey);
    v("principal_id", principal_id);
    v("exp", exp);
    v("reason", reason);
  }
};

// principal.erased: the principal's data key is destroyed; every personal
// field sealed under it reads as "[erased]" from now on (events/personal.h).
struct PrincipalErased {
  std::string id;
  std::string kind;  // "user" | "service_account"
  template <class V>
  void fields(V& v) {
    v("id", id);
    v("kind", kind);
  }
};

// log.archived | log.history_deleted: a signed cut of the log.
// archived: events 1..through are in archive segments and no longer in the
// live store; the state as of `through` is the snapshot whose SHA-256 is
// snapshot_hash. history_deleted: the archive segments of events
// 1..through are deleted (retention); what remains verifies from here.
struct LogCut {
  std::uint64_t through = 0;
  Digest through_hash{};  // the hash of event `through`
  Digest snapshot_hash{};
  std::uint64_t events = 0;  // events this cut moved (archived) or deleted
  std::uint64_t bytes = 0;   // archived: bytes of the segments written; deleted: bytes freed
  std::string kid;
  std::string alg;
  std::string signature;  // base64url, over cut_message(type, through, through_hash, snapshot_hash)
  template <class V>
  void fields(V& v) {
    v("through", through);
    v("through_hash", through_hash);
    v("snapshot_hash", snapshot_hash);
    v("events", events);
    v("bytes", bytes);
    v("kid", kid);
    v("alg", alg);
    v("signature", signature);
  }
};

// The bytes a checkpoint signature covers.
std::string checkpoint_message(std::uint64_t head_seq, const Digest& head_hash);
// The bytes a log.archived or log.history_deleted signature covers.
std::string cut_message(EventType type, std::uint64_t through, const Digest& through_hash,
                        const Digest& snapshot_hash);

using Data = std::variant<SystemInitialized, PrincipalCreated, PrincipalUpdated, PrincipalDeleted,
                          KeyCreated, KeyChanged, TokenIssued, LoginFailed, LoginLocked,
                          SettingsChanged, EmailOutcome, SigningKeyRotated, AuditRead, Checkpoint,
                          KeyUpdated, ProjectChanged, TokenRevoked, PrincipalErased, LogCut>;

// The actor of events caused by a caller without a token: the outcomes of
// POST /iam/login, most of the log. The actor index leaves them out (see
// indexed_actor); a query for them reads the log itself.
inline constexpr std::string_view kAnonymousActor = "anonymous";

// Whether an event of `actor` has an entry in the log's actor index.
[[nodiscard]] inline bool indexed_actor(std::string_view actor) {
  return !actor.empty() && actor != kAnonymousActor;
}

// Where a request came from; carried by every event it caused.
struct RequestContext {
  std::string actor = "system";  // principal id, or "system"
  std::string request_id;
  std::string source_ip;
};

// An event before the log has accepted it: no seq, time or hashes yet.
struct Draft {
  EventType type;
  Data data;
  RequestContext context;
};

// A committed event, as stored.
struct Event {
  Seq seq = 0;
  Micros time = 0;
  EventType type = EventType::system_initialized;
  std::uint16_t version = 1;
  RequestContext context;
  Data data;
  Digest prev_hash{};
  Digest hash{};
};

// The principal and apikeys an event concerns, for the log's indexes.
struct Subjects {
  std::string principal_id;
  std::vector<std::string> apikeys;
};
Subjects subjects_of(const Event& e);

// The data alternative a type must carry (its index in Data).
std::size_t data_index_for(EventType t) noexcept;

}  // namespace latchkey::events
