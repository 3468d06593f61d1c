// Keys that carry their own limits, end to end: allowed networks (IPv4 and
// IPv6, from the socket and through a trusted proxy), a subset of roles, a
// login rate, and bad input that changes nothing.
#include <boost/test/unit_test.hpp>

#include "tests/e2e/e2e.h"

using namespace latchkey::e2e;

namespace {

json login_body(const Key& k) {
  return {{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", k.secretkey}};
}

HttpResponse login_via(const Client& c, const Key& k, std::vector<std::string> headers) {
  headers.push_back("Content-Type: application/json");
  return c.call("POST", "/iam/login", login_body(k).dump(), std::move(headers));
}

// The body of a refused login without its request id: what a caller can compare.
json refusal_body(const HttpResponse& r) {
  json j = r.json();
  j.erase("request_id");
  return j;
}

std::vector<json> audit_of(const Client& c, const std::string& admin, const std::string& apikey,
                           const std::string& type) {
  const auto r = c.get("/iam/audit?limit=1000&apikey=" + apikey + "&type=" + type, admin);
  BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
  return r.json().at("events").get<std::vector<json>>();
}

ServerProcess::Options serve(const std::string& listen, const std::string& trusted) {
  ServerProcess::Options o;
  o.listen = listen;
  if (!trusted.empty()) o.serve_args = {"--set", "server.trusted_proxies=" + trusted};
  return o;
}

// A server of the test's own: counts of failed logins from 127.0.0.1 on the
// shared one would make its login.failed events sparse (see domain/throttle.h).
struct Own {
  ServerProcess server;
  Client client;
  std::string admin;
  explicit Own(ServerProcess::Options o = {}) : server(std::move(o)), client(server) {
    admin = client.admin_token();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(key_limits)

BOOST_AUTO_TEST_CASE(a_pinned_key_logs_in_from_inside_and_fails_from_outside_over_ipv4) {
  Own s;  // no trusted proxies: forwarding headers are ignored
  const auto user = s.client.create_user(s.admin, unique("Pinned"), unique("p") + "@example.com");
  const Key inside = s.client.create_key(s.admin, user, {{"allowed_cidrs", {"127.0.0.1/32"}}});
  BOOST_TEST(inside.body.at("allowed_cidrs") == json({"127.0.0.1/32"}));
  const Key outside = s.client.create_key(s.admin, user, {{"allowed_cidrs", {"10.0.0.0/8"}}});

  BOOST_TEST(login_via(s.client, inside, {}).status == 200);
  // An untrusted X-Forwarded-For is ignored either way.
  BOOST_TEST(login_via(s.client, inside, {"X-Forwarded-For: 203.0.113.7"}).status == 200);
  const auto refused = login_via(s.client, outside, {"X-Forwarded-For: 10.1.1.1"});
  expect_error(refused, 401, "invalid_credentials");
  // Exactly the body of a wrong secret: no oracle.
  Key wrong = outside;
  wrong.secretkey = inside.secretkey;
  const auto wrong_secret = login_via(s.client, wrong, {});
  expect_error(wrong_secret, 401, "invalid_credentials");
  BOOST_TEST(refusal_body(refused) == refusal_body(wrong_secret));

  const auto failed = audit_of(s.client, s.admin, outside.apikey, "login.failed");
  BOOST_TEST_REQUIRE(failed.size() == 2u);
  BOOST_TEST(failed[0].at("data").at("reason") == "source_not_allowed");
  BOOST_TEST(failed[0].at("source_ip") == "127.0.0.1");
  BOOST_TEST(failed[1].at("data").at("reason") == "wrong_secret");
}

BOOST_AUTO_TEST_CASE(ipv6_from_the_socket_and_both_families_through_a_trusted_proxy) {
  ServerProcess server(serve("[::1]:0", "::1/128"));
  Client c(server);
  const std::string admin = c.admin_token();
  const auto sa = c.create_service_account(admin, unique("ci"));
  const Key loopback = c.create_key(admin, sa, {{"allowed_cidrs", {"::1"}}});
  BOOST_TEST(loopback.body.at("allowed_cidrs") == json({"::1/128"}));
  const Key doc6 = c.create_key(admin, sa, {{"allowed_cidrs", {"2001:db8::/32"}}});
  const Key doc4 = c.create_key(admin, sa, {{"allowed_cidrs", {"192.0.2.0/24"}}});

  // From the socket (::1), no header.
  BOOST_TEST(login_via(c, loopback, {}).status == 200);
  expect_error(login_via(c, doc6, {}), 401, "invalid_credentials");
  // Through the trusted proxy (::1): the client named by the header.
  BOOST_TEST(login_via(c, doc6, {"X-Forwarded-For: 2001:db8::5"}).status == 200);
  BOOST_TEST(login_via(c, doc4, {"Forwarded: for=192.0.2.9;proto=https"}).status == 200);
  BOOST_TEST(login_via(c, doc4, {"X-Forwarded-For: 192.0.2.10, ::1"}).status == 200);
  const auto refused = login_via(c, loopback, {"X-Forwarded-For: 203.0.113.7"});
  expect_error(refused, 401, "invalid_credentials");
  expect_error(login_via(c, doc6, {R"(Forwarded: for="[2001:db9::1]:443")"}), 401,
               "invalid_credentials");

  const auto failed = audit_of(c, admin, loopback.apikey, "login.failed");
  BOOST_TEST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0].at("data").at("reason") == "source_not_allowed");
  BOOST_TEST(failed[0].at("source_ip") == "203.0.113.7");
  const auto issued = audit_of(c, admin, doc6.apikey, "token.issued");
  BOOST_TEST_REQUIRE(issued.size() == 1u);
  BOOST_TEST(issued[0].at("source_ip") == "2001:db8::5");
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(a_trusted_proxy_on_ipv4_names_the_client) {
  ServerProcess server(serve("127.0.0.1:0", "127.0.0.1/32"));
  Client c(server);
  const std::string admin = c.admin_token();
  const auto sa = c.create_service_account(admin, unique("ci"));
  const Key pinned = c.create_key(admin, sa, {{"allowed_cidrs", {"127.0.0.1/32"}}});
  BOOST_TEST(login_via(c, pinned, {}).status == 200);
  expect_error(login_via(c, pinned, {"X-Forwarded-For: 203.0.113.7"}), 401, "invalid_credentials");
  // The proxy itself is not the client, however the header is spelt.
  expect_error(login_via(c, pinned, {"X-Forwarded-For: 203.0.113.7, 127.0.0.1"}), 401,
               "invalid_credentials");
  BOOST_TEST(server.stop() == 0);
  // The access log names the client beside the peer.
  BOOST_TEST(server.stdout_text().find(R"("client_ip":"203.0.113.7")") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_key_limited_to_auditor_reads_the_audit_but_cannot_create_users) {
  auto& s = shared();
  const auto owner = s.client.create_user(s.admin, unique("Both"), unique("b") + "@example.com",
                                          {"admin", "auditor"});
  const Key k = s.client.create_key(s.admin, owner, {{"roles", {"auditor"}}});
  BOOST_TEST(k.body.at("roles") == json({"auditor"}));
  const std::string token = s.client.login(k);
  BOOST_TEST(jwt_part(token, 1).at("roles") == json({"auditor"}));
  BOOST_TEST(s.client.introspect(s.admin, token).at("roles") == json({"auditor"}));
  BOOST_TEST(s.client.get("/iam/audit?limit=1", token).status == 200);
  expect_error(s.client.post("/iam/users", {{"name", "X"}, {"email", "x@example.com"}}, token), 403,
               "forbidden");
  // Nor make itself a key without the limit.
  expect_error(s.client.post("/iam/me/keys", json::object(), token), 403, "forbidden");
  expect_error(s.client.patch("/iam/me/keys/" + k.apikey, {{"roles", json::array()}}, token), 403,
               "forbidden");
  // The owner's own unlimited key is an admin.
  const Key full = s.client.create_key(s.admin, owner);
  const std::string full_token = s.client.login(full);
  BOOST_TEST(jwt_part(full_token, 1).at("roles") == json({"admin", "auditor"}));

  // The owner loses auditor: the key's next token carries no role, and the
  // token it holds already reads no more.
  BOOST_TEST(s.client.patch(owner.base, {{"roles", {"admin"}}}, s.admin).status == 200);
  expect_error(s.client.get("/iam/audit?limit=1", token), 403, "forbidden");
  const std::string after = s.client.login(k);
  BOOST_TEST(jwt_part(after, 1).at("roles") == json::array());
}

BOOST_AUTO_TEST_CASE(a_key_over_its_rate_gets_429_with_retry_after) {
  auto& s = shared();
  const auto sa = s.client.create_service_account(s.admin, unique("rate"));
  const Key k = s.client.create_key(s.admin, sa, {{"rate_per_minute", 2}});
  BOOST_TEST(k.body.at("rate_per_minute") == 2);
  BOOST_TEST(s.client.login_raw(k.apikey, k.secretkey).status == 200);
  BOOST_TEST(s.client.login_raw(k.apikey, k.secretkey).status == 200);
  const auto limited = s.client.login_raw(k.apikey, k.secretkey);
  expect_error(limited, 429, "too_many_requests");
  const int retry = std::stoi(limited.header("retry-after"));
  BOOST_TEST(retry >= 1);
  BOOST_TEST(retry <= 30);
  const auto failed = audit_of(s.client, s.admin, k.apikey, "login.failed");
  BOOST_TEST_REQUIRE(failed.size() == 1u);
  BOOST_TEST(failed[0].at("data").at("reason") == "rate_limited");
  // A wrong secret is still a wrong secret, not a rate.
  expect_error(s.client.login_raw(k.apikey, "lks_" + std::string(72, '0')), 401,
               "invalid_credentials");
}

BOOST_AUTO_TEST_CASE(limits_are_changed_with_patch_and_bad_input_changes_nothing) {
  Own s;
  const auto owner =
      s.client.create_user(s.admin, unique("Limits"), unique("l") + "@example.com", {"auditor"});
  const Key k = s.client.create_key(s.admin, owner, {{"description", "laptop"}});
  BOOST_TEST(k.body.at("allowed_cidrs") == json::array());
  BOOST_TEST(k.body.at("roles") == json::array());
  BOOST_TEST(k.body.at("rate_per_minute") == 0);
  const auto keys_before = s.client.get(owner.base + "/keys", s.admin).json();

  json many = json::array();
  for (int i = 0; i < 51; ++i) many.push_back("10.0." + std::to_string(i) + ".0/24");
  const std::vector<json> bad = {
      {{"allowed_cidrs", {"10.0.0.0/8", "10.0.0.300/8"}}},
      {{"allowed_cidrs", many}},
      {{"roles", {"admin"}}},
      {{"rate_per_minute", -1}},
      {{"allowed_cidrs", "10.0.0.0/8"}},  // not a list
  };
  for (const auto& body : bad) {
    BOOST_TEST_CONTEXT(body.dump()) {
      expect_error(s.client.post(owner.base + "/keys", body, s.admin), 400, "invalid_request");
      json patch = body;
      patch["description"] = "changed";
      expect_error(s.client.patch(owner.base + "/keys/" + k.apikey, patch, s.admin), 400,
                   "invalid_request");
    }
  }
  BOOST_TEST(s.client.get(owner.base + "/keys", s.admin).json() == keys_before);
  BOOST_TEST(audit_of(s.client, s.admin, k.apikey, "key.updated").empty());

  const auto ok = s.client.patch(owner.base + "/keys/" + k.apikey,
                                 {{"allowed_cidrs", {"192.0.2.1/24", "2001:db8::/48"}},
                                  {"roles", {"auditor"}},
                                  {"rate_per_minute", 60}},
                                 s.admin);
  BOOST_TEST_REQUIRE(ok.status == 200, ok.body);
  BOOST_TEST(ok.json().at("allowed_cidrs") == json({"192.0.2.0/24", "2001:db8::/48"}));
  BOOST_TEST(ok.json().at("description") == "laptop");
  const auto listed = s.client.get(owner.base + "/keys", s.admin).json();
  BOOST_TEST(listed.at(0).at("rate_per_minute") == 60);
  // Now outside its networks.
  expect_error(s.client.login_raw(k.apikey, k.secretkey), 401, "invalid_credentials");

  const auto timeline = s.client.get("/iam/keys/" + k.apikey + "/timeline", s.admin);
  BOOST_TEST_REQUIRE(timeline.status == 200, timeline.body);
  bool updated = false, blocked = false;
  const json events = timeline.json().at("events");
  for (const auto& e : events) {
    if (e.at("type") == "key.updated") {
      updated = true;
      BOOST_TEST(e.at("data").at("old_allowed_cidrs") == json::array());
      BOOST_TEST(e.at("data").at("rate_per_minute") == 60);
      BOOST_TEST(!e.at("data").contains("description"));  // unchanged: left out
    }
    if (e.at("type") == "login.failed" && e.at("data").at("reason") == "source_not_allowed")
      blocked = true;
  }
  BOOST_TEST(updated);
  BOOST_TEST(blocked);
  // Another principal's key: not found; a deleted one too.
  const auto other = s.client.create_user(s.admin, unique("Other"), unique("o") + "@example.com");
  expect_error(s.client.patch(other.base + "/keys/" + k.apikey, {{"rate_per_minute", 1}}, s.admin),
               404, "not_found");
  BOOST_TEST(s.client.del(owner.base + "/keys/" + k.apikey, s.admin).status == 204);
  expect_error(s.client.patch(owner.base + "/keys/" + k.apikey, {{"rate_per_minute", 1}}, s.admin),
               404, "not_found");
}

BOOST_AUTO_TEST_SUITE_END()
