// Fuzz target: the token verifier (keys/tokens.h TokenService::verify) with
// a real signing key published in the views, as the server has it.
// First byte: 0 the token as given; 1 a genuine token with base64url digits
// changed (pairs: position from the end, bits to flip in the digit's
// value); 2 a header and payload (JSON texts split at the first newline)
// signed with the real key, to reach the claim checks past the signature;
// 3 the same signed HS256 with the public key as the HMAC secret; 4 a
// genuine token with bytes appended.
// Properties: nothing crashes; no token but the genuine one verifies in
// modes 0, 1, 3 and 4; in mode 2 a token verifies only if its claims are
// good now (issuer, expiry, iat, jti, the key's own alg and kid).
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "keys/secret_store.h"
#include "base/encoding.h"
#include "keys/tokens.h"
#include "projections/live_views.h"

using namespace latchkey;

namespace {

struct World {
  std::string dir;
  std::unique_ptr<keys::SecretStore> secrets;
  std::unique_ptr<projections::LiveViews> views;
  std::unique_ptr<keys::TokenService> tokens;
  std::shared_ptr<const SigningKey> key;
  Micros now = 0;
  std::string genuine;

  World() {
    char tmpl[] = "/tmp/latchkey-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    dir = tmpl;
    auto s = keys::SecretStore::create(dir + "/data", SignAlg::es256);
    if (!s) std::abort();
    secrets = std::move(*s);
    key = secrets->newest();
    now = SystemClock().now();
    projections::Views v;
    events::Event e;
    e.seq = 1;
    e.time = now - 1000 * kMicrosPerSecond;
    e.type = events::EventType::signing_key_rotated;
    e.data =
        events::SigningKeyRotated{key->kid(), alg_name(key->alg()), key->public_key().jwk(), "", 0};
    projections::apply(v, e);
    views = std::make_unique<projections::LiveViews>(std::move(v));
    tokens = std::make_unique<keys::TokenService>(*secrets, *views, "latchkey");
    events::TokenIssued t;
    t.jti = std::string(32, 'a');
    t.apikey = "lk_000000000000000000000000";
    t.principal_id = "sa_0000000000000000";
    t.iat = now / kMicrosPerSecond;
    t.exp = t.iat + 3600;
    t.kid = key->kid();
    t.roles = {"admin"};
    genuine = *tokens->issue(t);
  }
  ~World() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

World& world() {
  static World w;
  return w;
}

std::string b64(std::string_view s) { return base64url_encode(s); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  World& w = world();
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: {
      auto c = w.tokens->verify(rest, w.now);
      if (c && rest != w.genuine) std::abort();
      break;
    }
    case 1: {
      static const std::string kDigits =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      std::string t = w.genuine;
      for (std::size_t i = 0; i + 1 < rest.size(); i += 2) {
        char& c = t[t.size() - 1 - static_cast<std::uint8_t>(rest[i]) % t.size()];
        const auto v = kDigits.find(c);
        if (v != std::string::npos) c = kDigits[(v ^ static_cast<std::uint8_t>(rest[i + 1])) & 63];
      }
      auto c = w.tokens->verify(t, w.now);
      if (c && t != w.genuine) std::abort();
      break;
    }
    case 4: {
      if (rest.empty()) return 0;
      auto c = w.tokens->verify(w.genuine + rest, w.now);
      if (c) std::abort();
      break;
    }
    default: {
      const auto nl = rest.find('\n');
      const std::string header = rest.substr(0, nl);
      const std::string payload = nl == std::string::npos ? std::string() : rest.substr(nl + 1);
      const std::string input = b64(header) + "." + b64(payload);
      std::string sig;
      if (data[0] % 5 == 2) {
        sig = w.key->sign(input);
      } else {
        const Digest mac = hmac_sha256(w.key->public_key().jwk(), input);
        sig.assign(mac.begin(), mac.end());
      }
      const std::string token = input + "." + b64(sig);
      auto c = w.tokens->verify(token, w.now);
      if (!c) break;
      if (data[0] % 5 == 3) std::abort();  // an HMAC made with the public key got through
      const auto h = nlohmann::json::parse(header, nullptr, false);
      const std::int64_t now_s = w.now / kMicrosPerSecond;
      if (!h.is_object() || h.value("alg", "") != "ES256" || h.value("kid", "") != w.key->kid() ||
          c->iss != "latchkey" || c->exp <= now_s || c->iat > now_s + 60 || c->jti.size() != 32) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
