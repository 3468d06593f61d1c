#include "base/signing.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "base/encoding.h"

namespace latchkey {
namespace {

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return {p, EVP_PKEY_free}; }

struct PublicParts {
  SignAlg alg;
  std::string x, y;  // raw coordinates (y empty for Ed25519)
};

PublicParts public_parts(EVP_PKEY* pkey) {
  PublicParts parts{};
  if (EVP_PKEY_is_a(pkey, "ED25519")) {
    parts.alg = SignAlg::eddsa;
    unsigned char buf[32];
    size_t len = sizeof buf;
    if (EVP_PKEY_get_raw_public_key(pkey, buf, &len) != 1)
      throw std::runtime_error("Ed25519 public key");
    parts.x.assign(reinterpret_cast<char*>(buf), len);
    return parts;
  }
  parts.alg = SignAlg::es256;
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    BN_free(y);
    throw std::runtime_error("EC public key");
  }
  unsigned char bx[32], by[32];
  BN_bn2binpad(x, bx, 32);
  BN_bn2binpad(y, by, 32);
  BN_free(x);
  BN_free(y);
  parts.x.assign(reinterpret_cast<char*>(bx), 32);
  parts.y.assign(reinterpret_cast<char*>(by), 32);
  return parts;
}

// RFC 7638: the thumbprint hashes the required members in lexicographic order.
std::string thumbprint(const PublicParts& p) {
  std::string canonical;
  if (p.alg == SignAlg::eddsa) {
    canonical = R"({"crv":"Ed25519","kty":"OKP","x":")" + base64url_encode(p.x) + "\"}";
  } else {
    canonical = R"({"crv":"P-256","kty":"EC","x":")" + base64url_encode(p.x) + R"(","y":")" +
                base64url_encode(p.y) + "\"}";
  }
  const Digest d = sha256(canonical);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string jwk_of(const PublicParts& p, const std::string& kid) {
  nlohmann::json j;
  if (p.alg == SignAlg::eddsa) {
    j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(p.x)}};
  } else {
    j = {{"kty", "EC"},
         {"crv", "P-256"},
         {"x", base64url_encode(p.x)},
         {"y", base64url_encode(p.y)}};
  }
  j["kid"] = kid;
  j["alg"] = alg_name(p.alg);
  j["use"] = "sig";
  return j.dump();
}

}  // namespace

const char* alg_name(SignAlg a) noexcept { return a == SignAlg::es256 ? "ES256" : "EdDSA"; }

std::optional<SignAlg> alg_from_name(std::string_view name) noexcept {
  if (name == "ES256") return SignAlg::es256;
  if (name == "EdDSA") return SignAlg::eddsa;
  return std::nullopt;
}

Result<VerifyKey> VerifyKey::from_jwk(std::string_view jwk_json) {
  auto bad = [] { return make_error(Errc::invalid_request, "not a supported public JWK"); };
  const nlohmann::json j = nlohmann::json::parse(jwk_json, nullptr, false);
  if (!j.is_object() || !j.contains("kty") || !j["kty"].is_string()) return bad();
  auto str = [&](const char* k) -> std::optional<std::string> {
    if (!j.contains(k) || !j[k].is_string()) return std::nullopt;
    return j[k].get<std::string>();
  };
  VerifyKey key;
  PublicParts parts{};
  EVP_PKEY* pkey = nullptr;
  if (str("kty") == "OKP" && str("crv") == "Ed25519") {
    auto x = str("x") ? base64url_decode(*str("x")) : std::nullopt;
    if (!x || x->size() != 32) return bad();
    pkey = EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
    parts = {SignAlg::eddsa, *x, {}};
  } else if (str("kty") == "EC" && str("crv") == "P-256") {
    auto x = str("x") ? base64url_decode(*str("x")) : std::nullopt;
    auto y = str("y") ? base64url_decode(*str("y")) : std::nullopt;
    if (!x || !y || x->size() != 32 || y->size() != 32) return bad();
    std::string point = "\x04" + *x + *y;
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) {
      if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    parts = {SignAlg::es256, *x, *y};
  } else {
    return bad();
  }
  if (pkey == nullptr) return bad();
  key.pkey_ = own(pkey);
  key.alg_ = parts.alg;
  key.kid_ = str("kid").value_or(thumbprint(parts));
  key.jwk_ = jwk_of(parts, key.kid_);
  return key;
}

bool VerifyKey::verify(std::string_view message, std::string_view signature) const {
  if (!pkey_) return false;
  std::string der;
  if (alg_ == SignAlg::es256) {
    if (signature.size() != 64) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(sig, r, s);
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &out);
    ECDSA_SIG_free(sig);
    if (len <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    signature = der;
  } else if (signature.size() != 64) {
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, alg_ == SignAlg::es256 ? EVP_sha256() : nullptr,
                                 nullptr, pkey_.get()) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// EVP_PKEY_CTXs in the sign state for one ES256 key. A context serves one
// signature at a time; the pool keeps as many as there were concurrent signers.
struct SigningKey::ContextPool {
  ~ContextPool() {
    for (EVP_PKEY_CTX* c : idle) EVP_PKEY_CTX_free(c);
  }
  // A context for `key`, the key of the SigningKey that owns the pool.
  EVP_PKEY_CTX* take(EVP_PKEY* key) {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        EVP_PKEY_CTX* c = idle.back();
        idle.pop_back();
        return c;
      }
    }
    EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
    if (c == nullptr || EVP_PKEY_sign_init(c) != 1) {
      EVP_PKEY_CTX_free(c);
      throw std::runtime_error("signing failed");
    }
    return c;
  }
  void give_back(EVP_PKEY_CTX* c) {
    std::lock_guard lock(mu);
    idle.push_back(c);
  }

  std::mutex mu;
  std::vector<EVP_PKEY_CTX*> idle;  // GUARDED_BY(mu)
};

SigningKey::SigningKey(std::shared_ptr<EVP_PKEY> pkey) : pkey_(std::move(pkey)) {
  const PublicParts parts = public_parts(pkey_.get());
  public_.pkey_ = pkey_;  // verification with the private key object is equivalent
  public_.alg_ = parts.alg;
  public_.kid_ = thumbprint(parts);
  public_.jwk_ = jwk_of(parts, public_.kid_);
  if (parts.alg == SignAlg::es256) contexts_ = std::make_shared<ContextPool>();
}

SigningKey SigningKey::generate(SignAlg alg) {
  EVP_PKEY* pkey = alg == SignAlg::eddsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (pkey == nullptr) throw std::runtime_error("cannot generate a signing key");
  return SigningKey(own(pkey));
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr) return make_error(Errc::invalid_request, "not a PEM private key");
  auto owned = own(pkey);
  const bool ed = EVP_PKEY_is_a(pkey, "ED25519");
  const bool p256 = EVP_PKEY_is_a(pkey, "EC") && [&] {
    char group[64] = {};
    size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           std::string_view(group) == "prime256v1";
  }();
  if (!ed && !p256)
    return make_error(Errc::invalid_request, "the key is neither EC P-256 nor Ed25519");
  return SigningKey(std::move(owned));
}

std::string SigningKey::to_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string SigningKey::sign(std::string_view message) const {
  if (alg() == SignAlg::es256) {
    // ECDSA over SHA-256(message) with a pooled context.
    const Digest digest = sha256(message);
    unsigned char der[80];  // an ECDSA-Sig-Value for P-256 is at most 72 bytes
    size_t len = sizeof der;
    EVP_PKEY_CTX* ctx = contexts_->take(pkey_.get());
    const int ok = EVP_PKEY_sign(ctx, der, &len, digest.data(), digest.size());
    contexts_->give_back(ctx);
    if (ok != 1) throw std::runtime_error("signing failed");
    // DER ECDSA-Sig-Value -> JOSE raw r||s.
    const unsigned char* p = der;
    ECDSA_SIG* esig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    if (esig == nullptr) throw std::runtime_error("signing failed");
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(esig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(esig), raw + 32, 32);
    ECDSA_SIG_free(esig);
    return std::string(reinterpret_cast<char*>(raw), 64);
  }
  // Ed25519 signs the message itself, in one shot.
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  const bool ok =
      EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || len != 64) throw std::runtime_error("signing failed");
  return sig;
}

}  // namespace latchkey
