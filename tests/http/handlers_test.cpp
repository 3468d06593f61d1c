// Handlers called as plain coroutines, with no server and no socket: login,
// key creation and an audit route, each checked by its response and by what
// it wrote to the log.
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "tests/http/api_fixture.h"

using namespace latchkey;
using namespace latchkey::http;
using nlohmann::json;
using test::ApiFixture;

namespace {

std::optional<std::string> header(const Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

// The newest event of the log.
events::Event last_event(events::EventLog& log) {
  auto e = log.get(log.head().seq);
  BOOST_REQUIRE(e.has_value());
  return *e;
}

json login_body(const std::string& apikey, const std::string& secretkey) {
  return {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(handlers)

BOOST_FIXTURE_TEST_CASE(login_issues_a_durable_token, ApiFixture) {
  const auto before = log().head().seq;
  const Response r =
      call(request("POST", "/iam/login", login_body(admin().apikey, admin().secretkey).dump()));
  BOOST_TEST_REQUIRE(code(r.status) == 200u);
  const json body = json::parse(r.body);
  BOOST_TEST(body.at("token_type").get<std::string>() == "Bearer");
  BOOST_TEST(body.at("expires_in").get<int>() == 3600);
  BOOST_TEST(header(r, "Cache-Control").value_or("") == "no-store");
  BOOST_TEST(r.route == "/iam/login");
  BOOST_TEST(r.principal == admin().principal_id);
  // The token.issued event is in the log by the time the handler returns.
  BOOST_TEST(log().head().seq == before + 1);
  const auto e = last_event(log());
  BOOST_TEST_REQUIRE((e.type == events::EventType::token_issued));
  const auto& issued = std::get<events::TokenIssued>(e.data);
  BOOST_TEST(issued.apikey == admin().apikey);
  BOOST_TEST(e.context.source_ip == "192.0.2.10");
  // The token is a JWT whose jti is the event's.
  const std::string token = body.at("access_token").get<std::string>();
  BOOST_TEST(std::count(token.begin(), token.end(), '.') == 2);
  const Response introspected =
      call(request("POST", "/iam/introspect", json{{"token", token}}.dump(), token));
  BOOST_TEST_REQUIRE(code(introspected.status) == 200u);
  const json info = json::parse(introspected.body);
  BOOST_TEST(info.at("active").get<bool>());
  BOOST_TEST(info.at("jti").get<std::string>() == issued.jti);
}

BOOST_FIXTURE_TEST_CASE(login_refusals_are_one_body_and_change_nothing_when_malformed, ApiFixture) {
  std::string wrong = admin().secretkey;
  wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
  const Response refused =
      call(request("POST", "/iam/login", login_body(admin().apikey, wrong).dump()));
  BOOST_TEST(code(refused.status) == 401u);
  BOOST_TEST(json::parse(refused.body).at("error").get<std::string>() == "invalid_credentials");
  BOOST_TEST(refused.log_note == "malformed");  // the checksum no longer matches
  BOOST_TEST(refused.body.find(admin().secretkey.substr(0, 20)) == std::string::npos);

  const auto before = log().head().seq;
  const Response bad = call(request("POST", "/iam/login", R"({"auth_mode":"apikey"})"));
  BOOST_TEST(code(bad.status) == 400u);
  BOOST_TEST(json::parse(bad.body).at("message").get<std::string>() == "apikey is required");
  const Response extra = call(
      request("POST", "/iam/login",
              R"({"auth_mode":"apikey","apikey":"lk_x","secretkey":"lks_y","remember":true})"));
  BOOST_TEST(code(extra.status) == 400u);
  BOOST_TEST(json::parse(extra.body).at("message").get<std::string>() ==
             "unknown field 'remember'");
  BOOST_TEST(log().head().seq == before);  // a 400 writes nothing
}

BOOST_FIXTURE_TEST_CASE(key_creation_returns_the_secret_once, ApiFixture) {
  const std::string token = admin_token();
  const Response user =
      call(request("POST", "/iam/users", R"({"name":"Ann Lee","email":"ann@example.com"})", token));
  BOOST_TEST_REQUIRE(code(user.status) == 201u);
  const std::string id = json::parse(user.body).at("id").get<std::string>();
  BOOST_TEST(header(user, "Location").value_or("") == "/iam/users/" + id);

  const Response key = call(request("POST", "/iam/users/" + id + "/keys",
                                    R"({"description":"laptop","lifetime_days":30})", token));
  BOOST_TEST_REQUIRE(code(key.status) == 201u);
  const json k = json::parse(key.body);
  const std::string apikey = k.at("apikey").get<std::string>();
  const std::string secret = k.at("secretkey").get<std::string>();
  BOOST_TEST(k.at("status").get<std::string>() == "active");
  BOOST_TEST(k.at("description").get<std::string>() == "laptop");
  BOOST_TEST(header(key, "Cache-Control").value_or("") == "no-store");
  // The event is key.created for that principal, and holds no secret.
  const auto e = last_event(log());
  BOOST_TEST_REQUIRE((e.type == events::EventType::key_created));
  BOOST_TEST(std::get<events::KeyCreated>(e.data).apikey == apikey);
  BOOST_TEST(std::get<events::KeyCreated>(e.data).principal_id == id);
  BOOST_TEST(events::to_json(e).dump().find(secret) == std::string::npos);
  // The listing never shows it again.
  const Response list = call(request("GET", "/iam/users/" + id + "/keys", "", token));
  BOOST_TEST_REQUIRE(code(list.status) == 200u);
  const json items = json::parse(list.body);
  BOOST_TEST_REQUIRE(items.size() == 1u);
  BOOST_TEST(items[0].at("apikey").get<std::string>() == apikey);
  BOOST_TEST(list.body.find(secret) == std::string::npos);
  // And the new pair logs in.
  const Response in = call(request("POST", "/iam/login", login_body(apikey, secret).dump()));
  BOOST_TEST(code(in.status) == 200u);

  // A lifetime over the maximum is a 400 that writes nothing.
  const auto before = log().head().seq;
  const Response too_long =
      call(request("POST", "/iam/users/" + id + "/keys", R"({"lifetime_days":366})", token));
  BOOST_TEST(code(too_long.status) == 400u);
  BOOST_TEST(log().head().seq == before);
  // An auditor-less caller without a token never reaches the handler.
  const Response anonymous = call(request("POST", "/iam/users/" + id + "/keys", "{}"));
  BOOST_TEST(code(anonymous.status) == 401u);
}

BOOST_FIXTURE_TEST_CASE(an_audit_read_is_answered_and_recorded, ApiFixture) {
  const std::string token = admin_token();
  const Response r =
      call(request("GET", "/iam/audit?apikey=" + admin().apikey + "&type=token.issued", "", token));
  BOOST_TEST_REQUIRE(code(r.status) == 200u);
  const json body = json::parse(r.body);
  const auto& evs = body.at("events");
  BOOST_TEST_REQUIRE(evs.size() == 1u);  // the login of admin_token()
  BOOST_TEST(evs[0].at("type").get<std::string>() == "token.issued");
  BOOST_TEST(evs[0].at("data").at("apikey").get<std::string>() == admin().apikey);
  BOOST_TEST(body.at("next").is_null());
  // The read itself is now the newest event, naming its filters and count.
  const auto e = last_event(log());
  BOOST_TEST_REQUIRE((e.type == events::EventType::audit_read));
  const auto& read = std::get<events::AuditRead>(e.data);
  BOOST_TEST(read.route == "audit");
  BOOST_TEST(read.returned == 1u);
  BOOST_TEST(read.filters.find("type=token.issued") != std::string::npos);
  BOOST_TEST(e.context.actor == admin().principal_id);

  const Response bad = call(request("GET", "/iam/audit?limit=0", "", token));
  BOOST_TEST(code(bad.status) == 400u);
  const Response unknown = call(request("GET", "/iam/audit?colour=red", "", token));
  BOOST_TEST(code(unknown.status) == 400u);
}

BOOST_AUTO_TEST_SUITE_END()
