// Token attacks: forged, re-signed, expired, revoked and tampered tokens are
// refused by the admin API (401 unauthorized) and by introspection
// ({"active": false}). Controls show the same requests succeed with a
// genuine token, and with claims the test signs itself with the server's
// real key, so each refusal is due to what the case changes.
#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "base/encoding.h"
#include "base/signing.h"
#include "tests/reliability/helpers.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::test;

namespace {

std::string public_pem_of(const std::string& private_pem) {
  BIO* in = BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  BOOST_REQUIRE(key != nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(out, key);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(out);
  EVP_PKEY_free(key);
  return pem;
}

std::string hs256(const nlohmann::json& header, const nlohmann::json& payload,
                  const std::string& secret) {
  const std::string input = jws_signing_input(header, payload);
  const Digest mac = hmac_sha256(secret, input);
  return input + "." + base64url_encode(std::string(mac.begin(), mac.end()));
}

std::string es(const SigningKey& key, const nlohmann::json& header, const nlohmann::json& payload) {
  const std::string input = jws_signing_input(header, payload);
  return input + "." + base64url_encode(key.sign(input));
}

// The admin API and introspection both refuse `token`.
void expect_refused(const ServerProcess& server, const std::string& admin_token,
                    const std::string& name, const std::string& token) {
  BOOST_TEST_CONTEXT("attack: " << name) {
    for (const std::string path : {"/iam/users", "/iam/me", "/iam/settings"}) {
      const auto r = get(server.url(path), token);
      BOOST_TEST(r.status == 401, path << " answered " << r.status);
      BOOST_TEST(r.json().value("error", "") == "unauthorized");
    }
    const auto write = post_json(server.url("/iam/users"),
                                 {{"name", "mallory"}, {"email", "m@example.com"}}, token);
    BOOST_TEST(write.status == 401);
    const auto intro = post_json(server.url("/iam/introspect"), {{"token", token}}, admin_token);
    BOOST_TEST(intro.status == 200);
    BOOST_TEST(intro.json() == nlohmann::json({{"active", false}}), intro.body);
    const auto form =
        post_form(server.url("/iam/introspect"), "token=" + form_escape(token), admin_token);
    BOOST_TEST(form.json() == nlohmann::json({{"active", false}}), form.body);
    // Nor can the token introspect for itself.
    BOOST_TEST(post_json(server.url("/iam/introspect"), {{"token", token}}, token).status == 401);
  }
}

void expect_accepted(const ServerProcess& server, const std::string& admin_token,
                     const std::string& name, const std::string& token) {
  BOOST_TEST_CONTEXT("control: " << name) {
    BOOST_TEST(get(server.url("/iam/me"), token).status == 200);
    const auto intro = post_json(server.url("/iam/introspect"), {{"token", token}}, admin_token);
    BOOST_TEST(intro.json().value("active", false) == true, intro.body);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(token_attacks)

BOOST_AUTO_TEST_CASE(forged_resigned_expired_revoked_and_tampered_tokens_are_refused) {
  ServerProcess server;
  const std::string admin = server.admin_token();
  const IssuedKey auditor = new_service_account_key(server, admin, "auditor", {"auditor"});
  const std::string auditor_token = server.login(auditor.apikey, auditor.secretkey);

  const auto jwks = get(server.url("/iam/.well-known/jwks.json")).json();
  BOOST_REQUIRE_EQUAL(jwks["keys"].size(), 1u);
  const nlohmann::json jwk = jwks["keys"][0];
  const std::string kid = jwk["kid"];
  const std::string jwk_text = get(server.url("/iam/.well-known/jwks.json")).body;
  // The server's real private key, to sign claims the server would never issue.
  const std::string private_pem = read_file(server.data_dir() + "/signing/" + kid + ".pem");
  auto real = SigningKey::from_pem(private_pem);
  BOOST_REQUIRE(real.has_value());
  const SigningKey attacker = SigningKey::generate(SignAlg::es256);

  const nlohmann::json header = jwt_part(admin, 0);
  const nlohmann::json claims = jwt_part(admin, 1);
  const std::string admin_signature = admin.substr(admin.rfind('.') + 1);
  const std::int64_t now = std::time(nullptr);

  // Controls: the genuine token, and the same claims re-signed with the real key.
  expect_accepted(server, admin, "genuine admin token", admin);
  expect_accepted(server, admin, "claims signed with the real key", es(*real, header, claims));

  std::vector<std::pair<std::string, std::string>> attacks;
  auto with_header = [&](nlohmann::json changes) {
    nlohmann::json h = header;
    h.update(changes);
    return h;
  };
  auto with_claims = [&](nlohmann::json changes) {
    nlohmann::json c = claims;
    c.update(changes);
    return c;
  };
  // alg: none
  for (const std::string alg : {"none", "None", "NONE", "nOnE"}) {
    attacks.emplace_back("alg " + alg, jws(with_header({{"alg", alg}}), claims, ""));
    attacks.emplace_back(
        "alg " + alg + " keeping the signature",
        jws_signing_input(with_header({{"alg", alg}}), claims) + "." + admin_signature);
  }
  attacks.emplace_back("no alg at all", [&] {
    nlohmann::json h = header;
    h.erase("alg");
    return jws(h, claims, "");
  }());
  // HS256 with the public key as the HMAC secret (the classic key-confusion attack).
  const std::string public_pem = public_pem_of(private_pem);
  attacks.emplace_back("HS256 keyed with the public key PEM",
                       hs256(with_header({{"alg", "HS256"}}), claims, public_pem));
  attacks.emplace_back("HS256 keyed with the JWK",
                       hs256(with_header({{"alg", "HS256"}}), claims, jwk.dump()));
  attacks.emplace_back("HS256 keyed with the JWKS document",
                       hs256(with_header({{"alg", "HS256"}}), claims, jwk_text));
  attacks.emplace_back("HS512 keyed with the public key PEM",
                       hs256(with_header({{"alg", "HS512"}}), claims, public_pem));
  // Re-signed with another key.
  attacks.emplace_back("re-signed with another key under its own kid",
                       es(attacker, with_header({{"kid", attacker.kid()}}), claims));
  attacks.emplace_back("re-signed with another key under the server's kid",
                       es(attacker, header, claims));
  attacks.emplace_back(
      "another key embedded in the header",
      es(attacker,
         with_header({{"kid", attacker.kid()},
                      {"jwk", nlohmann::json::parse(attacker.public_key().jwk())}}),
         claims));
  attacks.emplace_back(
      "a jku pointing elsewhere",
      es(attacker, with_header({{"kid", attacker.kid()}, {"jku", "http://127.0.0.1:1/jwks.json"}}),
         claims));
  attacks.emplace_back(
      "EdDSA claimed for the server's ES256 key",
      jws_signing_input(with_header({{"alg", "EdDSA"}}), claims) + "." + admin_signature);
  for (const std::string k : {"../pepper", "../../pepper", "", "x\u0000y"}) {
    attacks.emplace_back("kid '" + k + "'", es(attacker, with_header({{"kid", k}}), claims));
  }
  // Expired or not yet valid, though signed with the real key.
  attacks.emplace_back("expired ten seconds ago",
                       es(*real, header, with_claims({{"iat", now - 3610}, {"exp", now - 10}})));
  attacks.emplace_back("expiring this second",
                       es(*real, header, with_claims({{"iat", now - 3600}, {"exp", now}})));
  attacks.emplace_back("issued an hour in the future",
                       es(*real, header, with_claims({{"iat", now + 3600}, {"exp", now + 7200}})));
  attacks.emplace_back("exp as a string",
                       es(*real, header, with_claims({{"exp", std::to_string(now + 600)}})));
  attacks.emplace_back("exp missing", [&] {
    nlohmann::json c = claims;
    c.erase("exp");
    return es(*real, header, c);
  }());
  attacks.emplace_back("another issuer", es(*real, header, with_claims({{"iss", "evil"}})));
  attacks.emplace_back("a key that does not exist",
                       es(*real, header, with_claims({{"apikey", "lk_000000000000000000000000"}})));
  // Tampered claims, the signature kept.
  const std::string aud_sig = auditor_token.substr(auditor_token.rfind('.') + 1);
  const nlohmann::json aud_claims = jwt_part(auditor_token, 1);
  auto tampered = [&](nlohmann::json changes) {
    nlohmann::json c = aud_claims;
    c.update(changes);
    return jws_signing_input(jwt_part(auditor_token, 0), c) + "." + aud_sig;
  };
  attacks.emplace_back("tampered roles", tampered({{"roles", {"admin"}}}));
  attacks.emplace_back("tampered sub", tampered({{"sub", claims["sub"]}}));
  attacks.emplace_back("tampered apikey", tampered({{"apikey", claims["apikey"]}}));
  attacks.emplace_back("tampered exp", tampered({{"exp", now + 86400 * 365}}));
  attacks.emplace_back("one flipped signature byte", [&] {
    std::string t = admin;
    char& c = t[t.size() - 5];
    c = c == 'A' ? 'B' : 'A';
    return t;
  }());
  attacks.emplace_back("signature stripped", admin.substr(0, admin.rfind('.') + 1));
  attacks.emplace_back("another token's signature",
                       admin.substr(0, admin.rfind('.') + 1) + aud_sig);
  attacks.emplace_back("four parts", admin + ".x");
  attacks.emplace_back("two parts", admin.substr(0, admin.rfind('.')));
  attacks.emplace_back("padding added", admin + "==");
  attacks.emplace_back("a signature with stray low bits", [&] {
    // The signature is 64 bytes: its last base64url digit carries 2 unused bits.
    std::string t = admin;
    const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const auto v = digits.find(t.back());
    t.back() = digits[(v & ~3u) | ((v & 3u) ^ 1u)];
    return t;
  }());
  attacks.emplace_back("whitespace inside", admin.substr(0, 10) + " " + admin.substr(10));
  attacks.emplace_back("7 KB of garbage", std::string(7000, 'A'));

  for (const auto& [name, token] : attacks) expect_refused(server, admin, name, token);
  BOOST_TEST_MESSAGE(attacks.size() << " forged or tampered tokens refused");

  // The auditor's own token still works: nothing above changed its standing.
  BOOST_TEST(get(server.url("/iam/settings"), auditor_token).status == 200);
}

BOOST_AUTO_TEST_CASE(tokens_of_deleted_or_disabled_keys_and_deleted_principals_are_refused) {
  ServerProcess server;
  const std::string admin = server.admin_token();
  auto make = [&](const std::string& name) {
    const IssuedKey k = new_service_account_key(server, admin, name, {"admin"});
    const std::string token = server.login(k.apikey, k.secretkey);
    expect_accepted(server, admin, name + " before", token);
    return std::pair{k, token};
  };
  const auto [deleted, deleted_token] = make("deleted-key");
  BOOST_REQUIRE_EQUAL(
      del(server.url("/iam/service-accounts/" + deleted.principal_id + "/keys/" + deleted.apikey),
          admin)
          .status,
      204);
  expect_refused(server, admin, "token of a deleted key", deleted_token);

  const auto [disabled, disabled_token] = make("disabled-key");
  BOOST_REQUIRE_EQUAL(post_json(server.url("/iam/service-accounts/" + disabled.principal_id +
                                           "/keys/" + disabled.apikey + "/disable"),
                                nlohmann::json::object(), admin)
                          .status,
                      200);
  expect_refused(server, admin, "token of a disabled key", disabled_token);
  // Enabled again, the token is good again (it never expired): disable is not delete.
  BOOST_REQUIRE_EQUAL(post_json(server.url("/iam/service-accounts/" + disabled.principal_id +
                                           "/keys/" + disabled.apikey + "/enable"),
                                nlohmann::json::object(), admin)
                          .status,
                      200);
  expect_accepted(server, admin, "token of a re-enabled key", disabled_token);

  const auto [orphan, orphan_token] = make("deleted-principal");
  BOOST_REQUIRE_EQUAL(del(server.url("/iam/service-accounts/" + orphan.principal_id), admin).status,
                      204);
  expect_refused(server, admin, "token of a deleted principal", orphan_token);
  // The deleted key cannot log in again either.
  BOOST_TEST(post_json(server.url("/iam/login"), {{"auth_mode", "apikey"},
                                                  {"apikey", deleted.apikey},
                                                  {"secretkey", deleted.secretkey}})
                 .status == 401);
}

BOOST_AUTO_TEST_SUITE_END()
