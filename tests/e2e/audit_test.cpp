// GET /iam/audit (pages, filters, ndjson), /iam/replay/state, /iam/replay/diff
// and /iam/keys/{apikey}/timeline.
#include <boost/test/unit_test.hpp>

#include <set>
#include <sstream>

#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

BOOST_AUTO_TEST_SUITE(audit)

BOOST_AUTO_TEST_CASE(audit_pages_filters_and_ndjson_stream) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const auto user = client.create_user(admin, "audited", "audited@example.com");
  std::vector<std::string> apikeys;
  for (int i = 0; i < 5; ++i) apikeys.push_back(client.create_key(admin, user).apikey);

  // Pages of two, following `next`, give the five key.created events in order.
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0;; ++pages) {
    BOOST_TEST_REQUIRE(pages < 10);
    const auto r = client.get("/iam/audit?type=key.created&principal_id=" + user.id + "&limit=2" +
                                  (after.empty() ? "" : "&after=" + after),
                              admin);
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    const json page = r.json();
    for (const auto& e : page.at("events")) {
      BOOST_TEST(e.at("type") == "key.created");
      for (const char* f : {"seq", "time", "version", "actor", "request_id", "source_ip", "data",
                            "prev_hash", "hash"}) {
        BOOST_TEST(e.contains(f), f);
      }
      seen.push_back(e.at("data").at("apikey"));
    }
    if (r.json().at("next").is_null()) break;
    after = r.json()["next"].get<std::string>();
  }
  BOOST_TEST(seen == apikeys);

  // Newest first.
  const auto desc = client.get("/iam/audit?type=key.created&order=desc&limit=1", admin);
  BOOST_TEST_REQUIRE(desc.status == 200);
  BOOST_TEST(desc.json().at("events")[0].at("data").at("apikey") == apikeys.back());

  // Time range: nothing before the log began.
  const auto early = client.get("/iam/audit?to=2000-01-01T00:00:00Z", admin);
  BOOST_TEST(early.json().at("events").empty());
  // actor filter.
  const auto by_admin =
      client.get("/iam/audit?actor=" + server.admin().principal_id + "&limit=1000", admin);
  BOOST_TEST_REQUIRE(by_admin.status == 200);
  const json by_admin_page = by_admin.json();
  // The admin made the user and its five keys (and read the audit log):
  // those at least, and nothing by anyone else.
  BOOST_TEST_REQUIRE(by_admin_page.at("events").size() >= 6u);
  for (const auto& e : by_admin_page.at("events"))
    BOOST_TEST(e.at("actor") == server.admin().principal_id);
  const auto by_nobody = client.get("/iam/audit?actor=usr_0000000000000000", admin);
  BOOST_TEST_REQUIRE(by_nobody.status == 200, by_nobody.body);
  BOOST_TEST(by_nobody.json().at("events").empty());

  // ndjson: the whole log, one event per line, dense sequence numbers.
  const auto nd = client.call("GET", "/iam/audit", {},
                              {"Authorization: Bearer " + admin, "Accept: application/x-ndjson"});
  BOOST_TEST_REQUIRE(nd.status == 200);
  BOOST_TEST(nd.header("content-type").find("application/x-ndjson") == 0);
  std::istringstream lines(nd.body);
  std::string line;
  std::uint64_t expect_seq = 1;
  while (std::getline(lines, line)) {
    const json e = json::parse(line);
    BOOST_TEST(e.at("seq").get<std::uint64_t>() == expect_seq);
    ++expect_seq;
  }
  BOOST_TEST(expect_seq > 10u);

  // Every read is itself recorded.
  const auto reads = client.get("/iam/audit?type=audit.read&limit=1000", admin);
  BOOST_TEST(reads.json().at("events").size() >= 6u);

  // Bad filters.
  for (const char* q : {"type=no.such", "limit=0", "limit=1001", "from=yesterday", "after=x",
                        "order=sideways", "colour=red", "before=5"}) {
    BOOST_TEST_CONTEXT(q) {
      expect_error(client.get(std::string("/iam/audit?") + q, admin), 400, "invalid_request");
    }
  }
}

BOOST_AUTO_TEST_CASE(replay_state_diff_and_timeline) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const auto head = [&] { return client.get("/readyz", "").json().at("seq").get<std::uint64_t>(); };
  const auto user = client.create_user(admin, "replayed", "replayed@example.com");
  const Key key = client.create_key(admin, user);
  const std::uint64_t created = head();
  client.login(key);
  BOOST_TEST_REQUIRE(
      client.post_empty(user.base + "/keys/" + key.apikey + "/disable", admin).status == 200);
  const std::uint64_t disabled = head();

  auto key_status = [&](const json& state) {
    for (const auto& k : state.at("keys")) {
      if (k.at("apikey") == key.apikey) return k.at("status").get<std::string>();
    }
    return std::string("absent");
  };
  const auto then = client.get("/iam/replay/state?at=" + std::to_string(created), admin);
  BOOST_TEST_REQUIRE(then.status == 200, then.body);
  BOOST_TEST(then.json().at("seq") == created);
  BOOST_TEST(key_status(then.json()) == "active");
  const auto now = client.get("/iam/replay/state?at=" + std::to_string(disabled), admin);
  BOOST_TEST(key_status(now.json()) == "disabled");
  const auto before = client.get("/iam/replay/state?at=1", admin);
  BOOST_TEST(key_status(before.json()) == "absent");
  // An RFC 3339 instant works too: one in the future is the state now.
  const auto by_time = client.get("/iam/replay/state?at=2100-01-01T00:00:00Z", admin);
  BOOST_TEST_REQUIRE(by_time.status == 200, by_time.body);
  BOOST_TEST(key_status(by_time.json()) == "disabled");
  BOOST_TEST(by_time.json().at("seq").get<std::uint64_t>() >= disabled);
  for (const char* q : {"", "?at=", "?at=yesterday", "?at=1&x=2", "?when=1"}) {
    BOOST_TEST_CONTEXT(q) {
      expect_error(client.get(std::string("/iam/replay/state") + q, admin), 400, "invalid_request");
    }
  }

  const auto diff = client.get(
      "/iam/replay/diff?from=" + std::to_string(created - 1) + "&to=" + std::to_string(disabled),
      admin);
  BOOST_TEST_REQUIRE(diff.status == 200, diff.body);
  BOOST_TEST(diff.json().at("tokens_issued").at("total") == 1);
  BOOST_TEST(diff.json().at("keys").dump().find(key.apikey) != std::string::npos);
  for (const char* q : {"", "?from=1", "?from=5&to=2", "?from=a&to=b"}) {
    BOOST_TEST_CONTEXT(q) {
      expect_error(client.get(std::string("/iam/replay/diff") + q, admin), 400, "invalid_request");
    }
  }

  const auto tl = client.get("/iam/keys/" + key.apikey + "/timeline", admin);
  BOOST_TEST_REQUIRE(tl.status == 200, tl.body);
  BOOST_TEST(tl.json().at("apikey") == key.apikey);
  std::vector<std::string> types;
  const json timeline = tl.json();
  for (const auto& e : timeline.at("events")) types.push_back(e.at("type"));
  BOOST_TEST((types == std::vector<std::string>{"key.created", "token.issued", "key.disabled"}));
  const auto tl_page = client.get("/iam/keys/" + key.apikey + "/timeline?limit=1", admin);
  BOOST_TEST(tl_page.json().at("events").size() == 1u);
  BOOST_TEST(!tl_page.json().at("next").is_null());
  expect_error(client.get("/iam/keys/" + key.apikey + "/timeline?type=x", admin), 400,
               "invalid_request");
  expect_error(client.get("/iam/keys/lk_ffffffffffffffffffffffff/timeline", admin), 404,
               "not_found");
}

BOOST_AUTO_TEST_SUITE_END()
