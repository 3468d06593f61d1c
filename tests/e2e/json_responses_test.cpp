// "All bodies are JSON (application/json) unless said otherwise": a walk
// through every route that answers a success with a body, each checked for
// its Content-Type and for a body that parses. (Client::call checks the same
// of every response the suite sees; this walk makes sure each route is seen.)
#include <boost/test/unit_test.hpp>

#include <functional>

#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

BOOST_AUTO_TEST_SUITE(json_responses)

BOOST_AUTO_TEST_CASE(every_successful_json_response_says_application_json) {
  auto& s = shared();
  const auto user = s.client.create_user(s.admin, unique("walk "), unique("w") + "@example.com");
  const auto sa = s.client.create_service_account(s.admin, unique("walk sa "));
  const Key key = s.client.create_key(s.admin, user);
  const std::string token = s.client.login(key);
  const std::string seq =
      std::to_string(s.client.get("/readyz", "").json().at("seq").get<std::uint64_t>());
  const auto& admin = s.server.admin();
  const std::string login_form = "auth_mode=apikey&apikey=" + admin.apikey +
                                 "&secretkey=" + test::form_escape(admin.secretkey);

  struct Step {
    std::string what;
    std::function<HttpResponse()> call;
    long status;
  };
  const std::string k = "/keys/" + key.apikey;
  std::string mine;  // a self-service key, made on the way
  const std::vector<Step> steps = {
      {"GET /healthz", [&] { return s.client.get("/healthz", ""); }, 200},
      {"GET /readyz", [&] { return s.client.get("/readyz", ""); }, 200},
      {"GET jwks", [&] { return s.client.get("/iam/.well-known/jwks.json", ""); }, 200},
      {"POST /iam/login (JSON)", [&] { return s.client.login_raw(admin.apikey, admin.secretkey); },
       200},
      {"POST /iam/login (form)", [&] { return s.client.post_form("/iam/login", login_form, ""); },
       200},
      {"POST /iam/introspect (form)",
       [&] { return s.client.post_form("/iam/introspect", "token=" + token, s.admin); }, 200},
      {"POST /iam/introspect (JSON)",
       [&] {
         return s.client.post("/iam/introspect", {{"token", token}}, s.admin);
       },
       200},
      {"GET /iam/me", [&] { return s.client.get("/iam/me", token); }, 200},
      {"GET /iam/me/keys", [&] { return s.client.get("/iam/me/keys", token); }, 200},
      {"POST /iam/me/keys",
       [&] {
         auto r = s.client.post("/iam/me/keys", json::object(), token);
         if (r.status == 201) mine = r.json().at("apikey");
         return r;
       },
       201},
      {"POST /iam/me/keys/K/disable",
       [&] { return s.client.post_empty("/iam/me/keys/" + mine + "/disable", token); }, 200},
      {"POST /iam/me/keys/K/enable",
       [&] { return s.client.post_empty("/iam/me/keys/" + mine + "/enable", token); }, 200},
      {"POST /iam/users",
       [&] {
         return s.client.post("/iam/users",
                              {{"name", unique("walk ")}, {"email", unique("x") + "@example.com"}},
                              s.admin);
       },
       201},
      {"GET /iam/users", [&] { return s.client.get("/iam/users?limit=2", s.admin); }, 200},
      {"GET /iam/users/ID", [&] { return s.client.get(user.base, s.admin); }, 200},
      {"PATCH /iam/users/ID",
       [&] {
         return s.client.patch(user.base, {{"name", unique("walked ")}}, s.admin);
       },
       200},
      {"POST /iam/service-accounts",
       [&] {
         return s.client.post("/iam/service-accounts", {{"name", unique("sa ")}}, s.admin);
       },
       201},
      {"GET /iam/service-accounts",
       [&] { return s.client.get("/iam/service-accounts?limit=2", s.admin); }, 200},
      {"GET /iam/service-accounts/ID", [&] { return s.client.get(sa.base, s.admin); }, 200},
      {"PATCH /iam/service-accounts/ID",
       [&] {
         return s.client.patch(sa.base, {{"email", "walk@example.com"}}, s.admin);
       },
       200},
      {"POST .../keys", [&] { return s.client.post(sa.base + "/keys", json::object(), s.admin); },
       201},
      {"GET .../keys", [&] { return s.client.get(user.base + "/keys", s.admin); }, 200},
      {"POST .../keys/K/disable",
       [&] { return s.client.post_empty(user.base + k + "/disable", s.admin); }, 200},
      {"POST .../keys/K/enable",
       [&] { return s.client.post_empty(user.base + k + "/enable", s.admin); }, 200},
      {"GET /iam/settings", [&] { return s.client.get("/iam/settings", s.admin); }, 200},
      {"PATCH /iam/settings",
       [&] {
         return s.client.patch("/iam/settings", {{"lockout_threshold", 1000}}, s.admin);
       },
       200},
      {"GET /iam/audit", [&] { return s.client.get("/iam/audit?limit=3", s.admin); }, 200},
      {"GET /iam/replay/state",
       [&] { return s.client.get("/iam/replay/state?at=" + seq, s.admin); }, 200},
      {"GET /iam/replay/diff",
       [&] { return s.client.get("/iam/replay/diff?from=1&to=" + seq, s.admin); }, 200},
      {"GET /iam/keys/K/timeline",
       [&] { return s.client.get("/iam/keys/" + key.apikey + "/timeline", s.admin); }, 200},
  };
  for (const auto& step : steps) {
    BOOST_TEST_CONTEXT(step.what) {
      const HttpResponse r = step.call();
      BOOST_TEST_REQUIRE(r.status == step.status, r.body.substr(0, 300));
      BOOST_TEST(r.header("content-type").rfind("application/json", 0) == 0,
                 "Content-Type: " << r.header("content-type"));
      BOOST_TEST(json::accept(r.body), r.body.substr(0, 300));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
