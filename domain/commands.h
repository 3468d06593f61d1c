#pragma once
// Commands: what a caller asks latchkey to do. Every value a rule needs that
// is not in the views (fresh identifiers, the hash of a new secret, whether
// mail is configured) is decided by the caller and carried in the command, so
// the rules stay pure.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "projections/views.h"

namespace latchkey::domain {

using projections::PrincipalKind;

struct CreatePrincipal {
  PrincipalKind kind = PrincipalKind::user;
  std::string id;  // fresh, from new_user_id() / new_service_account_id()
  std::string name;
  std::string email;  // required for users, optional for service accounts
  std::vector<std::string> roles;
};

struct UpdatePrincipal {
  PrincipalKind kind = PrincipalKind::user;
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> email;
  std::optional<std::vector<std::string>> roles;
};

struct DeletePrincipal {
  PrincipalKind kind = PrincipalKind::user;
  std::string id;
};

// Deletes the principal if it still exists, then erases its personal data
// (principal.erased). Deleted principals can be erased too.
struct ErasePrincipal {
  PrincipalKind kind = PrincipalKind::user;
  std::string id;
};

struct CreateKey {
  // The route's kind; nullopt for a principal's own keys (/iam/me/keys).
  std::optional<PrincipalKind> kind;
  std::string principal_id;
  std::string apikey;    // fresh, from new_apikey()
  Digest secret_hash{};  // Pepper::hash of the fresh secretkey
  std::optional<std::int64_t> lifetime_days;
  std::optional<Micros> expires_at;
  std::string description;
  bool send_email = false;
  bool mail_configured = false;
  // Limits, as given: networks are checked and normalised by the rules.
  std::vector<std::string> allowed_cidrs;
  std::vector<std::string> roles;
  std::int64_t rate_per_minute = 0;
};

enum class KeyAction { disable, enable, remove };

struct ChangeKey {
  std::optional<PrincipalKind> kind;
  std::string principal_id;
  std::string apikey;
  KeyAction action = KeyAction::disable;
};

// PATCH of a key: the fields given, as given.
struct UpdateKey {
  std::optional<PrincipalKind> kind;
  std::string principal_id;
  std::string apikey;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> allowed_cidrs;
  std::optional<std::vector<std::string>> roles;
  std::optional<std::int64_t> rate_per_minute;
};

struct ChangeSettings {
  std::vector<std::pair<std::string, std::int64_t>> values;
};

struct RotateSigningKey {
  std::string kid;
  std::string alg;
  std::string public_jwk;
};

using Command =
    std::variant<CreatePrincipal, UpdatePrincipal, DeletePrincipal, CreateKey, ChangeKey,
                 ChangeSettings, RotateSigningKey, UpdateKey, ErasePrincipal>;

// A login attempt, once the secret presented has been hashed with the pepper.
struct LoginAttempt {
  std::string apikey;       // as presented
  Digest presented_hash{};  // Pepper::hash(secretkey as presented)
  bool well_formed = true;  // apikey and secretkey had their formats
  std::string jti;          // fresh, for the token if the login succeeds
  std::string kid;          // the key that will sign the token
  std::string source_ip;    // the client's address (after trusted proxies)
};

}  // namespace latchkey::domain
