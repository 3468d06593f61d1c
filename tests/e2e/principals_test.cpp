// Users and service accounts: create, read, update, delete, list with
// cursors, search; roles (403 for auditors and role-less principals); the
// last admin (409); unknown routes and resources (404).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <set>

#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

BOOST_AUTO_TEST_SUITE(principals)

BOOST_AUTO_TEST_CASE(user_create_read_update_delete) {
  auto& s = shared();
  const std::string email = unique("crud") + "@example.com";
  const auto created = s.client.post(
      "/iam/users", {{"name", "Ada Lovelace"}, {"email", email}, {"roles", {"reader"}}}, s.admin);
  BOOST_TEST_REQUIRE(created.status == 201, created.body);
  const json u = created.json();
  const std::string id = u.at("id");
  BOOST_TEST(id.rfind("usr_", 0) == 0);
  BOOST_TEST(created.header("location") == "/iam/users/" + id);
  BOOST_TEST(u.at("type") == "user");
  BOOST_TEST(u.at("name") == "Ada Lovelace");
  BOOST_TEST(u.at("email") == email);
  BOOST_TEST(u.at("roles") == json::array({"reader"}));
  BOOST_TEST(u.at("key_count") == 0);

  const auto got = s.client.get("/iam/users/" + id, s.admin);
  BOOST_TEST_REQUIRE(got.status == 200);
  BOOST_TEST(got.json() == u);

  const auto patched =
      s.client.patch("/iam/users/" + id, {{"name", "Ada King"}, {"roles", json::array()}}, s.admin);
  BOOST_TEST_REQUIRE(patched.status == 200, patched.body);
  BOOST_TEST(patched.json().at("name") == "Ada King");
  BOOST_TEST(patched.json().at("email") == email);
  BOOST_TEST(patched.json().at("roles") == json::array());
  BOOST_TEST(s.client.get("/iam/users/" + id, s.admin).json().at("name") == "Ada King");

  const auto deleted = s.client.del("/iam/users/" + id, s.admin);
  BOOST_TEST(deleted.status == 204);
  BOOST_TEST(deleted.body.empty());
  expect_error(s.client.get("/iam/users/" + id, s.admin), 404, "not_found");
  expect_error(s.client.del("/iam/users/" + id, s.admin), 404, "not_found");
  expect_error(s.client.patch("/iam/users/" + id, {{"name", "x"}}, s.admin), 404, "not_found");

  // Each change is an event with the actor and the request id.
  const auto audit = s.client.get("/iam/audit?principal_id=" + id, s.admin);
  BOOST_TEST_REQUIRE(audit.status == 200);
  std::vector<std::string> types;
  const json events = audit.json();
  for (const auto& e : events.at("events")) {
    types.push_back(e.at("type"));
    BOOST_TEST(e.at("actor") == s.server.admin().principal_id);
    BOOST_TEST(!e.at("request_id").get<std::string>().empty());
    BOOST_TEST(e.at("source_ip") == "127.0.0.1");
  }
  BOOST_TEST((types == std::vector<std::string>{"user.created", "user.updated", "user.deleted"}));
}

BOOST_AUTO_TEST_CASE(bad_principal_bodies_are_400_or_415) {
  auto& s = shared();
  const std::vector<json> bad_users = {
      {{"name", "no email"}},
      {{"name", ""}, {"email", "a@example.com"}},
      {{"name", "bad email"}, {"email", "not an address"}},
      {{"name", 7}, {"email", "a@example.com"}},
      {{"name", "bad role"}, {"email", "a@example.com"}, {"roles", {"Admin!"}}},
      {{"name", "roles not list"}, {"email", "a@example.com"}, {"roles", "admin"}},
      {{"name", "extra"}, {"email", "a@example.com"}, {"colour", "red"}},
  };
  for (const auto& b : bad_users) {
    BOOST_TEST_CONTEXT(b.dump()) {
      expect_error(s.client.post("/iam/users", b, s.admin), 400, "invalid_request");
    }
  }
  expect_error(
      s.client.call("POST", "/iam/users", "{\"name\":",
                    {"Content-Type: application/json", "Authorization: Bearer " + s.admin}),
      400, "invalid_request");
  // Users are JSON only; a form is not accepted here.
  expect_error(s.client.post_form("/iam/users", "name=x&email=x%40example.com", s.admin), 415,
               "unsupported_media_type");
  expect_error(s.client.call("POST", "/iam/service-accounts", "{\"name\":\"x\"}",
                             {"Content-Type: text/plain", "Authorization: Bearer " + s.admin}),
               415, "unsupported_media_type");
  const auto sa = s.client.create_service_account(s.admin, unique("sa "));
  expect_error(s.client.patch(sa.base, {{"email", "nope"}}, s.admin), 400, "invalid_request");
  expect_error(s.client.patch(sa.base, {{"unknown", 1}}, s.admin), 400, "invalid_request");
}

BOOST_AUTO_TEST_CASE(service_account_create_read_update_delete) {
  auto& s = shared();
  const auto created =
      s.client.post("/iam/service-accounts", {{"name", unique("etl job ")}}, s.admin);
  BOOST_TEST_REQUIRE(created.status == 201, created.body);
  const json sa = created.json();
  const std::string id = sa.at("id");
  BOOST_TEST(id.rfind("sa_", 0) == 0);
  BOOST_TEST(sa.at("type") == "service_account");
  BOOST_TEST(sa.at("email").is_null());
  BOOST_TEST(created.header("location") == "/iam/service-accounts/" + id);

  const auto patched =
      s.client.patch("/iam/service-accounts/" + id, {{"email", "etl@example.com"}}, s.admin);
  BOOST_TEST_REQUIRE(patched.status == 200, patched.body);
  BOOST_TEST(patched.json().at("email") == "etl@example.com");
  BOOST_TEST(s.client.get("/iam/service-accounts/" + id, s.admin).json().at("email") ==
             "etl@example.com");
  // A service account is not a user, and the other way round.
  expect_error(s.client.get("/iam/users/" + id, s.admin), 404, "not_found");
  expect_error(s.client.del("/iam/users/" + id, s.admin), 404, "not_found");
  const auto user = s.client.create_user(s.admin, unique("person "), unique("p") + "@example.com");
  expect_error(s.client.get("/iam/service-accounts/" + user.id, s.admin), 404, "not_found");

  BOOST_TEST(s.client.del("/iam/service-accounts/" + id, s.admin).status == 204);
  expect_error(s.client.get("/iam/service-accounts/" + id, s.admin), 404, "not_found");

  // Each change is an event of the service_account kind, with the admin as
  // the actor, the request's address, and what changed.
  const auto audit = s.client.get("/iam/audit?principal_id=" + id, s.admin);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json events = audit.json().at("events");
  std::vector<std::string> types;
  for (const auto& e : events) {
    types.push_back(e.at("type"));
    BOOST_TEST(e.at("actor") == s.server.admin().principal_id);
    BOOST_TEST(e.at("source_ip") == "127.0.0.1");
    BOOST_TEST(e.at("data").at("id") == id);
  }
  BOOST_TEST_REQUIRE(
      (types == std::vector<std::string>{"service_account.created", "service_account.updated",
                                         "service_account.deleted"}),
      events.dump());
  BOOST_TEST(events[0].at("data").at("name") == sa.at("name"));
  BOOST_TEST(events[1].at("data").at("email") == "etl@example.com");
  BOOST_TEST(!events[1].at("data").contains("name"), "only what changed: " << events[1].dump());
}

BOOST_AUTO_TEST_CASE(cursor_pagination_returns_every_principal_once) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  std::set<std::string> made;
  for (int i = 0; i < 23; ++i) {
    made.insert(client
                    .create_user(admin, "paged " + std::to_string(i),
                                 "paged" + std::to_string(i) + "@example.com")
                    .id);
  }
  // One is deleted: it must not be listed.
  const std::string gone = *made.begin();
  BOOST_TEST_REQUIRE(client.del("/iam/users/" + gone, admin).status == 204);
  made.erase(gone);

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    const auto r =
        client.get("/iam/users?limit=5" + (cursor.empty() ? "" : "&cursor=" + cursor), admin);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const json page = r.json();
    BOOST_TEST(page.at("items").size() <= 5u);
    for (const auto& p : page["items"]) seen.push_back(p.at("id"));
    ++pages;
    BOOST_TEST_REQUIRE(pages < 20);
    if (page.at("next").is_null()) break;
    cursor = page["next"].get<std::string>();
  }
  BOOST_TEST(pages >= 5);
  BOOST_TEST(seen.size() == made.size());
  BOOST_TEST((std::set<std::string>(seen.begin(), seen.end()) == made));
  // The admin service account is not a user.
  BOOST_TEST((std::find(seen.begin(), seen.end(), server.admin().principal_id) == seen.end()));
  const auto sas = client.get("/iam/service-accounts", admin);
  BOOST_TEST_REQUIRE(sas.status == 200);
  BOOST_TEST(sas.json().at("items").size() == 1u);
  BOOST_TEST(sas.json()["items"][0].at("id") == server.admin().principal_id);

  // Bad parameters.
  for (const char* q :
       {"limit=0", "limit=501", "limit=ten", "cursor=abc", "cursor=-1", "colour=red"}) {
    BOOST_TEST_CONTEXT(q) {
      expect_error(client.get(std::string("/iam/users?") + q, admin), 400, "invalid_request");
    }
  }
}

BOOST_AUTO_TEST_CASE(search_ignores_case_on_name_and_email) {
  auto& s = shared();
  const std::string tag = unique("Zq");
  const auto by_name =
      s.client.create_user(s.admin, "Grace " + tag + " Hopper", "grace@navy.example");
  const auto by_email = s.client.create_user(s.admin, "Someone Else", tag + ".Mail@Example.org");
  const auto neither = s.client.create_user(s.admin, "Nobody", unique("nobody") + "@example.org");

  auto ids = [&](const std::string& search) {
    const auto r = s.client.get("/iam/users?search=" + search + "&limit=500", s.admin);
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    std::set<std::string> out;
    const json page = r.json();
    for (const auto& p : page.at("items")) out.insert(p.at("id"));
    return out;
  };
  std::string upper = tag, lower = tag;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& q : {tag, upper, lower}) {
    BOOST_TEST_CONTEXT(q) {
      const auto found = ids(q);
      BOOST_TEST(found.count(by_name.id) == 1u);
      BOOST_TEST(found.count(by_email.id) == 1u);
      BOOST_TEST(found.count(neither.id) == 0u);
    }
  }
  BOOST_TEST(ids("NAVY.EXAMPLE").count(by_name.id) == 1u);
  BOOST_TEST(ids("hOpPeR").count(by_name.id) == 1u);
  BOOST_TEST(ids(lower + "-no-such-thing").empty());
  // Search applies to service accounts too.
  const auto sa = s.client.create_service_account(s.admin, "Robot " + tag);
  const auto r = s.client.get("/iam/service-accounts?search=robot%20" + lower, s.admin);
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.json().at("items").size() == 1u);
  BOOST_TEST(r.json()["items"][0].at("id") == sa.id);
}

BOOST_AUTO_TEST_CASE(auditors_and_roleless_principals_get_403_on_admin_routes) {
  auto& s = shared();
  const auto auditor_user =
      s.client.create_user(s.admin, unique("auditor "), unique("a") + "@example.com", {"auditor"});
  const auto plain_user =
      s.client.create_user(s.admin, unique("plain "), unique("n") + "@example.com");
  const std::string auditor = s.client.login(s.client.create_key(s.admin, auditor_user));
  const std::string plain = s.client.login(s.client.create_key(s.admin, plain_user));
  const std::string victim_name = unique("victim ");
  const auto victim = s.client.create_user(s.admin, victim_name, unique("v") + "@example.com");
  const Key victim_key = s.client.create_key(s.admin, victim);

  struct Call {
    std::string method, path;
    json body;
  };
  const std::vector<Call> admin_only = {
      {"GET", "/iam/users", {}},
      {"POST", "/iam/users", {{"name", "x"}, {"email", "x@example.com"}}},
      {"GET", victim.base, {}},
      {"PATCH", victim.base, {{"name", "y"}}},
      {"DELETE", victim.base, {}},
      {"GET", "/iam/service-accounts", {}},
      {"POST", "/iam/service-accounts", {{"name", "x"}}},
      {"GET", "/iam/service-accounts/" + s.server.admin().principal_id, {}},
      {"PATCH", "/iam/service-accounts/" + s.server.admin().principal_id, {{"name", "y"}}},
      {"DELETE", "/iam/service-accounts/" + s.server.admin().principal_id, {}},
      {"POST", victim.base + "/keys", json::object()},
      {"GET", victim.base + "/keys", {}},
      {"POST", victim.base + "/keys/" + victim_key.apikey + "/disable", {}},
      {"POST", victim.base + "/keys/" + victim_key.apikey + "/enable", {}},
      {"DELETE", victim.base + "/keys/" + victim_key.apikey, {}},
      {"POST", "/iam/service-accounts/" + s.server.admin().principal_id + "/keys", json::object()},
      {"GET", "/iam/service-accounts/" + s.server.admin().principal_id + "/keys", {}},
      {"POST",
       "/iam/service-accounts/" + s.server.admin().principal_id + "/keys/" +
           s.server.admin().apikey + "/disable",
       {}},
      {"POST",
       "/iam/service-accounts/" + s.server.admin().principal_id + "/keys/" +
           s.server.admin().apikey + "/enable",
       {}},
      {"DELETE",
       "/iam/service-accounts/" + s.server.admin().principal_id + "/keys/" +
           s.server.admin().apikey,
       {}},
      {"PATCH", "/iam/settings", {{"token_lifetime_seconds", 60}}},
      {"POST", "/iam/signing-keys/rotate", {}},
  };
  auto send = [&](const Call& c, const std::string& token) {
    std::vector<std::string> h{"Authorization: Bearer " + token};
    std::string body;
    if (!c.body.is_null()) {
      h.push_back("Content-Type: application/json");
      body = c.body.dump();
    }
    return s.client.call(c.method, c.path, body, h);
  };
  for (const auto& c : admin_only) {
    BOOST_TEST_CONTEXT(c.method << " " << c.path) {
      expect_error(send(c, auditor), 403, "forbidden");
      expect_error(send(c, plain), 403, "forbidden");
    }
  }
  // Nothing above happened: the victim and its key are intact.
  BOOST_TEST(s.client.get(victim.base, s.admin).json().at("name") == victim_name);
  BOOST_TEST(s.client.get(victim.base + "/keys", s.admin).json().at(0).at("status") == "active");
  BOOST_TEST(s.client.login_raw(victim_key.apikey, victim_key.secretkey).status == 200);
  BOOST_TEST(s.client.login_raw(s.server.admin().apikey, s.server.admin().secretkey).status == 200);

  // An auditor reads settings, the audit log and replays, each with its
  // content (a status alone would pass an empty answer); a role-less user
  // does not.
  const std::vector<std::pair<std::string, std::function<bool(const json&)>>> auditor_reads = {
      {"/iam/settings", [](const json& j) { return j.contains("token_lifetime_seconds"); }},
      {"/iam/audit?limit=5", [](const json& j) { return j.at("events").size() == 5u; }},
      {"/iam/replay/state?at=1", [](const json& j) { return j.at("seq") == 1; }},
      {"/iam/replay/diff?from=1&to=2", [](const json& j) { return j.is_object() && !j.empty(); }},
      {"/iam/keys/" + victim_key.apikey + "/timeline",
       [&](const json& j) {
         return j.at("apikey") == victim_key.apikey && !j.at("events").empty() &&
                j["events"][0].at("type") == "key.created";
       }},
  };
  for (const auto& [path, holds] : auditor_reads) {
    BOOST_TEST_CONTEXT(path) {
      const auto r = s.client.get(path, auditor);
      BOOST_TEST_REQUIRE(r.status == 200, r.body);
      BOOST_TEST(holds(r.json()), r.body.substr(0, 300));
      expect_error(s.client.get(path, plain), 403, "forbidden");
    }
  }
  // Both may see themselves.
  BOOST_TEST(s.client.get("/iam/me", auditor).json().at("id") == auditor_user.id);
  BOOST_TEST(s.client.get("/iam/me", plain).json().at("id") == plain_user.id);
}

BOOST_AUTO_TEST_CASE(the_last_admin_cannot_be_deleted_or_demoted) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const std::string base = "/iam/service-accounts/" + server.admin().principal_id;
  expect_error(client.del(base, admin), 409, "conflict");
  expect_error(client.patch(base, {{"roles", {"auditor"}}}, admin), 409, "conflict");
  BOOST_TEST(client.get(base, admin).json().at("roles") == json::array({"admin"}));
  // With a second admin, the first may go.
  const auto second = client.create_user(admin, "second admin", "root@example.com", {"admin"});
  const std::string second_token = client.login(client.create_key(admin, second));
  BOOST_TEST(client.del(base, second_token).status == 204);
  expect_error(client.get(base, second_token), 404, "not_found");
  expect_error(client.del(second.base, second_token), 409, "conflict");
  // The deleted admin's token and key no longer work.
  expect_error(client.get("/iam/me", admin), 401, "unauthorized");
  expect_error(client.login_raw(server.admin().apikey, server.admin().secretkey), 401,
               "invalid_credentials");
}

BOOST_AUTO_TEST_CASE(unknown_routes_and_resources_are_404) {
  auto& s = shared();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/"},
           {"GET", "/nope"},
           {"GET", "/iam"},
           {"GET", "/iam/user"},
           {"PUT", "/iam/users"},
           {"GET", "/iam/login"},
           {"DELETE", "/iam/settings"},
           {"GET", "/iam/users/usr_0000000000000000/keys/lk_000000000000000000000000"},
           {"POST", "/iam/me"}}) {
    BOOST_TEST_CONTEXT(method << " " << path) {
      expect_error(s.client.call(method, path, {}, {"Authorization: Bearer " + s.admin}), 404,
                   "not_found");
    }
  }
  // Unknown routes are 404 without a token too (nothing to authenticate against).
  expect_error(s.client.call("GET", "/iam/nothing-here", {}, {}), 404, "not_found");
  expect_error(s.client.get("/iam/users/usr_0000000000000000", s.admin), 404, "not_found");
  expect_error(s.client.get("/iam/service-accounts/sa_0000000000000000", s.admin), 404,
               "not_found");
  expect_error(s.client.get("/iam/users/usr_0000000000000000/keys", s.admin), 404, "not_found");
  expect_error(s.client.post("/iam/users/usr_0000000000000000/keys", json::object(), s.admin), 404,
               "not_found");
  expect_error(s.client.get("/iam/keys/lk_000000000000000000000000/timeline", s.admin), 404,
               "not_found");
}

// GET .../{id}/export: the principal's record, its keys without secrets and
// every event about it or by it, once each and in log order; the export is
// itself audited; deleted principals can still be exported; unknown ids,
// the wrong kind and non-admins are refused.
BOOST_AUTO_TEST_CASE(a_principal_exports_its_own_data_and_events) {
  auto& s = shared();
  const std::string email = unique("export") + "@example.com";
  const auto user = s.client.create_user(s.admin, "Grace Hopper", email, {"admin"});
  const auto key = s.client.create_key(s.admin, user);
  const std::string token = s.client.login(key);
  // More logins than one page of either index (256), so the merge crosses pages.
  constexpr int kMoreLogins = 300;
  for (int i = 0; i < kMoreLogins; ++i) s.client.login(key);
  // By the user: a key of its own (about it and by it) and another user (by it only).
  const auto own = s.client.post("/iam/me/keys", json::object(), token);
  BOOST_TEST_REQUIRE(own.status == 201, own.body);
  const std::string own_secret = own.json().at("secretkey");
  const auto other = s.client.create_user(token, unique("made by "), unique("o") + "@example.com");
  const auto unrelated =
      s.client.create_user(s.admin, unique("unrelated "), unique("u") + "@example.com");

  const auto r = s.client.get(user.base + "/export", s.admin);
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  const json doc = r.json();
  BOOST_TEST(doc.at("principal").at("id") == user.id);
  BOOST_TEST(doc.at("principal").at("email") == email);
  BOOST_TEST(doc.at("principal").at("deleted") == false);
  std::set<std::string> apikeys;
  for (const auto& k : doc.at("keys")) apikeys.insert(k.at("apikey").get<std::string>());
  BOOST_TEST((apikeys == std::set<std::string>{key.apikey, own.json().at("apikey")}));
  // No secret, in any field.
  BOOST_TEST(r.body.find(key.secretkey) == std::string::npos);
  BOOST_TEST(r.body.find(own_secret) == std::string::npos);
  BOOST_TEST(r.body.find("secretkey") == std::string::npos);

  std::vector<std::string> types;
  std::uint64_t last = 0;
  bool made_other = false;
  for (const auto& e : doc.at("events")) {
    const std::uint64_t seq = e.at("seq");
    BOOST_TEST(seq > last);  // log order, each once
    last = seq;
    types.push_back(e.at("type"));
    const std::string dump = e.dump();
    BOOST_TEST(dump.find(unrelated.id) == std::string::npos);
    if (e.at("type") == "user.created" && e.at("data").at("id") == other.id) {
      made_other = true;
      BOOST_TEST(e.at("actor") == user.id);
    }
  }
  BOOST_TEST(made_other);
  BOOST_TEST(types.front() == "user.created");
  BOOST_TEST(std::count(types.begin(), types.end(), "key.created") == 2);
  BOOST_TEST(std::count(types.begin(), types.end(), "token.issued") == 1 + kMoreLogins);

  // The export is itself on the record, naming whose data was read.
  const auto audit = s.client.get("/iam/audit?type=audit.read&order=desc&limit=20", s.admin);
  BOOST_TEST_REQUIRE(audit.status == 200);
  bool recorded = false;
  const json reads = audit.json();
  for (const auto& e : reads.at("events")) {
    const json& d = e.at("data");
    if (d.at("route").get<std::string>() == "export" &&
        d.at("filters").get<std::string>() == "principal_id=" + user.id)
      recorded = true;
  }
  BOOST_TEST(recorded, audit.body);

  // Deleted, it can still be exported: latchkey still holds its data.
  BOOST_TEST(s.client.del(other.base, s.admin).status == 204);
  const auto gone = s.client.get(other.base + "/export", s.admin);
  BOOST_TEST_REQUIRE(gone.status == 200, gone.body);
  BOOST_TEST(gone.json().at("principal").at("deleted") == true);
  BOOST_TEST(gone.json().at("events").back().at("type") == "user.deleted");

  expect_error(s.client.get("/iam/users/usr_000000000000000000000000/export", s.admin), 404,
               "not_found");
  expect_error(s.client.get("/iam/service-accounts/" + user.id + "/export", s.admin), 404,
               "not_found");
  const auto reader =
      s.client.create_user(s.admin, unique("reader "), unique("r") + "@example.com", {"auditor"});
  const std::string reader_token = s.client.login(s.client.create_key(s.admin, reader));
  expect_error(s.client.get(user.base + "/export", reader_token), 403, "forbidden");
}

BOOST_AUTO_TEST_SUITE_END()
