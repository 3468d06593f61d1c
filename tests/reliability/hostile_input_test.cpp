// The hostile input catalogue: requests a well-behaved client never sends,
// each with the status the contract gives it, sent over raw TCP to a real
// server. While each is in flight, another connection's GET /healthz must
// still be answered: no input stalls or kills the server for others.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>

#include "tests/reliability/helpers.h"
#include "tests/reliability/raw_http.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"

using namespace latchkey;
using namespace latchkey::test;
using namespace std::chrono_literals;

namespace {

constexpr int kMaxBody = 16384;
constexpr int kReadTimeoutMs = 1500;
// How long an answer (or a closed connection) may take before the test calls
// it missing. Generous, as the suite runs under sanitizers on busy machines;
// an answer that comes returns at once.
constexpr auto kAnswerDeadline = 60s;

// What the cases refer to on the server under test.
struct Ctx {
  std::string token;  // admin
  std::string user_id;
  std::string sa_id;
  std::string apikey;  // of the service account
  std::string auth() const { return "Authorization: Bearer " + token; }
};

struct Case {
  std::string name;
  std::function<std::string(const Ctx&)> request;  // the bytes sent
  int status;               // expected status; 0: the connection closes without a response
  std::string error;        // expected "error" of the body ("" for a success)
  bool half_close = false;  // shut down our sending side after the bytes
};

const std::string kJson = "Content-Type: application/json";
const std::string kForm = "Content-Type: application/x-www-form-urlencoded";
const std::string kLogin =
    R"({"auth_mode":"apikey","apikey":"lk_000000000000000000000000","secretkey":"lks_x"})";

std::string login(const std::string& body, const std::string& content_type = kJson) {
  return raw_request(
      "POST", "/iam/login",
      content_type.empty() ? std::vector<std::string>{} : std::vector<std::string>{content_type},
      body);
}
std::string admin_post(const Ctx& c, const std::string& target, const std::string& body) {
  return raw_request("POST", target, {c.auth(), kJson}, body);
}
std::string admin_get(const Ctx& c, const std::string& target) {
  return raw_request("GET", target, {c.auth()});
}
std::string nested(int depth) {
  return R"({"name":)" + std::string(static_cast<std::size_t>(depth), '[') + "1" +
         std::string(static_cast<std::size_t>(depth), ']') + "}";
}
std::string user_body(const std::string& name) {
  return R"({"name":")" + name + R"(","email":"ann@example.com"})";
}

std::vector<Case> catalogue() {
  std::vector<Case> c;
  auto add = [&](std::string name, std::function<std::string(const Ctx&)> req, int status,
                 std::string error, bool half_close = false) {
    c.push_back(Case{std::move(name), std::move(req), status, std::move(error), half_close});
  };
  const std::string bad = "invalid_request";
  // ---- malformed and truncated JSON ----
  add(
      "malformed JSON", [](const Ctx&) { return login(R"({"auth_mode": "apikey", "apikey": )"); },
      400, bad);
  add(
      "truncated JSON", [](const Ctx&) { return login(kLogin.substr(0, kLogin.size() / 2)); }, 400,
      bad);
  add(
      "JSON with trailing garbage", [](const Ctx&) { return login(kLogin + "x"); }, 400, bad);
  add(
      "two JSON documents", [](const Ctx&) { return login(kLogin + kLogin); }, 400, bad);
  add(
      "JSON array", [](const Ctx&) { return login("[]"); }, 400, bad);
  add(
      "JSON string", [](const Ctx&) { return login(R"("apikey")"); }, 400, bad);
  add(
      "JSON null", [](const Ctx&) { return login("null"); }, 400, bad);
  add(
      "empty JSON body", [](const Ctx&) { return login(""); }, 400, bad);
  add(
      "JSON with a comment", [](const Ctx&) { return login("/* hi */" + kLogin); }, 400, bad);
  add(
      "NaN literal", [](const Ctx&) { return login(R"({"auth_mode":NaN})"); }, 400, bad);
  add(
      "single quotes", [](const Ctx&) { return login("{'auth_mode':'apikey'}"); }, 400, bad);
  add(
      "a wrong-typed field",
      [](const Ctx&) { return login(R"({"auth_mode":"apikey","apikey":123,"secretkey":"x"})"); },
      400, bad);
  add(
      "an unknown field",
      [](const Ctx&) {
        return login(R"({"auth_mode":"apikey","apikey":"a","secretkey":"b","admin":true})");
      },
      400, bad);
  add(
      "a missing field", [](const Ctx&) { return login(R"({"auth_mode":"apikey"})"); }, 400, bad);
  add(
      "truncated body, then end of stream",
      [](const Ctx&) {
        return "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
               "\r\nContent-Length: 200\r\n\r\n{\"auth_mode\":";
      },
      400, bad, true);
  // ---- content types ----
  add(
      "text/plain", [](const Ctx&) { return login(kLogin, "Content-Type: text/plain"); }, 415,
      "unsupported_media_type");
  add(
      "application/xml", [](const Ctx&) { return login(kLogin, "Content-Type: application/xml"); },
      415, "unsupported_media_type");
  add(
      "multipart/form-data",
      [](const Ctx&) { return login(kLogin, "Content-Type: multipart/form-data; boundary=x"); },
      415, "unsupported_media_type");
  add(
      "a JSON look-alike type",
      [](const Ctx&) { return login(kLogin, "Content-Type: application/json-patch+json"); }, 415,
      "unsupported_media_type");
  add(
      "no content type", [](const Ctx&) { return login(kLogin, ""); }, 415,
      "unsupported_media_type");
  add(
      "a form where only JSON is accepted",
      [](const Ctx& x) {
        return raw_request("POST", "/iam/users", {x.auth(), kForm}, "name=a&email=a%40b.c");
      },
      415, "unsupported_media_type");
  add(
      "JSON with a charset parameter (accepted)",
      [](const Ctx&) { return login(kLogin, "Content-Type: application/json; charset=utf-8"); },
      401, "invalid_credentials");
  add(
      "an upper-case media type (accepted)",
      [](const Ctx&) { return login(kLogin, "Content-Type: APPLICATION/JSON"); }, 401,
      "invalid_credentials");
  // ---- bodies over the limit ----
  add(
      "body over the limit",
      [](const Ctx&) { return login(std::string(kMaxBody + 1, ' ') + kLogin); }, 413,
      "payload_too_large");
  add(
      "chunked body over the limit",
      [](const Ctx&) {
        std::string r = "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 5; ++i) r += "1000\r\n" + std::string(0x1000, ' ') + "\r\n";
        return r + "0\r\n\r\n";
      },
      413, "payload_too_large");
  add(
      "a Content-Length of 10 GB",
      [](const Ctx&) {
        return "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
               "\r\nContent-Length: 10000000000\r\n\r\n{";
      },
      413, "payload_too_large");
  add(
      "100-continue for a body over the limit",
      [](const Ctx&) {
        return "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
               "\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n";
      },
      413, "payload_too_large");
  // ---- deep nesting and huge numbers ----
  add(
      "JSON nested 33 deep", [](const Ctx& x) { return admin_post(x, "/iam/users", nested(33)); },
      400, bad);
  add(
      "JSON nested 8000 deep",
      [](const Ctx& x) { return admin_post(x, "/iam/users", nested(8000)); }, 400, bad);
  add(
      "JSON objects nested 2500 deep",
      [](const Ctx&) {
        std::string b;
        for (int i = 0; i < 2500; ++i) b += R"({"a":)";
        return login(b + "1" + std::string(2500, '}'));
      },
      400, bad);
  add(
      "a number too big for a double",
      [](const Ctx&) { return login(R"({"auth_mode":1e400,"apikey":"a","secretkey":"b"})"); }, 400,
      bad);
  add(
      "a huge integer lifetime",
      [](const Ctx& x) {
        return admin_post(x, "/iam/service-accounts/" + x.sa_id + "/keys",
                          R"({"lifetime_days":99999999999999999999999999})");
      },
      400, bad);
  add(
      "a lifetime of 1e400",
      [](const Ctx& x) {
        return admin_post(x, "/iam/service-accounts/" + x.sa_id + "/keys",
                          R"({"lifetime_days":1e400})");
      },
      400, bad);
  add(
      "a negative lifetime",
      [](const Ctx& x) {
        return admin_post(x, "/iam/service-accounts/" + x.sa_id + "/keys",
                          R"({"lifetime_days":-1})");
      },
      400, bad);
  add(
      "a fractional lifetime",
      [](const Ctx& x) {
        return admin_post(x, "/iam/service-accounts/" + x.sa_id + "/keys",
                          R"({"lifetime_days":1.5})");
      },
      400, bad);
  add(
      "a setting of 2^64",
      [](const Ctx& x) {
        return raw_request("PATCH", "/iam/settings", {x.auth(), kJson},
                           R"({"token_lifetime_seconds":18446744073709551616})");
      },
      400, bad);
  add(
      "a setting of -2^63",
      [](const Ctx& x) {
        return raw_request("PATCH", "/iam/settings", {x.auth(), kJson},
                           R"({"token_lifetime_seconds":-9223372036854775808})");
      },
      400, bad);
  add(
      "a setting as a float",
      [](const Ctx& x) {
        return raw_request("PATCH", "/iam/settings", {x.auth(), kJson},
                           R"({"token_lifetime_seconds":3600.0})");
      },
      400, bad);
  // ---- UTF-8, control characters, long names ----
  add(
      "invalid UTF-8 in a JSON string",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("\xff\xfe")); }, 400, bad);
  add(
      "an overlong UTF-8 encoding",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("\xc0\xaf")); }, 400, bad);
  add(
      "a lone surrogate escape",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("\\ud800")); }, 400, bad);
  add(
      "invalid UTF-8 in a form",
      [](const Ctx&) { return login("auth_mode=apikey&apikey=%ff&secretkey=x", kForm); }, 400, bad);
  add(
      "a raw control character in JSON",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("a\x01z")); }, 400, bad);
  add(
      "an escaped control character in a name",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("a\\u0001z")); }, 400, bad);
  add(
      "an escaped NUL in a name",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("a\\u0000z")); }, 400, bad);
  add(
      "a newline in a name",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body("a\\nb")); }, 400, bad);
  add(
      "a name of 201 bytes",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body(std::string(201, 'n'))); },
      400, bad);
  add(
      "a name of 10,000 bytes",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body(std::string(10000, 'n'))); },
      400, bad);
  add(
      "a name of 200 bytes (accepted)",
      [](const Ctx& x) { return admin_post(x, "/iam/users", user_body(std::string(200, 'n'))); },
      201, "");
  add(
      "an email of 300 bytes",
      [](const Ctx& x) {
        return admin_post(x, "/iam/users",
                          R"({"name":"a","email":")" + std::string(290, 'e') + R"(@example.com"})");
      },
      400, bad);
  add(
      "a thousand roles",
      [](const Ctx& x) {
        std::string roles;
        for (int i = 0; i < 1000; ++i) roles += (i ? ",\"r" : "\"r") + std::to_string(i) + "\"";
        return admin_post(x, "/iam/service-accounts", R"({"name":"a","roles":[)" + roles + "]}");
      },
      400, bad);
  add(
      "a very long apikey at login",
      [](const Ctx&) {
        return login(R"({"auth_mode":"apikey","apikey":")" + std::string(5000, 'k') +
                     R"(","secretkey":"x"})");
      },
      401, "invalid_credentials");
  add(
      "a secretkey in place of the apikey",
      [](const Ctx&) {
        return login(R"({"auth_mode":"apikey","apikey":"lks_)" + std::string(72, 'a') +
                     R"(","secretkey":"lk_000000000000000000000000"})");
      },
      401, "invalid_credentials");
  // ---- duplicate keys ----
  add(
      "a duplicate JSON key",
      [](const Ctx&) {
        return login(R"({"auth_mode":"apikey","apikey":"a","apikey":"b","secretkey":"c"})");
      },
      400, bad);
  add(
      "a duplicate key in a nested object",
      [](const Ctx& x) {
        return admin_post(x, "/iam/users",
                          R"({"name":"a","email":"a@b.c","roles":[],"x":{"k":1,"k":2}})");
      },
      400, bad);
  add(
      "a duplicate form key",
      [](const Ctx&) { return login("auth_mode=apikey&apikey=a&apikey=b&secretkey=c", kForm); },
      400, bad);
  add(
      "a duplicate query parameter",
      [](const Ctx& x) { return admin_get(x, "/iam/users?limit=1&limit=2"); }, 400, bad);
  // ---- ids with path tricks ----
  add(
      "../ in a path", [](const Ctx& x) { return admin_get(x, "/iam/users/../users"); }, 404,
      "not_found");
  add(
      "%2e%2e as an id", [](const Ctx& x) { return admin_get(x, "/iam/users/%2e%2e"); }, 404,
      "not_found");
  add(
      "..%2f..%2fpepper as an id",
      [](const Ctx& x) { return admin_get(x, "/iam/users/..%2f..%2fpepper"); }, 404, "not_found");
  add(
      "%2e%2e%2f to another route",
      [](const Ctx& x) { return admin_get(x, "/iam/users/%2e%2e%2f%2e%2e%2fsettings"); }, 404,
      "not_found");
  add(
      "an encoded slash in an apikey",
      [](const Ctx& x) { return admin_get(x, "/iam/keys/..%2F..%2Fpepper/timeline"); }, 404,
      "not_found");
  add(
      "a NUL in an id",
      [](const Ctx& x) { return admin_get(x, "/iam/users/" + x.user_id + "%00"); }, 400, bad);
  add(
      "a NUL before a suffix",
      [](const Ctx& x) { return admin_get(x, "/iam/users/" + x.user_id + "%00/keys"); }, 400, bad);
  add(
      "a malformed percent-encoding", [](const Ctx& x) { return admin_get(x, "/iam/users/%zz"); },
      400, bad);
  add(
      "invalid UTF-8 in a path", [](const Ctx&) { return raw_request("GET", "/%ff%fe"); }, 404,
      "not_found");
  add(
      "invalid UTF-8 in an apikey",
      [](const Ctx& x) { return admin_get(x, "/iam/keys/lk_%ff/timeline"); }, 404, "not_found");
  add(
      "invalid UTF-8 in a query parameter name",
      [](const Ctx& x) { return admin_get(x, "/iam/keys/" + x.apikey + "/timeline?%ff=1"); }, 400,
      bad);
  add(
      "invalid UTF-8 in a search (no match)",
      [](const Ctx& x) { return admin_get(x, "/iam/users?search=%ff"); }, 200, "");
  add(
      "deleting a key through a path trick",
      [](const Ctx& x) {
        return raw_request("DELETE",
                           "/iam/service-accounts/" + x.sa_id + "/keys/" + x.apikey + "%2f..",
                           {x.auth()});
      },
      404, "not_found");
  add(
      "an absolute-form target",
      [](const Ctx& x) { return raw_request("GET", "http://evil.example/iam/users", {x.auth()}); },
      400, bad);
  add(
      "an asterisk target", [](const Ctx&) { return raw_request("OPTIONS", "*"); }, 400, bad);
  add(
      "a huge limit",
      [](const Ctx& x) { return admin_get(x, "/iam/users?limit=99999999999999999999"); }, 400, bad);
  add(
      "an audit time that is not a time",
      [](const Ctx& x) { return admin_get(x, "/iam/audit?from=yesterday"); }, 400, bad);
  add(
      "an audit cursor past 2^64",
      [](const Ctx& x) { return admin_get(x, "/iam/audit?after=99999999999999999999999"); }, 400,
      bad);
  add(
      "an audit type that does not exist",
      [](const Ctx& x) { return admin_get(x, "/iam/audit?type=..%2f"); }, 400, bad);
  add(
      "a replay point that is neither time nor seq",
      [](const Ctx& x) { return admin_get(x, "/iam/replay/state?at=-1"); }, 400, bad);
  // ---- HTTP framing ----
  add(
      "a garbage request line", [](const Ctx&) { return std::string("\xff\xfe\r\n\r\n"); }, 400,
      bad);
  add(
      "no HTTP version", [](const Ctx&) { return std::string("GET /healthz\r\n\r\n"); }, 400, bad);
  add(
      "the HTTP/2 preface",
      [](const Ctx&) { return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); }, 400, bad);
  add(
      "Content-Length and Transfer-Encoding together",
      [](const Ctx&) {
        return "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
               "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
      },
      400, bad);
  add(
      "two different Content-Lengths",
      [](const Ctx&) {
        return std::string(
            "POST /iam/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: "
            "2\r\n\r\nab");
      },
      400, bad);
  add(
      "a negative Content-Length",
      [](const Ctx&) {
        return std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n");
      },
      400, bad);
  add(
      "a bad chunk size",
      [](const Ctx&) {
        return "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
               "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n";
      },
      400, bad);
  add(
      "a header over the limit",
      [](const Ctx&) {
        return raw_request("GET", "/healthz", {"X-Big: " + std::string(9000, 'h')});
      },
      431, bad);
  add(
      "two thousand small headers",
      [](const Ctx&) {
        std::vector<std::string> h;
        for (int i = 0; i < 2000; ++i) h.push_back("X-H" + std::to_string(i) + ": v");
        return raw_request("GET", "/healthz", h);
      },
      431, bad);
  add(
      "a bearer token over the header limit",
      [](const Ctx&) {
        return raw_request("GET", "/iam/users",
                           {"Authorization: Bearer " + std::string(9000, 'A')});
      },
      431, bad);
  add(
      "a long bearer token under the header limit",
      [](const Ctx&) {
        return raw_request("GET", "/iam/users",
                           {"Authorization: Bearer " + std::string(8000, 'A')});
      },
      401, "unauthorized");
  add(
      "an unknown method", [](const Ctx&) { return raw_request("BREW", "/healthz"); }, 404,
      "not_found");
  add(
      "HTTP/1.0 (answered)",
      [](const Ctx&) { return std::string("GET /healthz HTTP/1.0\r\n\r\n"); }, 200, "");
  add(
      "headers never finished, then end of stream",
      [](const Ctx&) { return std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n"); }, 400, bad,
      true);
  add(
      "nothing at all, then end of stream", [](const Ctx&) { return std::string(); }, 0, "", true);
  return c;
}

class CatalogueServer {
 public:
  CatalogueServer()
      : server_([] {
          raise_fd_limit(8192);  // the server inherits it: room for the idle-connection case
          ServerProcess::Options o;
          o.serve_args = {"--set", "server.max_body_bytes=" + std::to_string(kMaxBody),
                          "--set", "server.read_timeout_ms=" + std::to_string(kReadTimeoutMs),
                          "--set", "server.idle_timeout_ms=3000"};
          return o;
        }()) {
    ctx_.token = server_.admin_token();
    const auto user = post_json(server_.url("/iam/users"),
                                {{"name", "Ann"}, {"email", "ann@example.com"}}, ctx_.token);
    BOOST_REQUIRE_EQUAL(user.status, 201);
    ctx_.user_id = user.json()["id"];
    const IssuedKey k = new_service_account_key(server_, ctx_.token, "svc");
    ctx_.sa_id = k.principal_id;
    ctx_.apikey = k.apikey;
  }
  ServerProcess& server() { return server_; }
  const Ctx& ctx() const { return ctx_; }

 private:
  ServerProcess server_;
  Ctx ctx_;
};

// The server process is alive and answers another client.
void still_serving(ServerProcess& server, const std::string& during) {
  BOOST_TEST(healthz_ok(server.port(), kAnswerDeadline),
             "GET /healthz from another connection, during: " << during);
  BOOST_REQUIRE_MESSAGE(!server.exited().has_value(),
                        "the server exited during: " << during << "\n"
                                                     << server.stderr_text());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_input)

BOOST_AUTO_TEST_CASE(each_hostile_request_gets_its_contract_status_and_others_are_served) {
  CatalogueServer cs;
  auto& server = cs.server();
  const auto cases = catalogue();
  for (const auto& k : cases) {
    BOOST_TEST_CONTEXT("case: " << k.name) {
      RawConn conn(server.port());
      const std::string rid = request_id("hostile");
      std::string bytes = k.request(cs.ctx());
      // Tag well-formed requests with a request id, to check the answer is theirs.
      const auto host = bytes.find("\r\nHost: 127.0.0.1\r\n");
      if (host != std::string::npos) bytes.insert(host + 2, "X-Request-Id: " + rid + "\r\n");
      conn.send(bytes);
      if (k.half_close) conn.shutdown_write();
      still_serving(server, k.name);
      const auto r = conn.read_response(kAnswerDeadline);
      if (k.status == 0) {
        BOOST_TEST(!r.has_value(), "expected no response, got " << (r ? r->status : 0));
        BOOST_TEST(conn.wait_closed(kAnswerDeadline));
        continue;
      }
      BOOST_REQUIRE_MESSAGE(r.has_value(), "no response");
      BOOST_TEST(r->status == k.status, r->status << " " << r->body.substr(0, 300));
      BOOST_TEST(!r->header("x-request-id").empty());
      if (host != std::string::npos && r->status != 413 && r->status != 431)
        BOOST_TEST(r->header("x-request-id") == rid);
      if (!k.error.empty()) {
        nlohmann::json j;
        BOOST_REQUIRE_NO_THROW(j = r->json());
        BOOST_TEST(j.value("error", "") == k.error);
        BOOST_TEST(j.contains("message"));
        BOOST_TEST(j.value("request_id", "") == r->header("x-request-id"));
      }
    }
  }
  BOOST_TEST_MESSAGE(cases.size() << " hostile requests answered with their contract status");
  still_serving(server, "the end of the catalogue");
}

BOOST_AUTO_TEST_CASE(a_client_sending_one_byte_a_second_is_cut_off_at_the_read_timeout) {
  CatalogueServer cs;
  auto& server = cs.server();
  struct Slow {
    std::string name;
    std::string fast;  // sent at once
    std::string slow;  // then one byte a second
  };
  const std::string body = kLogin;
  const std::vector<Slow> slows = {
      {"headers one byte a second", "",
       "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body},
      {"body one byte a second",
       "POST /iam/login HTTP/1.1\r\nHost: x\r\n" + kJson +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n",
       body},
      {"a second request one byte a second on a kept-alive connection",
       raw_request("GET", "/healthz"), raw_request("GET", "/healthz")},
  };
  for (const auto& s : slows) {
    BOOST_TEST_CONTEXT("slow client: " << s.name) {
      RawConn conn(server.port());
      const auto start = std::chrono::steady_clock::now();
      if (!s.fast.empty()) conn.send(s.fast);
      if (s.name.find("kept-alive") != std::string::npos) {
        const auto first = conn.read_response(kAnswerDeadline);
        BOOST_REQUIRE(first.has_value());
        BOOST_TEST(first->status == 200);
      }
      bool cut = false;
      std::size_t sent = 0;
      for (char c : s.slow) {
        if (!conn.send(std::string(1, c))) break;
        ++sent;
        if (sent % 2 == 0) still_serving(server, s.name);
        if (conn.wait_closed(1000ms)) {
          cut = true;
          break;
        }
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      // Cut before the whole request was sent: at one byte a second that is a
      // deadline of 40 s and more, where the read timeout is 1.5 s (the idle
      // timeout of 3 s for a kept-alive connection's next request). No tighter
      // bound on the wall clock: the machine may be busy.
      BOOST_TEST(cut, "the connection was still open after " << sent << " bytes");
      BOOST_TEST(sent < s.slow.size());
      BOOST_TEST_MESSAGE(s.name << ": cut off after " << sent << " bytes, " << seconds << " s");
      auto r = conn.read_response(100ms);
      BOOST_TEST((!r || r->status >= 400), "a slow request must not succeed");
    }
  }
  still_serving(server, "after the slow clients");
}

BOOST_AUTO_TEST_CASE(thousands_of_idle_connections_do_not_stop_others_and_are_closed) {
  CatalogueServer cs;
  auto& server = cs.server();
  constexpr int kIdle = 3000;
  raise_fd_limit(kIdle + 512);
  std::vector<RawConn> idle;
  idle.reserve(kIdle);
  for (int i = 0; i < kIdle; ++i) {
    idle.emplace_back(server.port());
    // Half of them start a request and never finish it.
    if (i % 2) idle.back().send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  }
  const auto opened = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) still_serving(server, std::to_string(kIdle) + " idle connections");
  // A real client gets work done meanwhile.
  const auto r = post_json(server.url("/iam/service-accounts"), {{"name", "busy"}}, cs.ctx().token);
  BOOST_TEST(r.status == 201);
  // Every idle connection is closed by the server (at its read or idle
  // timeout, 1.5 and 3 s), well within a generous deadline.
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::size_t closed = 0;
  for (auto& c : idle) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    closed += c.wait_closed(std::max(left, std::chrono::milliseconds(0))) ? 1 : 0;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
  BOOST_TEST(closed == static_cast<std::size_t>(kIdle));
  BOOST_TEST_MESSAGE(kIdle << " idle connections closed by the server after " << seconds << " s");
  still_serving(server, "after the idle connections");
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order_each_with_its_status) {
  CatalogueServer cs;
  auto& server = cs.server();
  const Ctx& x = cs.ctx();
  struct P {
    std::string rid;
    std::string bytes;
    int status;
  };
  std::vector<P> reqs;
  auto add = [&](std::string bytes, int status) {
    const std::string rid = request_id("pipe");
    bytes.insert(bytes.find("\r\n") + 2, "X-Request-Id: " + rid + "\r\n");
    reqs.push_back(P{rid, std::move(bytes), status});
  };
  add(raw_request("GET", "/healthz"), 200);
  add(login(R"({"auth_mode":)"), 400);
  add(admin_get(x, "/iam/users/" + x.user_id), 200);
  add(login(kLogin, "Content-Type: text/plain"), 415);
  add(admin_post(x, "/iam/service-accounts", R"({"name":"piped"})"), 201);
  add(raw_request("GET", "/iam/nowhere"), 404);
  add(admin_get(x, "/iam/settings"), 200);
  for (int i = 0; i < 50; ++i) add(raw_request("GET", "/healthz"), 200);
  std::string all;
  for (const auto& p : reqs) all += p.bytes;
  RawConn conn(server.port());
  BOOST_REQUIRE(conn.send(all));
  for (const auto& p : reqs) {
    const auto r = conn.read_response(kAnswerDeadline);
    BOOST_REQUIRE_MESSAGE(r.has_value(), "no response for " << p.rid);
    BOOST_TEST(r->header("x-request-id") == p.rid);
    BOOST_TEST(r->status == p.status);
  }
  // A request over the limit ends the pipeline: what follows it is not read.
  RawConn second(server.port());
  const std::string big = login(std::string(kMaxBody + 10, ' '));
  BOOST_REQUIRE(second.send(raw_request("GET", "/healthz") + big + raw_request("GET", "/healthz")));
  const auto first = second.read_response(kAnswerDeadline);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->status == 200);
  const auto too_big = second.read_response(kAnswerDeadline);
  BOOST_REQUIRE(too_big.has_value());
  BOOST_TEST(too_big->status == 413);
  BOOST_TEST(second.wait_closed(kAnswerDeadline));
  still_serving(server, "after pipelining");
}

// ---- request framing: smuggling ----
// A request whose body length two readers can disagree on lets a client hide
// a second request in the body of the first: a proxy in front frames the body
// one way and forwards it as one request, latchkey frames it another way and
// runs the rest as a request of its own, outside whatever the proxy checks.
// The contract (docs/reliability.md): any request whose framing is not exactly
// one Content-Length or exactly `Transfer-Encoding: chunked` is answered 400
// invalid_request and the connection is closed, so nothing after it on the
// connection is read, let alone run.

namespace {

// A request the chunked body of a smuggling request carries in its one chunk.
// Its own Content-Length takes in the chunked body's end ("\r\n0\r\n\r\n"),
// so a server that frames the outer request by a Content-Length covering only
// the chunk-size line answers the hidden request and then reads on cleanly.
std::string hidden_request(const std::string& rid) {
  return "GET /iam/users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: " + rid +
         "\r\nContent-Length: 7\r\n\r\n";
}

// `payload` as a chunked body of one chunk.
std::string one_chunk(const std::string& payload) {
  char size[20];
  std::snprintf(size, sizeof size, "%zx", payload.size());
  return std::string(size) + "\r\n" + payload + "\r\n0\r\n\r\n";
}

// The length of the chunk-size line of one_chunk(payload): the Content-Length
// under which a server that ignores the chunked coding runs the payload.
std::size_t chunk_size_line(const std::string& payload) {
  return one_chunk(payload).find("\r\n") + 2;
}

struct Framing {
  std::string name;
  // The header lines that frame the body, each without its CRLF. "Content-Length: @"
  // stands for the length of the chunk-size line of the smuggling body.
  std::vector<std::string> lines;
  // The request's status: 400 (refused, then the connection closes) or the
  // status of POST /iam/login with kLogin when the framing is sound.
  int status = 400;
  // The body: the smuggling chunked body unless given.
  std::optional<std::string> body = std::nullopt;
  std::string version = "HTTP/1.1";
  // Line endings of the header; "\n" sends bare LFs.
  std::string eol = "\r\n";
};

std::vector<Framing> framing_cases() {
  const std::string cl = "Content-Length: @";
  const std::string te = "Transfer-Encoding: ";
  std::string chunks;  // kLogin in three chunks
  for (std::size_t at = 0; at < kLogin.size(); at += 32) {
    const std::string part = kLogin.substr(at, 32);
    char size[20];
    std::snprintf(size, sizeof size, "%zx", part.size());
    chunks += std::string(size) + "\r\n" + part + "\r\n";
  }
  chunks += "0\r\n\r\n";
  const std::string length = "Content-Length: " + std::to_string(kLogin.size());
  std::vector<Framing> c = {
      // Transfer-Encoding whose final coding is not exactly "chunked", before a Content-Length.
      {"TE 'chunked, identity' then CL", {te + "chunked, identity", cl}},
      {"TE 'identity' then CL", {te + "identity", cl}},
      {"TE 'xchunked' then CL", {te + "xchunked", cl}},
      {"TE '\"chunked\"' then CL", {te + "\"chunked\"", cl}},
      {"TE 'chunked;x=1' then CL", {te + "chunked;x=1", cl}},
      {"TE 'chunked, gzip' then CL", {te + "chunked, gzip", cl}},
      {"TE empty then CL", {"Transfer-Encoding:", cl}},
      {"TE 'CHUNKED' then CL", {te + "CHUNKED", cl}},
      // Transfer-Encoding and Content-Length with a clean chunked, in both orders.
      {"TE 'chunked' then CL", {te + "chunked", cl}},
      {"CL then TE 'chunked'", {cl, te + "chunked"}},
      {"CL then TE 'identity'", {cl, te + "identity"}},
      // Transfer-Encoding alone that is not exactly "chunked".
      {"TE 'chunked;x=1' alone", {te + "chunked;x=1"}},
      {"TE 'chunked, gzip' alone", {te + "chunked, gzip"}},
      {"TE 'gzip, chunked' alone", {te + "gzip, chunked"}},
      {"TE 'identity' alone", {te + "identity"}},
      {"TE 'chunked, chunked' alone", {te + "chunked, chunked"}},
      {"two TE fields: 'identity', 'chunked'", {te + "identity", te + "chunked"}},
      {"two TE fields: 'chunked', 'chunked'", {te + "chunked", te + "chunked"}},
      {"TE 'chunked' in HTTP/1.0",
       {te + "chunked", "Connection: keep-alive"},
       400,
       std::nullopt,
       "HTTP/1.0"},
      // Content-Length alone that is not one decimal number.
      {"two equal Content-Length fields", {cl, cl}},
      {"two different Content-Length fields", {cl, "Content-Length: 99"}},
      {"a Content-Length list of equal values", {"Content-Length: @, @"}},
      {"a Content-Length with a sign", {"Content-Length: +@"}},
      {"a Content-Length with junk", {"Content-Length: @x"}},
      {"a Content-Length in hex", {"Content-Length: 0x4"}},
      // Line folding and bytes that a reader may take for a line end.
      {"obs-fold in Transfer-Encoding", {"Transfer-Encoding:", " chunked"}},
      {"obs-fold that another reader takes for a Content-Length", {"X-Note: a", " " + cl}},
      {"obs-fold in an unrelated field", {"X-Note: a", "\tb", length}, 400, kLogin},
      {"bare LF line endings", {length}, 400, kLogin, "HTTP/1.1", "\n"},
      {"a bare LF inside a field line", {"X-Note: a\n" + cl}},
      {"a NUL in a field value", {"X-Note: a" + std::string(1, '\0') + "b", cl}},
      {"a NUL after chunked", {te + "chunked" + std::string(1, '\0')}},
      // Controls: sound framing is still answered, and the connection kept.
      {"a chunked body (accepted)", {te + "chunked"}, 401, chunks},
      {"chunked with trailing OWS (accepted)", {te + "chunked \t"}, 401, chunks},
      {"Chunked in another case, leading OWS (accepted)", {te + "  Chunked"}, 401, chunks},
      {"one Content-Length (accepted)", {length}, 401, kLogin},
      {"one Content-Length with OWS (accepted)",
       {"Content-Length:  " + std::to_string(kLogin.size()) + " "},
       401,
       kLogin},
  };
  return c;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

bool logged(const std::string& access_log, const std::string& rid) {
  return access_log.find("\"request_id\":\"" + rid + "\"") != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_request_hidden_in_a_chunked_body_is_never_run) {
  // The hole as it was found: Transfer-Encoding "chunked, identity" before a
  // Content-Length that covers only the chunk-size line.
  CatalogueServer cs;
  auto& server = cs.server();
  const std::string rid = request_id("smuggler");
  const std::string hidden_rid = request_id("hidden");
  const std::string next_rid = request_id("next");
  const std::string hidden = hidden_request(hidden_rid);
  const std::string bytes =
      "POST /iam/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: " + rid + "\r\n" + kJson +
      "\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: " +
      std::to_string(chunk_size_line(hidden)) + "\r\n\r\n" + one_chunk(hidden) +
      raw_request("GET", "/healthz", {"X-Request-Id: " + next_rid});
  RawConn conn(server.port());
  BOOST_REQUIRE(conn.send(bytes));
  const auto r = conn.read_response(5s);
  BOOST_REQUIRE_MESSAGE(r.has_value(), "no response");
  BOOST_TEST(r->status == 400, r->status << " " << r->body);
  BOOST_TEST(r->header("x-request-id") == rid);
  nlohmann::json j;
  BOOST_REQUIRE_NO_THROW(j = r->json());
  BOOST_TEST(j.value("error", "") == "invalid_request");
  // Closed at once: a connection kept open would be closed only by the idle timeout (3 s).
  BOOST_TEST(conn.wait_closed(2s), "the connection stayed open");
  std::string more;  // what was answered after the refused request
  while (auto next = conn.read_response(500ms))
    more += std::to_string(next->status) + " " + next->header("x-request-id") + "; ";
  BOOST_TEST(more.empty(), "answered after the refused request: " << more);
  std::this_thread::sleep_for(700ms);  // the access log is flushed every 200 ms
  const std::string log = server.stdout_text();
  BOOST_TEST(logged(log, rid));
  BOOST_TEST(!logged(log, hidden_rid), "the hidden request ran");
  BOOST_TEST(!logged(log, next_rid), "the request after the refused one ran");
  still_serving(server, "after a smuggling attempt");
}

BOOST_AUTO_TEST_CASE(a_request_with_ambiguous_framing_is_refused_and_nothing_after_it_runs) {
  CatalogueServer cs;
  auto& server = cs.server();
  struct Sent {
    std::string name, rid, hidden_rid, next_rid;
    bool refused;
  };
  std::vector<Sent> sent;
  for (const auto& k : framing_cases()) {
    BOOST_TEST_CONTEXT("framing: " << k.name) {
      const std::string rid = request_id("framing");
      const std::string hidden_rid = request_id("hidden");
      const std::string next_rid = request_id("next");
      const std::string hidden = hidden_request(hidden_rid);
      const std::string body = k.body.value_or(one_chunk(hidden));
      std::string header = "POST /iam/login " + k.version + k.eol + "Host: 127.0.0.1" + k.eol +
                           "X-Request-Id: " + rid + k.eol + kJson + k.eol;
      for (const auto& line : k.lines)
        header += replace_all(line, "@", std::to_string(chunk_size_line(hidden))) + k.eol;
      header += k.eol;
      const bool refused = k.status == 400;
      sent.push_back(Sent{k.name, rid, hidden_rid, next_rid, refused});
      RawConn conn(server.port());
      BOOST_REQUIRE(
          conn.send(header + body + raw_request("GET", "/healthz", {"X-Request-Id: " + next_rid})));
      const auto r = conn.read_response(5s);
      BOOST_REQUIRE_MESSAGE(r.has_value(), "no response");
      BOOST_TEST(r->status == k.status, r->status << " " << r->body.substr(0, 300));
      // A header Beast itself refuses is answered before its X-Request-Id is read.
      if (!refused) BOOST_TEST(r->header("x-request-id") == rid);
      nlohmann::json j;
      BOOST_REQUIRE_NO_THROW(j = r->json());
      BOOST_TEST(j.value("error", "") == (refused ? "invalid_request" : "invalid_credentials"));
      if (refused) {
        BOOST_TEST(conn.wait_closed(2s), "the connection stayed open");
        std::string more;  // what was answered after the refused request
        while (auto next = conn.read_response(200ms))
          more += std::to_string(next->status) + " " + next->header("x-request-id") + "; ";
        BOOST_TEST(more.empty(), "answered after the refused request: " << more);
      } else {
        const auto next = conn.read_response(5s);
        BOOST_REQUIRE_MESSAGE(next.has_value(), "no answer to the request after it");
        BOOST_TEST(next->status == 200);
        BOOST_TEST(next->header("x-request-id") == next_rid);
        BOOST_TEST(!conn.wait_closed(200ms), "the connection was closed");
      }
    }
  }
  std::this_thread::sleep_for(700ms);  // the access log is flushed every 200 ms
  const std::string log = server.stdout_text();
  for (const auto& s : sent) {
    BOOST_TEST_CONTEXT("framing: " << s.name) {
      if (!s.refused) BOOST_TEST(logged(log, s.rid));
      BOOST_TEST(!logged(log, s.hidden_rid), "the hidden request ran");
      BOOST_TEST(logged(log, s.next_rid) == !s.refused,
                 "the request after it " << (s.refused ? "ran" : "is not in the access log"));
    }
  }
  BOOST_TEST_MESSAGE(sent.size() << " framings answered by their contract");
  still_serving(server, "after the framing cases");
}

BOOST_AUTO_TEST_SUITE_END()
