#include "keys/tokens.h"

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace latchkey::keys {
namespace {

Error unauthorized(std::string why) { return make_error(Errc::unauthorized, std::move(why)); }

bool is_hex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

TokenService::TokenService(const keys::SecretStore& secrets, const projections::LiveViews& views,
                           std::string issuer)
    : secrets_(secrets), views_(views), issuer_(std::move(issuer)) {}

Result<std::string> TokenService::issue(const events::TokenIssued& c) const {
  const auto key = secrets_.signing_key(c.kid);
  if (!key) return make_error(Errc::internal, "internal error", "no private key for kid " + c.kid);
  // Written directly, members in the order a JSON document would sort them:
  // one login, two small objects, no document to build and dump.
  std::string header;
  header.reserve(64 + c.kid.size());
  header += "{\"alg\":";
  append_json_string(header, alg_name(key->alg()));
  header += ",\"kid\":";
  append_json_string(header, c.kid);
  header += ",\"typ\":\"JWT\"}";
  std::string payload;
  payload.reserve(192 + issuer_.size());
  payload += "{\"apikey\":";
  append_json_string(payload, c.apikey);
  payload += ",\"exp\":" + std::to_string(c.exp);
  payload += ",\"iat\":" + std::to_string(c.iat);
  payload += ",\"iss\":";
  append_json_string(payload, issuer_);
  payload += ",\"jti\":";
  append_json_string(payload, c.jti);
  payload += ",\"roles\":[";
  for (std::size_t i = 0; i < c.roles.size(); ++i) {
    if (i != 0) payload.push_back(',');
    append_json_string(payload, c.roles[i]);
  }
  payload += "],\"sub\":";
  append_json_string(payload, c.principal_id);
  payload.push_back('}');
  std::string signing_input = base64url_encode(header) + "." + base64url_encode(payload);
  const std::string sig = key->sign(signing_input);
  signing_input.push_back('.');
  signing_input.append(base64url_encode(sig));
  return signing_input;
}

std::shared_ptr<const VerifyKey> TokenService::verify_key(const std::string& kid,
                                                          const std::string& jwk) const {
  std::lock_guard lock(mu_);
  const auto it = cache_.find(kid);
  if (it != cache_.end()) return it->second;
  auto key = VerifyKey::from_jwk(jwk);
  if (!key) return nullptr;
  auto shared = std::make_shared<const VerifyKey>(std::move(*key));
  cache_.emplace(kid, shared);
  return shared;
}

Result<TokenClaims> TokenService::verify(std::string_view token, Micros now) const {
  if (token.size() > 8192) return unauthorized("malformed token");
  const auto d1 = token.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d1 == std::string_view::npos || d2 == std::string_view::npos ||
      token.find('.', d2 + 1) != std::string_view::npos) {
    return unauthorized("malformed token");
  }
  const auto header_text = base64url_decode(token.substr(0, d1));
  const auto payload_text = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  const auto signature = base64url_decode(token.substr(d2 + 1));
  // base64url_decode takes only the canonical spelling: one token, one spelling.
  if (!header_text || !payload_text || !signature) return unauthorized("malformed token");
  const nlohmann::json header = nlohmann::json::parse(*header_text, nullptr, false);
  if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string() ||
      !header.contains("kid") || !header["kid"].is_string()) {
    return unauthorized("malformed token");
  }
  const std::string alg = header["alg"].get<std::string>();
  const std::string kid = header["kid"].get<std::string>();
  if (!alg_from_name(alg)) return unauthorized("unsupported token algorithm");
  // The key must be published now, and the header's alg must be the key's own.
  std::string jwk;
  const bool published = views_.read([&](const projections::Views& v) {
    for (const auto* k : v.signing.published(now)) {
      if (k->kid == kid && k->alg == alg) {
        jwk = k->public_jwk;
        return true;
      }
    }
    return false;
  });
  if (!published) return unauthorized("token signed by an unknown key");
  const auto key = verify_key(kid, jwk);
  if (!key || alg_name(key->alg()) != alg) return unauthorized("token signed by an unknown key");
  if (!key->verify(token.substr(0, d2), *signature)) return unauthorized("bad token signature");

  const nlohmann::json p = nlohmann::json::parse(*payload_text, nullptr, false);
  if (!p.is_object()) return unauthorized("malformed token");
  TokenClaims c;
  c.kid = kid;
  auto str = [&](const char* k, std::string& out) {
    if (!p.contains(k) || !p[k].is_string()) return false;
    out = p[k].get<std::string>();
    return true;
  };
  auto num = [&](const char* k, std::int64_t& out) {
    if (!p.contains(k) || !p[k].is_number_integer()) return false;
    out = p[k].get<std::int64_t>();
    return true;
  };
  if (!str("iss", c.iss) || !str("sub", c.sub) || !str("jti", c.jti) || !str("apikey", c.apikey) ||
      !num("iat", c.iat) || !num("exp", c.exp) || !is_hex32(c.jti)) {
    return unauthorized("malformed token");
  }
  if (p.contains("roles") && p["roles"].is_array()) {
    for (const auto& r : p["roles"]) {
      if (r.is_string()) c.roles.push_back(r.get<std::string>());
    }
  }
  if (c.iss != issuer_) return unauthorized("token from another issuer");
  const std::int64_t now_s = now / kMicrosPerSecond;
  if (c.exp <= now_s) return unauthorized("token expired");
  if (c.iat > now_s + 60) return unauthorized("token issued in the future");
  return c;
}

std::string TokenService::jwks_json(Micros now) const {
  nlohmann::json keys = nlohmann::json::array();
  views_.read([&](const projections::Views& v) {
    for (const auto* k : v.signing.published(now)) {
      keys.push_back(nlohmann::json::parse(k->public_jwk, nullptr, false));
    }
    return 0;
  });
  return nlohmann::json{{"keys", keys}}.dump();
}

}  // namespace latchkey::keys
