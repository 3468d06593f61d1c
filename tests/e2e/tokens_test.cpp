// Bearer tokens: 401 for missing, malformed, expired and revoked tokens;
// introspection; the JWKS; signing key rotation; the token lifetime setting.
#include <boost/test/unit_test.hpp>

#include "base/clock.h"
#include "base/encoding.h"
#include "base/signing.h"
#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

BOOST_AUTO_TEST_SUITE(tokens)

BOOST_AUTO_TEST_CASE(missing_malformed_expired_and_revoked_bearer_tokens_are_401) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("bearer "), unique("b") + "@example.com");
  const Key key = s.client.create_key(s.admin, user);
  const std::string token = s.client.login(key);
  BOOST_TEST_REQUIRE(s.client.get("/iam/me", token).status == 200);

  std::vector<std::pair<std::string, HttpResponse>> cases;
  cases.emplace_back("no Authorization", s.client.call("GET", "/iam/me", {}, {}));
  cases.emplace_back("Basic scheme",
                     s.client.call("GET", "/iam/me", {}, {"Authorization: Basic YTpi"}));
  cases.emplace_back("Bearer without token",
                     s.client.call("GET", "/iam/me", {}, {"Authorization: Bearer"}));
  cases.emplace_back("not a JWT", s.client.get("/iam/me", "not.a.jwt"));
  cases.emplace_back("garbage", s.client.get("/iam/me", "garbage"));
  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  cases.emplace_back("bad signature", s.client.get("/iam/me", tampered));
  // Claims changed without the key: the signature no longer matches.
  {
    json payload = jwt_part(token, 1);
    payload["roles"] = json::array({"admin"});
    const auto d1 = token.find('.');
    const auto d2 = token.find('.', d1 + 1);
    const std::string forged =
        token.substr(0, d1) + "." + base64url_encode(payload.dump()) + token.substr(d2);
    cases.emplace_back("forged claims", s.client.get("/iam/me", forged));
  }
  // alg none: no signature at all.
  {
    json header = jwt_part(token, 0);
    header["alg"] = "none";
    const std::string none = base64url_encode(header.dump()) + "." +
                             token.substr(token.find('.') + 1, token.rfind('.') - token.find('.'));
    cases.emplace_back("alg none", s.client.get("/iam/me", none));
  }
  // Signed by the server's own key, but expired a minute ago.
  const std::string expired = resign_token(s.server.data_dir(), token, [](json&, json& p) {
    const std::int64_t now = SystemClock().now() / kMicrosPerSecond;
    p["iat"] = now - 3660;
    p["exp"] = now - 60;
  });
  cases.emplace_back("expired", s.client.get("/iam/me", expired));
  // The re-signing itself is sound: the same token with a future exp is accepted.
  const std::string resigned = resign_token(s.server.data_dir(), token, [](json&, json&) {});
  BOOST_TEST(s.client.get("/iam/me", resigned).json().at("id") == user.id);

  // Revoked: the token's key is disabled, then deleted.
  const Key second = s.client.create_key(s.admin, user);
  const std::string second_token = s.client.login(second);
  BOOST_TEST_REQUIRE(
      s.client.post_empty(user.base + "/keys/" + key.apikey + "/disable", s.admin).status == 200);
  cases.emplace_back("key disabled", s.client.get("/iam/me", token));
  BOOST_TEST_REQUIRE(s.client.del(user.base + "/keys/" + second.apikey, s.admin).status == 204);
  cases.emplace_back("key deleted", s.client.get("/iam/me", second_token));

  for (const auto& [why, r] : cases) {
    BOOST_TEST_CONTEXT(why) {
      expect_error(r, 401, "unauthorized");
      BOOST_TEST(r.header("www-authenticate").find("Bearer") == 0);
    }
  }
  // Admin routes say 401 (not 403) without a valid token.
  expect_error(s.client.get("/iam/users", ""), 401, "unauthorized");
  expect_error(s.client.get("/iam/users", expired), 401, "unauthorized");
}

BOOST_AUTO_TEST_CASE(introspection_reports_active_and_inactive_tokens) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("introspect "),
                                         unique("i") + "@example.com", {"reader"});
  const Key a = s.client.create_key(s.admin, user);
  const Key b = s.client.create_key(s.admin, user);
  const std::string ta = s.client.login(a);
  const std::string tb = s.client.login(b);

  // Active: form and JSON bodies; any authenticated caller (here the user itself).
  json active = s.client.introspect(ta, ta);
  BOOST_TEST(active.at("active") == true);
  BOOST_TEST(active.at("sub") == user.id);
  BOOST_TEST(active.at("apikey") == a.apikey);
  BOOST_TEST(active.at("roles") == json::array({"reader"}));
  BOOST_TEST(active.at("exp").get<std::int64_t>() == jwt_part(ta, 1).at("exp").get<std::int64_t>());
  const auto as_json = s.client.post("/iam/introspect", {{"token", tb}}, s.admin);
  BOOST_TEST_REQUIRE(as_json.status == 200);
  BOOST_TEST(as_json.json().at("active") == true);
  BOOST_TEST(as_json.header("cache-control") == "no-store");

  // Inactive: expired, garbage, disabled key, deleted key, deleted principal.
  const std::string expired = resign_token(s.server.data_dir(), ta, [](json&, json& p) {
    const std::int64_t now = SystemClock().now() / kMicrosPerSecond;
    p["iat"] = now - 120;
    p["exp"] = now - 1;
  });
  BOOST_TEST(s.client.introspect(s.admin, expired) == json({{"active", false}}));
  BOOST_TEST(s.client.introspect(s.admin, "garbage") == json({{"active", false}}));

  BOOST_TEST_REQUIRE(
      s.client.post_empty(user.base + "/keys/" + a.apikey + "/disable", s.admin).status == 200);
  BOOST_TEST(s.client.introspect(s.admin, ta) == json({{"active", false}}));
  BOOST_TEST(s.client.introspect(s.admin, tb).at("active") == true);

  BOOST_TEST_REQUIRE(s.client.del(user.base + "/keys/" + b.apikey, s.admin).status == 204);
  BOOST_TEST(s.client.introspect(s.admin, tb) == json({{"active", false}}));

  const Key c = s.client.create_key(s.admin, user);
  const std::string tc = s.client.login(c);
  BOOST_TEST(s.client.introspect(s.admin, tc).at("active") == true);
  BOOST_TEST_REQUIRE(s.client.del(user.base, s.admin).status == 204);
  BOOST_TEST(s.client.introspect(s.admin, tc) == json({{"active", false}}));

  // The caller must be authenticated, and the body well-formed.
  expect_error(s.client.post_form("/iam/introspect", "token=" + s.admin, ""), 401, "unauthorized");
  expect_error(s.client.post_form("/iam/introspect", "token=" + tc, tc), 401, "unauthorized");
  expect_error(s.client.post_form("/iam/introspect", "", s.admin), 400, "invalid_request");
  expect_error(s.client.post_form("/iam/introspect", "token=x&colour=red", s.admin), 400,
               "invalid_request");
  expect_error(s.client.call("POST", "/iam/introspect", "token=x",
                             {"Content-Type: text/plain", "Authorization: Bearer " + s.admin}),
               415, "unsupported_media_type");
}

BOOST_AUTO_TEST_CASE(jwks_publishes_the_key_that_signed_the_token) {
  auto& s = shared();
  const auto r = s.client.get("/iam/.well-known/jwks.json", "");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.header("content-type").find("application/json") == 0);
  const json jwks = r.json();
  BOOST_TEST_REQUIRE(jwks.at("keys").is_array());
  BOOST_TEST_REQUIRE(!jwks.at("keys").empty());
  for (const auto& k : jwks["keys"]) {
    BOOST_TEST(k.at("use") == "sig");
    BOOST_TEST((k.at("alg") == "ES256" || k.at("alg") == "EdDSA"));
    BOOST_TEST(!k.at("kid").get<std::string>().empty());
    if (k["kty"] == "EC") {
      BOOST_TEST(k.at("crv") == "P-256");
      BOOST_TEST(k.contains("x"));
      BOOST_TEST(k.contains("y"));
    } else {
      BOOST_TEST(k.at("kty") == "OKP");
    }
    BOOST_TEST(!k.contains("d"), "a JWKS must never hold a private key");
  }
  const std::string token = s.client.admin_token();
  BOOST_TEST(jwks_has(jwks, jwt_part(token, 0).at("kid")));
  BOOST_TEST(verifies_with_jwks(jwks, token));
  // A token signed by a key the server does not publish is refused.
  const std::string stranger = [&] {
    const auto key = SigningKey::generate(SignAlg::es256);
    json header = jwt_part(token, 0);
    header["kid"] = key.kid();
    const std::string input =
        base64url_encode(header.dump()) + "." +
        token.substr(token.find('.') + 1, token.rfind('.') - token.find('.') - 1);
    return input + "." + base64url_encode(key.sign(input));
  }();
  expect_error(s.client.get("/iam/me", stranger), 401, "unauthorized");
}

BOOST_AUTO_TEST_CASE(rotation_signs_new_tokens_with_the_new_key_and_old_ones_still_verify) {
  ServerProcess server;
  Client client(server);
  const std::string before = client.admin_token();
  const std::string old_kid = jwt_part(before, 0).at("kid");
  const auto auditor_sa = client.create_service_account(before, "rotation auditor", {"auditor"});
  const Key auditor_key = client.create_key(before, auditor_sa);
  const std::string auditor = client.login(auditor_key);

  expect_error(client.post_empty("/iam/signing-keys/rotate", auditor), 403, "forbidden");
  expect_error(client.post_empty("/iam/signing-keys/rotate", ""), 401, "unauthorized");
  expect_error(client.post("/iam/signing-keys/rotate", {{"alg", "ES256"}}, before), 400,
               "invalid_request");

  const auto rotated = client.post_empty("/iam/signing-keys/rotate", before);
  BOOST_TEST_REQUIRE(rotated.status == 201, rotated.body);
  const std::string new_kid = rotated.json().at("kid");
  BOOST_TEST(new_kid != old_kid);
  BOOST_TEST(rotated.json().at("alg") == "ES256");

  const std::string after = client.admin_token();
  BOOST_TEST(jwt_part(after, 0).at("kid") == new_kid);
  const json jwks = client.get("/iam/.well-known/jwks.json", "").json();
  BOOST_TEST(jwks_has(jwks, new_kid));
  BOOST_TEST(jwks_has(jwks, old_kid));
  BOOST_TEST(verifies_with_jwks(jwks, before));
  BOOST_TEST(verifies_with_jwks(jwks, after));
  // Old tokens still work, for the API and for introspection.
  BOOST_TEST(client.get("/iam/me", before).json().at("id") == server.admin().principal_id);
  BOOST_TEST(client.get("/iam/me", auditor).json().at("id") == auditor_sa.id);
  BOOST_TEST(client.introspect(after, before).at("active") == true);
  BOOST_TEST(client.introspect(before, after).at("active") == true);
  // The rotation is an event naming both keys.
  const auto audit = client.get("/iam/audit?type=signing_key.rotated", after);
  BOOST_TEST_REQUIRE(audit.status == 200);
  const json evs = audit.json().at("events");
  BOOST_TEST_REQUIRE(evs.size() == 2u);  // init's first key, then this one
  BOOST_TEST(evs[1]["data"].dump().find(new_kid) != std::string::npos);
  BOOST_TEST(evs[1]["data"].dump().find(old_kid) != std::string::npos);

  // After a restart, the rotated key is still the one that signs.
  BOOST_TEST(server.stop() == 0);
  server.start();
  const std::string restarted = client.admin_token();
  BOOST_TEST(jwt_part(restarted, 0).at("kid") == new_kid);
  BOOST_TEST(client.get("/iam/me", before).json().at("id") == server.admin().principal_id);
}

BOOST_AUTO_TEST_CASE(token_lifetime_setting_applies_to_the_next_token) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const std::string first = client.admin_token();
  BOOST_TEST(jwt_part(first, 1).at("exp").get<std::int64_t>() -
                 jwt_part(first, 1).at("iat").get<std::int64_t>() ==
             3600);
  client.set_settings(admin, {{"token_lifetime_seconds", 120}});
  const auto r = client.login_raw(server.admin().apikey, server.admin().secretkey);
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("expires_in") == 120);
  const json claims = jwt_part(r.json().at("access_token"), 1);
  BOOST_TEST(claims.at("exp").get<std::int64_t>() - claims.at("iat").get<std::int64_t>() == 120);
  // Tokens already issued keep their own lifetime.
  BOOST_TEST(client.get("/iam/me", first).status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
