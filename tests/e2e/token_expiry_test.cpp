// What a minute does to the expiry scenario's tokens (tests/e2e/
// expiry_scenario.h): the 60 s tokens expire on their own (introspection
// inactive, the API 401), and a retired key leaves the JWKS once, and only
// once, every token it signed has expired. Listed last in CMakeLists.txt, so
// that the minute has mostly passed when it starts.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include "base/clock.h"
#include "tests/e2e/e2e.h"
#include "tests/e2e/expiry_scenario.h"

using namespace latchkey;
using namespace latchkey::e2e;

namespace {

json jwks_of(const Client& c) {
  const auto r = c.get("/iam/.well-known/jwks.json", "");
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  return r.json();
}

std::int64_t exp_of(const std::string& token) {
  return jwt_part(token, 1).at("exp").get<std::int64_t>();
}

std::int64_t now_seconds() { return SystemClock().now() / kMicrosPerSecond; }

}  // namespace

BOOST_AUTO_TEST_SUITE(token_expiry)

BOOST_AUTO_TEST_CASE(tokens_expire_and_retired_keys_leave_the_jwks_once_their_tokens_have) {
  auto& x = expiry_scenario();
  const auto& admin = x.server.admin();
  // Poll until the 60 s tokens of k1 and k2 have expired and k2 has left the
  // JWKS (k2 signed only 60 s tokens). k2 must not leave while a token it
  // signed is live. Each look asks with a token of its own: whether the hour's
  // token still serves is what is checked afterwards.
  const std::int64_t last_k2_exp = exp_of(x.eddsa);
  std::int64_t k2_left_at = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  for (;;) {
    if (!k2_left_at && !jwks_has(jwks_of(x.client), x.k2)) k2_left_at = now_seconds();
    const std::string caller = x.client.login(admin.apikey, admin.secretkey);
    if (k2_left_at && x.client.introspect(caller, x.eddsa).at("active") == false &&
        x.client.introspect(caller, x.short1).at("active") == false) {
      break;
    }
    BOOST_TEST_REQUIRE((std::chrono::steady_clock::now() < deadline),
                       "the 60 s tokens still active, or k2 still published, after 240 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  BOOST_TEST(k2_left_at >= last_k2_exp, "k2 left the JWKS at " << k2_left_at
                                                               << ", before its last token's exp "
                                                               << last_k2_exp);
  // Expired on their own: inactive, and refused by the API.
  const std::string caller = x.client.login(admin.apikey, admin.secretkey);
  for (const auto* t : {&x.short1, &x.eddsa}) {
    BOOST_TEST(x.client.introspect(caller, *t) == json({{"active", false}}));
    expect_error(x.client.get("/iam/me", *t), 401, "unauthorized");
  }
  BOOST_TEST(now_seconds() >= exp_of(x.eddsa));
  // k1 stays: its token of an hour (issued before the lifetime was lowered)
  // is still live, and still serves.
  const json jwks = jwks_of(x.client);
  BOOST_TEST(jwks_has(jwks, x.k1), "k1 left the JWKS while a token it signed is live");
  BOOST_TEST(jwks_has(jwks, x.k3));
  BOOST_TEST(!jwks_has(jwks, x.k2));
  BOOST_TEST(verifies_with_jwks(jwks, x.hour));
  const auto me = x.client.get("/iam/me", x.hour);
  BOOST_TEST_REQUIRE(me.status == 200, me.body);
  BOOST_TEST(me.json().at("id") == admin.principal_id);
  BOOST_TEST(x.client.introspect(caller, x.hour).at("active") == true);
}

BOOST_AUTO_TEST_SUITE_END()
