#pragma once
// Access tokens: compact JWS (RFC 7515/7519) signed with the active signing
// key, and their verification. Verification accepts only the algorithm of the
// key named by `kid`, and only keys currently published in the JWKS: `none`,
// HS256 with a public key as secret, an unknown or retired kid, a bad
// signature, a foreign issuer and an expired token are all refused.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "keys/secret_store.h"
#include "base/error.h"
#include "events/event.h"
#include "projections/live_views.h"

namespace latchkey::keys {

struct TokenClaims {
  std::string iss;
  std::string sub;
  std::string jti;
  std::string apikey;
  std::string kid;
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::vector<std::string> roles;
};

class TokenService {
 public:
  TokenService(const keys::SecretStore& secrets, const projections::LiveViews& views,
               std::string issuer);

  // The token for the claims of a token.issued event. Thread-safe.
  // Error (internal) if the private key `claims.kid` is not on disk.
  Result<std::string> issue(const events::TokenIssued& claims) const;

  // Verifies a token at `now`. Errors are `unauthorized` with a short reason.
  // Thread-safe.
  Result<TokenClaims> verify(std::string_view token, Micros now) const;

  // {"keys": [...]}: the keys a verifier needs at `now`.
  std::string jwks_json(Micros now) const;

  const std::string& issuer() const { return issuer_; }

 private:
  std::shared_ptr<const VerifyKey> verify_key(const std::string& kid, const std::string& jwk) const;

  const keys::SecretStore& secrets_;
  const projections::LiveViews& views_;
  std::string issuer_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const VerifyKey>> cache_;  // GUARDED_BY(mu_)
};

}  // namespace latchkey::keys
