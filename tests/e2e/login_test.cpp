// POST /iam/login: JSON and form bodies, the token's shape, one body for
// every failure, bad requests, and the lockout (429 with Retry-After).
#include <boost/test/unit_test.hpp>

#include <map>
#include <thread>

#include "base/clock.h"
#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

namespace {

// The parts of a 401 body that must not differ between failure reasons.
json comparable(const HttpResponse& r) {
  json j = r.json();
  j.erase("request_id");
  return j;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(login)

BOOST_AUTO_TEST_CASE(json_and_form_bodies_both_get_a_bearer_token) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("login user "),
                                         unique("u") + "@example.com", {"reader"});
  const Key key = s.client.create_key(s.admin, user);
  const auto lifetime = s.client.settings(s.admin).at("token_lifetime_seconds").get<std::int64_t>();

  const auto as_json = s.client.login_raw(key.apikey, key.secretkey);
  const auto as_form = s.client.post_form(
      "/iam/login",
      "auth_mode=apikey&apikey=" + key.apikey + "&secretkey=" + test::form_escape(key.secretkey),
      {});
  for (const auto* r : {&as_json, &as_form}) {
    BOOST_TEST_REQUIRE(r->status == 200, r->body);
    BOOST_TEST(r->header("cache-control") == "no-store");
    const json j = r->json();
    BOOST_TEST(j.at("token_type") == "Bearer");
    BOOST_TEST(j.at("expires_in").get<std::int64_t>() == lifetime);
    const std::string token = j.at("access_token");
    const json header = jwt_part(token, 0);
    const json claims = jwt_part(token, 1);
    BOOST_TEST(header.at("alg") == "ES256");
    BOOST_TEST(!header.at("kid").get<std::string>().empty());
    BOOST_TEST(claims.at("sub") == user.id);
    BOOST_TEST(claims.at("apikey") == key.apikey);
    BOOST_TEST(claims.at("roles") == json::array({"reader"}));
    BOOST_TEST(!claims.at("iss").get<std::string>().empty());
    BOOST_TEST(claims.at("jti").get<std::string>().size() == 32u);
    BOOST_TEST(claims.at("exp").get<std::int64_t>() - claims.at("iat").get<std::int64_t>() ==
               lifetime);
    const auto expires_at = parse_rfc3339(j.at("expires_at").get<std::string>());
    BOOST_TEST_REQUIRE(expires_at.has_value());
    BOOST_TEST(*expires_at / kMicrosPerSecond == claims.at("exp").get<std::int64_t>());
    // The token works as a bearer token.
    const auto me = s.client.get("/iam/me", token);
    BOOST_TEST(me.status == 200);
    BOOST_TEST(me.json().at("id") == user.id);
  }
  // The two tokens are distinct tokens (own jti each).
  BOOST_TEST(as_json.json().at("access_token") != as_form.json().at("access_token"));
}

BOOST_AUTO_TEST_CASE(every_failure_reason_gets_one_identical_401_body) {
  auto& s = shared();
  const auto user =
      s.client.create_user(s.admin, unique("failures "), unique("f") + "@example.com");
  const Key good = s.client.create_key(s.admin, user);
  const Key to_disable = s.client.create_key(s.admin, user);
  const Key to_delete = s.client.create_key(s.admin, user);
  // A key that expires in a few seconds. On a machine so busy that the
  // moment has passed when the server judges the request, it is refused as
  // an expiry in the past: then (and only then) the test asks again.
  std::optional<Key> made;
  for (int attempt = 0; attempt < 5 && !made; ++attempt) {
    const std::string when = format_rfc3339_seconds(SystemClock().now() + 3 * kMicrosPerSecond);
    const auto r = s.client.post(user.base + "/keys", {{"expires_at", when}}, s.admin);
    if (r.status == 201) {
      made = Key{r.json().at("apikey"), r.json().at("secretkey"), r.json()};
    } else {
      BOOST_TEST_REQUIRE((r.status == 400 && SystemClock().now() >= *parse_rfc3339(when)),
                         "a key expiring at " << when << " was refused: " << r.body);
    }
  }
  BOOST_TEST_REQUIRE(made.has_value());
  const Key soon = *made;
  const auto doomed =
      s.client.create_user(s.admin, unique("doomed "), unique("d") + "@example.com");
  const Key orphan = s.client.create_key(s.admin, doomed);

  BOOST_TEST(
      s.client.post_empty(user.base + "/keys/" + to_disable.apikey + "/disable", s.admin).status ==
      200);
  BOOST_TEST(s.client.del(user.base + "/keys/" + to_delete.apikey, s.admin).status == 204);
  BOOST_TEST(s.client.del(doomed.base, s.admin).status == 204);

  // Expired: poll until the key's time has passed. (It logs in until then;
  // that is not required here, as a slow machine may reach its expiry first.)
  std::optional<HttpResponse> expired;
  int good_before = 0;
  BOOST_TEST_REQUIRE(eventually([&] {
    auto r = s.client.login_raw(soon.apikey, soon.secretkey);
    if (r.status == 200) {
      ++good_before;
      return false;
    }
    expired = r;
    return true;
  }));
  BOOST_TEST_MESSAGE("the key logged in " << good_before << " times before it expired");
  // Its listing says so.
  const json listed = s.client.get(user.base + "/keys", s.admin).json();
  std::map<std::string, std::string> status_of;
  for (const auto& k : listed) status_of[k.at("apikey")] = k.at("status");
  BOOST_TEST((status_of == std::map<std::string, std::string>{{soon.apikey, "expired"},
                                                              {to_disable.apikey, "disabled"},
                                                              {good.apikey, "active"}}),
             listed.dump());
  BOOST_TEST(SystemClock().now() >= *parse_rfc3339(soon.body.at("expires_at").get<std::string>()));

  std::vector<std::pair<std::string, HttpResponse>> failures;
  failures.emplace_back("unknown key",
                        s.client.login_raw("lk_0123456789abcdef01234567", good.secretkey));
  std::string wrong = good.secretkey;
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  failures.emplace_back("wrong secret", s.client.login_raw(good.apikey, wrong));
  failures.emplace_back("malformed secret", s.client.login_raw(good.apikey, "not-a-secret"));
  failures.emplace_back("another key's secret",
                        s.client.login_raw(good.apikey, to_disable.secretkey));
  failures.emplace_back("expired", *expired);
  failures.emplace_back("disabled", s.client.login_raw(to_disable.apikey, to_disable.secretkey));
  failures.emplace_back("deleted", s.client.login_raw(to_delete.apikey, to_delete.secretkey));
  failures.emplace_back("principal deleted", s.client.login_raw(orphan.apikey, orphan.secretkey));

  const json reference = comparable(failures.front().second);
  for (const auto& [why, r] : failures) {
    BOOST_TEST_CONTEXT(why) {
      expect_error(r, 401, "invalid_credentials");
      BOOST_TEST(comparable(r) == reference, comparable(r).dump() << " vs " << reference.dump());
      BOOST_TEST(r.header("www-authenticate") ==
                 failures.front().second.header("www-authenticate"));
      BOOST_TEST(r.header("retry-after").empty());
    }
  }
  // The good key still works: failures on other keys did not lock it.
  BOOST_TEST(s.client.login_raw(good.apikey, good.secretkey).status == 200);
}

BOOST_AUTO_TEST_CASE(malformed_login_requests_are_400_and_wrong_types_415) {
  auto& s = shared();
  const auto& admin = s.server.admin();
  const json ok = {
      {"auth_mode", "apikey"}, {"apikey", admin.apikey}, {"secretkey", admin.secretkey}};
  auto without = [&](const char* field) {
    json j = ok;
    j.erase(field);
    return j;
  };
  json wrong_mode = ok;
  wrong_mode["auth_mode"] = "password";
  json wrong_type = ok;
  wrong_type["apikey"] = 42;
  json extra = ok;
  extra["scope"] = "all";
  for (const json& body : {without("auth_mode"), without("apikey"), without("secretkey"),
                           wrong_mode, wrong_type, extra, json::object()}) {
    BOOST_TEST_CONTEXT(body.dump()) {
      expect_error(s.client.post("/iam/login", body, {}), 400, "invalid_request");
    }
  }
  expect_error(
      s.client.call("POST", "/iam/login", "{\"auth_mode\": ", {"Content-Type: application/json"}),
      400, "invalid_request");
  expect_error(s.client.call("POST", "/iam/login", "[1,2]", {"Content-Type: application/json"}),
               400, "invalid_request");
  expect_error(s.client.call("POST", "/iam/login", ok.dump(), {"Content-Type: text/plain"}), 415,
               "unsupported_media_type");
  expect_error(s.client.call("POST", "/iam/login", ok.dump(), {"Content-Type: application/xml"}),
               415, "unsupported_media_type");
}

BOOST_AUTO_TEST_CASE(repeated_failures_lock_the_key_with_429_and_retry_after) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  client.set_settings(admin, {{"lockout_threshold", 3}, {"lockout_duration_seconds", 120}});
  const auto user = client.create_user(admin, "locked out", "locked@example.com");
  const Key key = client.create_key(admin, user);
  std::string wrong = key.secretkey;
  wrong[20] = wrong[20] == '0' ? '1' : '0';
  for (int i = 0; i < 3; ++i)
    expect_error(client.login_raw(key.apikey, wrong), 401, "invalid_credentials");
  // Now even the right secret is refused until the lock ends.
  const auto locked = client.login_raw(key.apikey, key.secretkey);
  expect_error(locked, 429, "too_many_requests");
  const std::string retry = locked.header("retry-after");
  BOOST_TEST_REQUIRE(!retry.empty());
  const int seconds = std::stoi(retry);
  BOOST_TEST(seconds >= 1);
  BOOST_TEST(seconds <= 120);
  // Another key is not locked.
  BOOST_TEST(client.login_raw(server.admin().apikey, server.admin().secretkey).status == 200);
  // The lock is an event.
  const auto audit = client.get("/iam/audit?type=login.locked", admin);
  BOOST_TEST_REQUIRE(audit.status == 200);
  BOOST_TEST(audit.json().at("events").size() == 1u);
  BOOST_TEST(audit.json()["events"][0]["data"].dump().find(key.apikey) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
