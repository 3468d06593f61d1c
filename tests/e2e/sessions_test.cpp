// The console's sessions end to end (docs/console.md, docs/projects.md): a
// session is an HttpOnly, SameSite=Strict cookie of one project's host; a
// change made with it needs its CSRF token; signing out revokes the token.
// Also the usage figures behind the console's and the platform page's
// charts, per project.
#include <boost/test/unit_test.hpp>

#include "tests/e2e/e2e.h"

using namespace latchkey::e2e;

namespace {

// Calls to one host of a server with optional extra headers.
struct Host {
  const Client& client;
  std::string host;  // e.g. "acme.localhost:PORT"

  HttpResponse call(const std::string& method, const std::string& path, const std::string& body,
                    std::vector<std::string> headers) const {
    headers.push_back("Host: " + host);
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    return client.call(method, path, body, headers);
  }
  HttpResponse session(const std::string& path, const std::string& apikey,
                       const std::string& secretkey) const {
    return call("POST", path,
                json{{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}}.dump(),
                {});
  }
  std::string token(const std::string& apikey, const std::string& secretkey) const {
    const auto r = session("/iam/login", apikey, secretkey);
    BOOST_REQUIRE_MESSAGE(r.status == 200, host << " login: " << r.status << " " << r.body);
    return r.json().at("access_token");
  }
};

// The value of the cookie that a Set-Cookie header sets.
std::string cookie_of(const std::string& set_cookie) {
  const auto eq = set_cookie.find('=');
  const auto semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

std::uint64_t total(const json& usage, const char* field) {
  std::uint64_t n = 0;
  for (const auto& b : usage.at("buckets")) n += b.at(field).get<std::uint64_t>();
  return n;
}

// A server with two projects, acme and beta, made by its platform operator.
struct TwoProjects {
  ServerProcess server;
  Client client{server};
  std::string port = std::to_string(server.port());
  Host base{client, "localhost:" + port};
  Host acme{client, "acme.localhost:" + port};
  Host beta{client, "beta.localhost:" + port};
  std::string op;  // the operator's token
  json keys;       // {"acme": {apikey, secretkey, principal_id, ...}, "beta": ...}

  TwoProjects() {
    const auto r =
        base.session("/platform/login", server.platform().apikey, server.platform().secretkey);
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    op = r.json().at("access_token");
    for (const char* id : {"acme", "beta"}) {
      const auto made = base.call("POST", "/platform/projects", json{{"id", id}}.dump(),
                                  {"Authorization: Bearer " + op});
      BOOST_REQUIRE_MESSAGE(made.status == 201, made.body);
      keys[id] = made.json().at("admin");
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sessions)

BOOST_AUTO_TEST_CASE(a_session_cookie_belongs_to_one_project_needs_csrf_and_signs_out) {
  TwoProjects t;
  auto& [server, client, port, base, acme, beta, op, keys] = t;
  const std::string acme_apikey = keys["acme"]["apikey"], acme_secret = keys["acme"]["secretkey"];
  const std::string beta_apikey = keys["beta"]["apikey"], beta_secret = keys["beta"]["secretkey"];

  // Signing in: the token goes into the cookie only, never into the body.
  BOOST_TEST(acme.session("/iam/session", acme_apikey, "lks_" + std::string(72, '0')).status ==
             401);
  BOOST_TEST(acme.session("/iam/session", beta_apikey, beta_secret).status == 401);
  const auto signed_in = acme.session("/iam/session", acme_apikey, acme_secret);
  BOOST_TEST_REQUIRE(signed_in.status == 200, signed_in.body);
  const json body = signed_in.json();
  BOOST_TEST(!body.contains("access_token"));
  BOOST_TEST(body.at("principal_id") == keys["acme"]["principal_id"]);
  const std::string csrf = body.at("csrf_token");
  const std::string set = signed_in.header("set-cookie");
  BOOST_TEST(set.starts_with("lk_session="));
  BOOST_TEST(set.find("; HttpOnly") != std::string::npos, set);
  BOOST_TEST(set.find("; SameSite=Strict") != std::string::npos, set);
  BOOST_TEST(set.find("; Path=/iam") != std::string::npos, set);
  BOOST_TEST(set.find("Domain") == std::string::npos, "host-only: " << set);
  BOOST_TEST(set.find("Secure") == std::string::npos, "plain HTTP: " << set);
  BOOST_TEST(signed_in.header("cache-control") == "no-store");
  const std::string token = cookie_of(set);
  const std::string cookie = "Cookie: lk_session=" + token;
  BOOST_TEST(body.dump().find(token) == std::string::npos);

  // Reads with the cookie; the same cookie at another project or the base
  // domain is an unknown token there.
  BOOST_TEST(acme.call("GET", "/iam/me", "", {cookie}).status == 200);
  const auto again = acme.call("GET", "/iam/session", "", {cookie});
  BOOST_TEST_REQUIRE(again.status == 200, again.body);
  BOOST_TEST(again.json().at("csrf_token") == csrf);
  BOOST_TEST(beta.call("GET", "/iam/me", "", {cookie}).status == 401);
  BOOST_TEST(beta.call("GET", "/iam/session", "", {cookie}).status == 401);
  BOOST_TEST(base.call("GET", "/iam/me", "", {cookie}).status == 401);
  BOOST_TEST(
      base.call("GET", "/platform/projects", "", {"Cookie: lk_platform_session=" + token}).status ==
      401);

  // A change with the cookie needs the session's CSRF token: none, a wrong
  // one, or another session's (beta's) is 403 and changes nothing.
  const auto beta_session = beta.session("/iam/session", beta_apikey, beta_secret);
  BOOST_TEST_REQUIRE(beta_session.status == 200);
  const std::string beta_csrf = beta_session.json().at("csrf_token");
  const std::string user = json{{"name", "Cookie Monster"}, {"email", "cm@example.com"}}.dump();
  BOOST_TEST(acme.call("POST", "/iam/users", user, {cookie}).status == 403);
  BOOST_TEST(acme.call("POST", "/iam/users", user, {cookie, "X-CSRF-Token: " + beta_csrf}).status ==
             403);
  BOOST_TEST(acme.call("POST", "/iam/users", user, {cookie, "X-CSRF-Token: nope"}).status == 403);
  const std::string acme_admin = acme.token(acme_apikey, acme_secret);
  BOOST_TEST(
      acme.call("GET", "/iam/users?search=cookie", "", {"Authorization: Bearer " + acme_admin})
          .json()
          .at("items")
          .empty());
  BOOST_TEST(acme.call("POST", "/iam/users", user, {cookie, "X-CSRF-Token: " + csrf}).status ==
             201);
  // A bearer token needs no CSRF token (no browser sends it by itself).
  BOOST_TEST(acme.call("POST", "/iam/users",
                       json{{"name", "Bearer"}, {"email", "b@example.com"}}.dump(),
                       {"Authorization: Bearer " + acme_admin})
                 .status == 201);

  // Sign-out: also a change, so also CSRF-checked; then the token is revoked
  // everywhere it was copied, and the cookie is cleared.
  BOOST_TEST(acme.call("DELETE", "/iam/session", "", {cookie}).status == 403);
  const auto out = acme.call("DELETE", "/iam/session", "", {cookie, "X-CSRF-Token: " + csrf});
  BOOST_TEST_REQUIRE(out.status == 204, out.body);
  BOOST_TEST(out.header("set-cookie").starts_with("lk_session=;"));
  BOOST_TEST(out.header("set-cookie").find("Max-Age=0") != std::string::npos);
  BOOST_TEST(acme.call("GET", "/iam/me", "", {cookie}).status == 401);
  BOOST_TEST(acme.call("GET", "/iam/me", "", {"Authorization: Bearer " + token}).status == 401);
  const auto intro = acme.call("POST", "/iam/introspect", json{{"token", token}}.dump(),
                               {"Authorization: Bearer " + acme_admin});
  BOOST_TEST_REQUIRE(intro.status == 200, intro.body);
  BOOST_TEST(intro.json() == json({{"active", false}}));
  // beta's session is untouched.
  BOOST_TEST(beta.call("GET", "/iam/me", "",
                       {"Cookie: lk_session=" + cookie_of(beta_session.header("set-cookie"))})
                 .status == 200);

  // token.revoked is in acme's log (with the jti, never the token), not in beta's.
  const auto audit = acme.call("GET", "/iam/audit?type=token.revoked", "",
                               {"Authorization: Bearer " + acme_admin});
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json revoked = audit.json().at("events");
  BOOST_TEST_REQUIRE(revoked.size() == 1u);
  BOOST_TEST(revoked[0].at("data").at("reason") == "signed_out");
  BOOST_TEST(revoked[0].at("actor") == keys["acme"]["principal_id"]);
  BOOST_TEST(audit.body.find(token) == std::string::npos);
  const std::string beta_admin = beta.token(beta_apikey, beta_secret);
  BOOST_TEST(
      beta.call("GET", "/iam/audit?type=token.revoked", "", {"Authorization: Bearer " + beta_admin})
          .json()
          .at("events")
          .empty());

  // The platform page's session: the platform's cookie, for /platform only.
  const auto plat =
      base.session("/platform/session", server.platform().apikey, server.platform().secretkey);
  BOOST_TEST_REQUIRE(plat.status == 200, plat.body);
  const std::string plat_set = plat.header("set-cookie");
  BOOST_TEST(plat_set.starts_with("lk_platform_session="));
  BOOST_TEST(plat_set.find("; Path=/platform") != std::string::npos, plat_set);
  const std::string plat_cookie = "Cookie: lk_platform_session=" + cookie_of(plat_set);
  BOOST_TEST(base.call("GET", "/platform/projects", "", {plat_cookie}).status == 200);
  BOOST_TEST(
      base.call("PATCH", "/platform/projects/beta", json{{"name", "B"}}.dump(), {plat_cookie})
          .status == 403);
  // Not a project's session: the default project at the base domain refuses it.
  BOOST_TEST(
      base.call("GET", "/iam/me", "", {"Cookie: lk_session=" + cookie_of(plat_set)}).status == 401);
  const std::string plat_csrf = plat.json().at("csrf_token");
  BOOST_TEST(
      base.call("DELETE", "/platform/session", "", {plat_cookie, "X-CSRF-Token: " + plat_csrf})
          .status == 204);
  BOOST_TEST(base.call("GET", "/platform/projects", "", {plat_cookie}).status == 401);

  // The platform page is on the base domain only.
  BOOST_TEST(base.call("GET", "/console/platform", "", {}).status == 200);
  BOOST_TEST(acme.call("GET", "/console/platform", "", {}).status == 404);
}

BOOST_AUTO_TEST_CASE(usage_figures_are_per_project_and_summed_for_the_platform) {
  TwoProjects t;
  auto& [server, client, port, base, acme, beta, op, keys] = t;
  // acme: 3 logins and 2 failures; beta: 1 login.
  std::string acme_admin;
  for (int i = 0; i < 3; ++i)
    acme_admin = acme.token(keys["acme"]["apikey"], keys["acme"]["secretkey"]);
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST(
        acme.session("/iam/login", keys["acme"]["apikey"], "lks_" + std::string(72, '1')).status ==
        401);
  }
  const std::string beta_admin = beta.token(keys["beta"]["apikey"], keys["beta"]["secretkey"]);
  // acme gets a second key; beta's one key is disabled.
  const auto me = acme.call("POST", "/iam/me/keys", "{}", {"Authorization: Bearer " + acme_admin});
  BOOST_TEST_REQUIRE(me.status == 201, me.body);
  const std::string beta_principal = keys["beta"]["principal_id"];

  const auto acme_day =
      acme.call("GET", "/iam/usage?period=day", "", {"Authorization: Bearer " + acme_admin});
  BOOST_TEST_REQUIRE(acme_day.status == 200, acme_day.body);
  const json a = acme_day.json();
  BOOST_TEST(a.at("period") == "day");
  BOOST_TEST(a.at("bucket_seconds") == 3600);
  BOOST_TEST(a.at("buckets").size() == 24u);
  BOOST_TEST(total(a, "logins") == 3u);
  BOOST_TEST(total(a, "failed_logins") == 2u);
  BOOST_TEST(a.at("buckets").back().at("active_keys") == 2);
  const auto acme_month =
      acme.call("GET", "/iam/usage?period=month", "", {"Authorization: Bearer " + acme_admin});
  BOOST_TEST_REQUIRE(acme_month.status == 200);
  BOOST_TEST(acme_month.json().at("buckets").size() == 30u);
  BOOST_TEST(total(acme_month.json(), "logins") == 3u);
  BOOST_TEST(acme.call("GET", "/iam/usage?period=year", "", {"Authorization: Bearer " + acme_admin})
                 .status == 400);
  BOOST_TEST(acme.call("GET", "/iam/usage", "", {}).status == 401);

  const json b =
      beta.call("GET", "/iam/usage?period=day", "", {"Authorization: Bearer " + beta_admin}).json();
  BOOST_TEST(total(b, "logins") == 1u);
  BOOST_TEST(total(b, "failed_logins") == 0u);
  BOOST_TEST(b.at("buckets").back().at("active_keys") == 1);
  // A second key, then disabled: active again, then no longer.
  const auto second =
      beta.call("POST", "/iam/me/keys", "{}", {"Authorization: Bearer " + beta_admin});
  BOOST_TEST_REQUIRE(second.status == 201, second.body);
  const std::string key2 = second.json().at("apikey");
  auto beta_usage = [&] {
    return beta.call("GET", "/iam/usage?period=day", "", {"Authorization: Bearer " + beta_admin})
        .json();
  };
  BOOST_TEST(beta_usage().at("buckets").back().at("active_keys") == 2);
  const auto off =
      beta.call("POST", "/iam/service-accounts/" + beta_principal + "/keys/" + key2 + "/disable",
                "", {"Authorization: Bearer " + beta_admin});
  BOOST_TEST_REQUIRE(off.status == 200, off.body);
  BOOST_TEST(beta_usage().at("buckets").back().at("active_keys") == 1);
  BOOST_TEST(total(beta_usage(), "logins") == 1u);

  // The platform's sum covers every project; only operators read it.
  const auto plat =
      base.call("GET", "/platform/usage?period=day", "", {"Authorization: Bearer " + op});
  BOOST_TEST_REQUIRE(plat.status == 200, plat.body);
  BOOST_TEST(total(plat.json(), "logins") >= 4u);
  BOOST_TEST(total(plat.json(), "failed_logins") >= 2u);
  BOOST_TEST(
      base.call("GET", "/platform/usage", "", {"Authorization: Bearer " + acme_admin}).status ==
      401);
}

BOOST_AUTO_TEST_SUITE_END()
