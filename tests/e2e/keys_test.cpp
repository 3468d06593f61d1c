// Keys: the secret shown once, lifetimes, disable/enable/delete, the key
// limit (409), deleting a principal, and self-service under /iam/me.
#include <boost/test/unit_test.hpp>

#include "base/clock.h"
#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

namespace {

Micros at(const json& j, const char* field) {
  const auto t = parse_rfc3339(j.at(field).get<std::string>());
  BOOST_REQUIRE_MESSAGE(t.has_value(), field << " is not RFC 3339: " << j.at(field));
  return *t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(keys)

BOOST_AUTO_TEST_CASE(the_secret_appears_only_in_the_creation_response) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("secret "), unique("s") + "@example.com");
  const auto r = s.client.post(user.base + "/keys", {{"description", "laptop"}}, s.admin);
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  BOOST_TEST(r.header("cache-control") == "no-store");
  const json k = r.json();
  const std::string apikey = k.at("apikey");
  const std::string secret = k.at("secretkey");
  BOOST_TEST(apikey.size() == 27u);
  BOOST_TEST(apikey.rfind("lk_", 0) == 0);
  BOOST_TEST(secret.size() == 76u);
  BOOST_TEST(secret.rfind("lks_", 0) == 0);
  BOOST_TEST(k.at("description") == "laptop");
  BOOST_TEST(k.at("status") == "active");
  BOOST_TEST(k.at("principal_id") == user.id);
  BOOST_TEST(k.at("last_used_at").is_null());
  BOOST_TEST(!k.contains("email"));

  s.client.login(apikey, secret);
  const auto list = s.client.get(user.base + "/keys", s.admin);
  BOOST_TEST_REQUIRE(list.status == 200);
  BOOST_TEST_REQUIRE(list.json().size() == 1u);
  const json listed = list.json()[0];
  BOOST_TEST(listed.at("apikey") == apikey);
  BOOST_TEST(!listed.at("last_used_at").is_null());
  for (const char* f :
       {"apikey", "description", "created_at", "expires_at", "last_used_at", "status"}) {
    BOOST_TEST(listed.contains(f), f);
  }
  BOOST_TEST(!listed.contains("secretkey"));
  // Nowhere else: list, get, self-service list, audit, replay, timeline.
  const std::string token = s.client.login(apikey, secret);
  const std::vector<HttpResponse> reads = {
      list,
      s.client.get(user.base, s.admin),
      s.client.get("/iam/me", token),
      s.client.get("/iam/me/keys", token),
      s.client.get("/iam/audit?apikey=" + apikey, s.admin),
      s.client.get("/iam/keys/" + apikey + "/timeline", s.admin),
      s.client.get(
          "/iam/replay/state?at=" +
              std::to_string(s.client.get("/readyz", "").json().at("seq").get<std::uint64_t>()),
          s.admin),
      s.client.call("GET", "/iam/audit", {},
                    {"Authorization: Bearer " + s.admin, "Accept: application/x-ndjson"}),
  };
  for (const auto& read : reads) {
    BOOST_TEST(read.status == 200, read.body.substr(0, 200));
    BOOST_TEST(read.body.find(secret) == std::string::npos);
    BOOST_TEST(read.body.find(secret.substr(4)) == std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(key_lifetime_rules) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const json settings = client.settings(admin);
  const std::int64_t def = settings.at("default_key_lifetime_days");
  const std::int64_t max = settings.at("max_key_lifetime_days");
  BOOST_TEST(def == 90);
  BOOST_TEST(max == 365);
  const auto user = client.create_user(admin, "lifetimes", "life@example.com");
  client.set_settings(admin, {{"max_keys_per_principal", 100}});

  auto lifetime = [](const json& k) { return at(k, "expires_at") - at(k, "created_at"); };
  const Micros slack = 5 * kMicrosPerSecond;

  // Default.
  const Key d = client.create_key(admin, user);
  BOOST_TEST(std::llabs(lifetime(d.body) - def * kMicrosPerDay) < slack);
  // lifetime_days, up to the max.
  const Key l = client.create_key(admin, user, {{"lifetime_days", 30}});
  BOOST_TEST(std::llabs(lifetime(l.body) - 30 * kMicrosPerDay) < slack);
  const Key m = client.create_key(admin, user, {{"lifetime_days", max}});
  BOOST_TEST(std::llabs(lifetime(m.body) - max * kMicrosPerDay) < slack);
  // expires_at, echoed back.
  const std::string when = format_rfc3339_seconds(SystemClock().now() + 10 * kMicrosPerDay);
  const Key e = client.create_key(admin, user, {{"expires_at", when}});
  BOOST_TEST(at(e.body, "expires_at") == *parse_rfc3339(when));
  // A changed default applies to the next key.
  client.set_settings(admin, {{"default_key_lifetime_days", 7}});
  const Key d7 = client.create_key(admin, user);
  BOOST_TEST(std::llabs(lifetime(d7.body) - 7 * kMicrosPerDay) < slack);

  // Refusals, and nothing created for them.
  const auto before = client.get(user.base + "/keys", admin).json().size();
  const std::vector<json> bad = {
      {{"lifetime_days", max + 1}},
      {{"lifetime_days", 0}},
      {{"lifetime_days", -3}},
      {{"lifetime_days", "30"}},
      {{"lifetime_days", 1.5}},
      {{"expires_at", format_rfc3339_seconds(SystemClock().now() - kMicrosPerSecond * 60)}},
      {{"expires_at", format_rfc3339_seconds(SystemClock().now() + (max + 2) * kMicrosPerDay)}},
      {{"expires_at", "next tuesday"}},
      {{"lifetime_days", 3}, {"expires_at", when}},
      {{"send_email", "yes"}},
      {{"description", std::string(501, 'x')}},
      {{"description", "tab\there"}},
      {{"secretkey", "lks_chosen_by_me"}},
  };
  for (const auto& b : bad) {
    BOOST_TEST_CONTEXT(b.dump().substr(0, 80)) {
      expect_error(client.post(user.base + "/keys", b, admin), 400, "invalid_request");
    }
  }
  expect_error(client.call("POST", user.base + "/keys", "{",
                           {"Content-Type: application/json", "Authorization: Bearer " + admin}),
               400, "invalid_request");
  expect_error(client.call("POST", user.base + "/keys", "lifetime_days=3",
                           {"Content-Type: application/x-www-form-urlencoded",
                            "Authorization: Bearer " + admin}),
               415, "unsupported_media_type");
  BOOST_TEST(client.get(user.base + "/keys", admin).json().size() == before);
  // send_email without an SMTP server: 400 saying so, nothing created.
  const auto no_smtp = client.post(user.base + "/keys", {{"send_email", true}}, admin);
  expect_error(no_smtp, 400, "invalid_request");
  BOOST_TEST(no_smtp.json().at("message").get<std::string>().find("SMTP") != std::string::npos);
  BOOST_TEST(client.get(user.base + "/keys", admin).json().size() == before);
}

BOOST_AUTO_TEST_CASE(disable_enable_and_delete_a_key) {
  auto& s = shared();
  for (const bool user_kind : {true, false}) {
    BOOST_TEST_CONTEXT((user_kind ? "user" : "service account")) {
      const auto p =
          user_kind ? s.client.create_user(s.admin, unique("dis "), unique("d") + "@example.com")
                    : s.client.create_service_account(s.admin, unique("dis sa "));
      const Key k = s.client.create_key(s.admin, p);
      const std::string token = s.client.login(k);
      const std::string path = p.base + "/keys/" + k.apikey;

      const auto disabled = s.client.post_empty(path + "/disable", s.admin);
      BOOST_TEST_REQUIRE(disabled.status == 200, disabled.body);
      BOOST_TEST(disabled.json().at("status") == "disabled");
      BOOST_TEST(!disabled.json().contains("secretkey"));
      expect_error(s.client.login_raw(k.apikey, k.secretkey), 401, "invalid_credentials");
      BOOST_TEST(s.client.get(p.base + "/keys", s.admin).json()[0].at("status") == "disabled");
      // Disabling twice is harmless.
      const auto again = s.client.post(path + "/disable", json::object(), s.admin);
      BOOST_TEST_REQUIRE(again.status == 200, again.body);
      BOOST_TEST(again.json().at("status") == "disabled");
      expect_error(s.client.post(path + "/disable", {{"reason", "x"}}, s.admin), 400,
                   "invalid_request");

      const auto enabled = s.client.post_empty(path + "/enable", s.admin);
      BOOST_TEST_REQUIRE(enabled.status == 200, enabled.body);
      BOOST_TEST(enabled.json().at("status") == "active");
      BOOST_TEST(s.client.login_raw(k.apikey, k.secretkey).status == 200);

      const auto deleted = s.client.del(path, s.admin);
      BOOST_TEST(deleted.status == 204);
      BOOST_TEST(s.client.get(p.base + "/keys", s.admin).json().empty());
      expect_error(s.client.login_raw(k.apikey, k.secretkey), 401, "invalid_credentials");
      BOOST_TEST(s.client.introspect(s.admin, token).at("active") == false);
      expect_error(s.client.del(path, s.admin), 404, "not_found");
      expect_error(s.client.post_empty(path + "/enable", s.admin), 404, "not_found");
      // A key of another principal is not found under this one.
      const Key other = s.client.create_key(s.admin, p);
      const auto stranger = s.client.create_service_account(s.admin, unique("stranger "));
      expect_error(s.client.del(stranger.base + "/keys/" + other.apikey, s.admin), 404,
                   "not_found");
      BOOST_TEST(s.client.login_raw(other.apikey, other.secretkey).status == 200);
    }
  }
}

BOOST_AUTO_TEST_CASE(key_limit_per_principal_is_409) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  client.set_settings(admin, {{"max_keys_per_principal", 2}});
  const auto sa = client.create_service_account(admin, "limited");
  const Key a = client.create_key(admin, sa);
  client.create_key(admin, sa);
  const auto third = client.post(sa.base + "/keys", json::object(), admin);
  expect_error(third, 409, "conflict");
  BOOST_TEST(client.get(sa.base + "/keys", admin).json().size() == 2u);
  // Deleting one makes room again.
  BOOST_TEST(client.del(sa.base + "/keys/" + a.apikey, admin).status == 204);
  client.create_key(admin, sa);
  expect_error(client.post(sa.base + "/keys", json::object(), admin), 409, "conflict");
  // Self-service counts too.
  const auto user = client.create_user(admin, "self", "self@example.com");
  const Key u1 = client.create_key(admin, user);
  const std::string ut = client.login(u1);
  const auto own = client.post("/iam/me/keys", json::object(), ut);
  BOOST_TEST_REQUIRE(own.status == 201, own.body);
  BOOST_TEST(own.json().at("principal_id") == user.id);
  expect_error(client.post("/iam/me/keys", json::object(), ut), 409, "conflict");
}

BOOST_AUTO_TEST_CASE(deleting_a_principal_deactivates_its_keys_and_tokens) {
  auto& s = shared();
  for (const bool user_kind : {true, false}) {
    BOOST_TEST_CONTEXT((user_kind ? "user" : "service account")) {
      const auto p =
          user_kind ? s.client.create_user(s.admin, unique("leaver "), unique("l") + "@example.com")
                    : s.client.create_service_account(s.admin, unique("leaver sa "));
      const Key k1 = s.client.create_key(s.admin, p);
      const Key k2 = s.client.create_key(s.admin, p);
      const std::string t1 = s.client.login(k1);
      const std::string t2 = s.client.login(k2);
      BOOST_TEST_REQUIRE(s.client.del(p.base, s.admin).status == 204);
      for (const auto* k : {&k1, &k2}) {
        expect_error(s.client.login_raw(k->apikey, k->secretkey), 401, "invalid_credentials");
      }
      for (const auto* t : {&t1, &t2}) {
        BOOST_TEST(s.client.introspect(s.admin, *t).at("active") == false);
        expect_error(s.client.get("/iam/me", *t), 401, "unauthorized");
      }
      expect_error(s.client.get(p.base + "/keys", s.admin), 404, "not_found");
      // The deletion event names the keys it deactivated.
      const auto audit = s.client.get("/iam/audit?principal_id=" + p.id + "&type=" +
                                          (user_kind ? "user.deleted" : "service_account.deleted"),
                                      s.admin);
      BOOST_TEST_REQUIRE(audit.json().at("events").size() == 1u);
      const std::string data = audit.json()["events"][0]["data"].dump();
      BOOST_TEST(data.find(k1.apikey) != std::string::npos);
      BOOST_TEST(data.find(k2.apikey) != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(self_service_me_and_my_keys) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("selfie "), unique("me") + "@example.com");
  const Key first = s.client.create_key(s.admin, user);
  const std::string token = s.client.login(first);

  const auto me = s.client.get("/iam/me", token);
  BOOST_TEST_REQUIRE(me.status == 200);
  BOOST_TEST(me.json().at("id") == user.id);
  BOOST_TEST(me.json().at("apikey") == first.apikey);
  BOOST_TEST(me.json().at("type") == "user");
  expect_error(s.client.get("/iam/me", ""), 401, "unauthorized");

  const auto made =
      s.client.post("/iam/me/keys", {{"lifetime_days", 5}, {"description", "ci"}}, token);
  BOOST_TEST_REQUIRE(made.status == 201, made.body);
  BOOST_TEST(made.header("cache-control") == "no-store");
  const Key second{made.json().at("apikey"), made.json().at("secretkey"), made.json()};
  BOOST_TEST(second.body.at("principal_id") == user.id);
  const std::string token2 = s.client.login(second);
  BOOST_TEST(s.client.get("/iam/me", token2).json().at("apikey") == second.apikey);

  const auto mine = s.client.get("/iam/me/keys", token);
  BOOST_TEST_REQUIRE(mine.status == 200);
  BOOST_TEST(mine.json().size() == 2u);
  BOOST_TEST(mine.body.find(second.secretkey) == std::string::npos);
  BOOST_TEST(mine.body.find("secretkey") == std::string::npos);

  // Disable and enable its own second key (using the first key's token).
  const auto dis = s.client.post_empty("/iam/me/keys/" + second.apikey + "/disable", token);
  BOOST_TEST_REQUIRE(dis.status == 200, dis.body);
  BOOST_TEST(dis.json().at("status") == "disabled");
  expect_error(s.client.login_raw(second.apikey, second.secretkey), 401, "invalid_credentials");
  const auto en = s.client.post_empty("/iam/me/keys/" + second.apikey + "/enable", token);
  BOOST_TEST_REQUIRE(en.status == 200, en.body);
  BOOST_TEST(s.client.login_raw(second.apikey, second.secretkey).status == 200);

  // Another principal's key is not its own: 404, and it is untouched.
  const auto other = s.client.create_user(s.admin, unique("other "), unique("o") + "@example.com");
  const Key others = s.client.create_key(s.admin, other);
  expect_error(s.client.post_empty("/iam/me/keys/" + others.apikey + "/disable", token), 404,
               "not_found");
  expect_error(s.client.del("/iam/me/keys/" + others.apikey, token), 404, "not_found");
  BOOST_TEST(s.client.login_raw(others.apikey, others.secretkey).status == 200);
  // The admin's keys are not reachable through /iam/me either.
  expect_error(s.client.del("/iam/me/keys/" + s.server.admin().apikey, token), 404, "not_found");

  // Delete its own key.
  BOOST_TEST(s.client.del("/iam/me/keys/" + second.apikey, token).status == 204);
  expect_error(s.client.login_raw(second.apikey, second.secretkey), 401, "invalid_credentials");
  BOOST_TEST(s.client.get("/iam/me/keys", token).json().size() == 1u);
  // The events name the user as the actor: every change it made to its key.
  const auto audit = s.client.get("/iam/audit?apikey=" + second.apikey, s.admin);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json events = audit.json();
  std::vector<std::string> changes;
  for (const auto& e : events.at("events")) {
    if (e.at("type") == "token.issued" || e.at("type") == "login.failed") continue;
    changes.push_back(e.at("type"));
    BOOST_TEST(e.at("actor") == user.id, e.dump());
  }
  BOOST_TEST((changes == std::vector<std::string>{"key.created", "key.disabled", "key.enabled",
                                                  "key.deleted"}),
             events.dump());
  // No token: 401 on every self-service route.
  expect_error(s.client.post("/iam/me/keys", json::object(), ""), 401, "unauthorized");
  expect_error(s.client.get("/iam/me/keys", ""), 401, "unauthorized");
  expect_error(s.client.del("/iam/me/keys/" + first.apikey, ""), 401, "unauthorized");
  expect_error(s.client.post_empty("/iam/me/keys/" + first.apikey + "/disable", ""), 401,
               "unauthorized");
  expect_error(s.client.post_empty("/iam/me/keys/" + first.apikey + "/enable", ""), 401,
               "unauthorized");
}

BOOST_AUTO_TEST_SUITE_END()
