#pragma once
// Asymmetric signing keys on OpenSSL: ES256 (ECDSA P-256 with SHA-256, JOSE's
// raw r||s signature form) and EdDSA (Ed25519). Used for JWTs and for signed
// log checkpoints. Keys are exported as JWKs (RFC 7517) for verifiers.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace latchkey {

enum class SignAlg { es256, eddsa };
const char* alg_name(SignAlg a) noexcept;  // "ES256" | "EdDSA"
std::optional<SignAlg> alg_from_name(std::string_view name) noexcept;

// A public key that verifies signatures. Immutable; thread-safe.
class VerifyKey {
 public:
  // From a JWK (JSON text). invalid_request if it is not an EC P-256 or OKP Ed25519 public key.
  static Result<VerifyKey> from_jwk(std::string_view jwk_json);

  SignAlg alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  // The public JWK as JSON text, with kid, alg and use.
  const std::string& jwk() const { return jwk_; }
  // `signature` in the JOSE form (raw r||s for ES256). Constant-result: true only if valid.
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  friend class SigningKey;
  std::shared_ptr<EVP_PKEY> pkey_;
  SignAlg alg_ = SignAlg::es256;
  std::string kid_;
  std::string jwk_;
};

// A private key. Immutable after creation; sign() is thread-safe.
class SigningKey {
 public:
  static SigningKey generate(SignAlg alg);
  // From PEM (PKCS#8) text. invalid_request if unreadable or of another type.
  static Result<SigningKey> from_pem(std::string_view pem);

  std::string to_pem() const;
  SignAlg alg() const { return public_.alg_; }
  // RFC 7638 thumbprint of the public key, base64url: stable for the key.
  const std::string& kid() const { return public_.kid_; }
  const VerifyKey& public_key() const { return public_; }
  // JOSE-form signature of `message`. Throws std::runtime_error if OpenSSL fails.
  std::string sign(std::string_view message) const;

 private:
  struct ContextPool;
  explicit SigningKey(std::shared_ptr<EVP_PKEY> pkey);
  std::shared_ptr<EVP_PKEY> pkey_;
  // ES256: signing contexts initialised once and reused, because OpenSSL 3
  // looks the algorithm up again on every EVP_DigestSignInit.
  std::shared_ptr<ContextPool> contexts_;
  VerifyKey public_;
};

}  // namespace latchkey
