// Signing keys: `latchkey rotate-signing-key` with the server stopped (and
// refused while it runs); POST /iam/signing-keys/rotate to an EdDSA key
// (tokens.algorithm from a --config file), whose tokens verify through the
// JWKS and introspect. What time does to them: token_expiry_test.cpp.
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "tests/e2e/e2e.h"
#include "tests/e2e/expiry_scenario.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::e2e;
namespace fs = std::filesystem;

namespace {

json jwks_of(const Client& c) {
  const auto r = c.get("/iam/.well-known/jwks.json", "");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  return r.json();
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

std::int64_t exp_of(const std::string& token) {
  return jwt_part(token, 1).at("exp").get<std::int64_t>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(signing_keys)

BOOST_AUTO_TEST_CASE(rotate_signing_key_runs_with_the_server_stopped_and_refuses_otherwise) {
  ServerProcess server;
  Client client(server);
  const std::string before = client.admin_token();
  const std::string old_kid = jwt_part(before, 0).at("kid");
  const std::string signing = server.data_dir() + "/signing";
  BOOST_TEST_REQUIRE(files_in(signing) == 1u);

  // While the server runs: refused, with the way to do it instead, and no key added.
  const auto busy = test::run_latchkey_failing({"rotate-signing-key", "--data", server.data_dir()});
  BOOST_TEST(busy.err.find("POST /iam/signing-keys/rotate") != std::string::npos, busy.err);
  BOOST_TEST(files_in(signing) == 1u);

  BOOST_TEST(server.stop() == 0);
  const auto rotated =
      test::run_latchkey({"rotate-signing-key", "--data", server.data_dir(), "--alg", "EdDSA"});
  BOOST_TEST_REQUIRE(rotated.exit_code == 0, rotated.err);
  const json out = json::parse(rotated.out);
  const std::string new_kid = out.at("kid");
  BOOST_TEST(new_kid != old_kid);
  BOOST_TEST(out.at("alg") == "EdDSA");
  BOOST_TEST(out.at("old_kid") == old_kid);
  BOOST_TEST(files_in(signing) == 2u);
  // The private key is as private as init's.
  BOOST_TEST((fs::status(signing + "/" + new_kid + ".pem").permissions() ==
              (fs::perms::owner_read | fs::perms::owner_write)));

  // Restarted, the server signs with the new key and publishes both.
  server.start();
  const std::string after = client.admin_token();
  BOOST_TEST(jwt_part(after, 0).at("kid") == new_kid);
  BOOST_TEST(jwt_part(after, 0).at("alg") == "EdDSA");
  const json jwks = jwks_of(client);
  BOOST_TEST(jwks_has(jwks, old_kid));
  BOOST_TEST(jwks_has(jwks, new_kid));
  BOOST_TEST(verifies_with_jwks(jwks, after));
  BOOST_TEST(verifies_with_jwks(jwks, before));
  // The token of the old key still serves, and both introspect as active.
  BOOST_TEST(client.get("/iam/me", before).json().at("id") == server.admin().principal_id);
  BOOST_TEST(client.introspect(after, before).at("active") == true);
  BOOST_TEST(client.introspect(before, after).at("active") == true);
  // The rotation is in the log, by the system.
  const auto audit = client.get("/iam/audit?type=signing_key.rotated", after);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json evs = audit.json().at("events");
  BOOST_TEST_REQUIRE(evs.size() == 2u);  // init's key, then this one
  BOOST_TEST(evs[1].at("actor") == "system");
  BOOST_TEST(evs[1].at("data").at("kid") == new_kid);
  BOOST_TEST(evs[1].at("data").at("old_kid") == old_kid);
}

// The tokens and rotations of the expiry scenario, as they are at once
// (tests/e2e/token_expiry_test.cpp checks them again once they have expired).
BOOST_AUTO_TEST_CASE(the_api_rotates_to_an_eddsa_key_whose_tokens_verify_and_introspect) {
  auto& x = expiry_scenario();
  const auto& admin = x.server.admin();
  BOOST_TEST(jwt_part(x.hour, 0).at("alg") == "ES256");
  BOOST_TEST(exp_of(x.hour) - jwt_part(x.hour, 1).at("iat").get<std::int64_t>() == 3600);
  BOOST_TEST(exp_of(x.short1) - jwt_part(x.short1, 1).at("iat").get<std::int64_t>() == 60);
  BOOST_TEST(jwt_part(x.short1, 0).at("kid") == x.k1);

  // Rotation to an EdDSA key, as tokens.algorithm (from the --config file) says.
  BOOST_TEST(x.rotated_to_k2.at("alg") == "EdDSA");
  BOOST_TEST(x.k2 != x.k1);
  const json header = jwt_part(x.eddsa, 0);
  BOOST_TEST(header.at("alg") == "EdDSA");
  BOOST_TEST(header.at("kid") == x.k2);
  BOOST_TEST(jwt_part(x.fresh, 0).at("kid") == x.k3);

  // The JWKS publishes all three (each still has live tokens), k2 as an
  // Ed25519 key without its private part, and every token verifies with it.
  const json jwks = jwks_of(x.client);
  for (const auto& kid : {x.k1, x.k2, x.k3}) BOOST_TEST(jwks_has(jwks, kid), kid);
  bool okp = false;
  for (const auto& k : jwks.at("keys")) {
    if (k.at("kid") != x.k2) continue;
    okp = k.at("kty") == "OKP" && k.at("crv") == "Ed25519" && k.at("alg") == "EdDSA" &&
          !k.contains("d");
  }
  BOOST_TEST(okp, jwks.dump());
  for (const auto* t : {&x.hour, &x.short1, &x.eddsa, &x.fresh})
    BOOST_TEST(verifies_with_jwks(jwks, *t), jwt_part(*t, 0).dump());

  // An EdDSA token serves, and introspects as itself.
  const json active = x.client.introspect(x.fresh, x.eddsa);
  BOOST_TEST(active.at("active") == true);
  BOOST_TEST(active.at("sub") == admin.principal_id);
  BOOST_TEST(active.at("apikey") == admin.apikey);
  BOOST_TEST(active.at("exp") == exp_of(x.eddsa));
  BOOST_TEST(x.client.get("/iam/me", x.eddsa).json().at("id") == admin.principal_id);
}

BOOST_AUTO_TEST_SUITE_END()
