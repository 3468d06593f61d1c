#include "tests/e2e/e2e.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

#include "base/encoding.h"
#include "base/signing.h"
#include "tests/support/temp_dir.h"

namespace latchkey::e2e {

namespace {

std::vector<std::string> with_bearer(std::vector<std::string> h, const std::string& token) {
  if (!token.empty()) h.push_back("Authorization: Bearer " + token);
  return h;
}

}  // namespace

HttpResponse Client::call(const std::string& method, const std::string& path,
                          const std::string& body, std::vector<std::string> headers) const {
  test::HttpOptions o;
  o.headers = std::move(headers);
  o.ca_file = ca_file_;
  const bool ndjson = std::find(o.headers.begin(), o.headers.end(),
                                "Accept: application/x-ndjson") != o.headers.end();
  HttpResponse r = test::http(method, url(path), body, o);
  BOOST_TEST(!r.header("x-request-id").empty(),
             method << " " << path << " answered " << r.status << " without X-Request-Id");
  // Every body is JSON and says so, successes as much as errors, but for the
  // routes the contract gives another type: /metrics (Prometheus text), the
  // console's files, and the NDJSON streams a client asks for.
  const bool other_type = path.rfind("/metrics", 0) == 0 || path.rfind("/console", 0) == 0 ||
                          (ndjson && r.status == 200);
  if (!other_type && !r.body.empty()) {
    BOOST_TEST(r.header("content-type").rfind("application/json", 0) == 0,
               method << " " << path << " answered " << r.status << " with Content-Type '"
                      << r.header("content-type") << "'");
    BOOST_TEST(json::accept(r.body),
               method << " " << path << " answered " << r.status
                      << " with a body that is not JSON: " << r.body.substr(0, 200));
  }
  return r;
}

HttpResponse Client::get(const std::string& path, const std::string& token) const {
  return call("GET", path, {}, with_bearer({}, token));
}

HttpResponse Client::post(const std::string& path, const json& body,
                          const std::string& token) const {
  return call("POST", path, body.dump(), with_bearer({"Content-Type: application/json"}, token));
}

HttpResponse Client::post_empty(const std::string& path, const std::string& token) const {
  return call("POST", path, {}, with_bearer({}, token));
}

HttpResponse Client::patch(const std::string& path, const json& body,
                           const std::string& token) const {
  return call("PATCH", path, body.dump(), with_bearer({"Content-Type: application/json"}, token));
}

HttpResponse Client::del(const std::string& path, const std::string& token) const {
  return call("DELETE", path, {}, with_bearer({}, token));
}

HttpResponse Client::post_form(const std::string& path, const std::string& form,
                               const std::string& token) const {
  return call("POST", path, form,
              with_bearer({"Content-Type: application/x-www-form-urlencoded"}, token));
}

HttpResponse Client::login_raw(const std::string& apikey, const std::string& secretkey) const {
  return post("/iam/login", {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}},
              {});
}

std::string Client::login(const std::string& apikey, const std::string& secretkey) const {
  const auto r = login_raw(apikey, secretkey);
  BOOST_REQUIRE_MESSAGE(r.status == 200, "login answered " << r.status << " " << r.body);
  return r.json().at("access_token").get<std::string>();
}

std::string Client::admin_token() const {
  return login(server_.admin().apikey, server_.admin().secretkey);
}

Principal Client::create_user(const std::string& token, const std::string& name,
                              const std::string& email,
                              const std::vector<std::string>& roles) const {
  const auto r = post("/iam/users", {{"name", name}, {"email", email}, {"roles", roles}}, token);
  BOOST_REQUIRE_MESSAGE(r.status == 201, "create user answered " << r.status << " " << r.body);
  const std::string id = r.json().at("id");
  return {id, "/iam/users/" + id};
}

Principal Client::create_service_account(const std::string& token, const std::string& name,
                                         const std::vector<std::string>& roles,
                                         const std::string& email) const {
  json body = {{"name", name}, {"roles", roles}};
  if (!email.empty()) body["email"] = email;
  const auto r = post("/iam/service-accounts", body, token);
  BOOST_REQUIRE_MESSAGE(r.status == 201,
                        "create service account answered " << r.status << " " << r.body);
  const std::string id = r.json().at("id");
  return {id, "/iam/service-accounts/" + id};
}

Key Client::create_key(const std::string& token, const Principal& p, const json& body) const {
  const auto r = post(p.base + "/keys", body, token);
  BOOST_REQUIRE_MESSAGE(r.status == 201, "create key answered " << r.status << " " << r.body);
  const json j = r.json();
  return {j.at("apikey"), j.at("secretkey"), j};
}

json Client::settings(const std::string& token) const {
  const auto r = get("/iam/settings", token);
  BOOST_REQUIRE_MESSAGE(r.status == 200, "settings answered " << r.status << " " << r.body);
  return r.json();
}

void Client::set_settings(const std::string& token, const json& values) const {
  const auto r = patch("/iam/settings", values, token);
  BOOST_REQUIRE_MESSAGE(r.status == 200, "PATCH settings answered " << r.status << " " << r.body);
}

json Client::introspect(const std::string& caller_token, const std::string& token) const {
  const auto r = post_form("/iam/introspect", "token=" + token, caller_token);
  BOOST_REQUIRE_MESSAGE(r.status == 200, "introspect answered " << r.status << " " << r.body);
  return r.json();
}

void expect_error(const HttpResponse& r, long status, const std::string& code) {
  BOOST_TEST(r.status == status,
             "status " << r.status << " (expected " << status << "): " << r.body);
  const json j = json::parse(r.body, nullptr, false);
  BOOST_TEST_REQUIRE(j.is_object(), "error body is not JSON: " << r.body);
  BOOST_TEST(j.value("error", "") == code,
             "error " << j.value("error", "") << " (expected " << code << "): " << r.body);
  BOOST_TEST((j.contains("message") && j["message"].is_string() &&
              !j["message"].get<std::string>().empty()));
  BOOST_TEST(j.value("request_id", "") == r.header("x-request-id"));
  BOOST_TEST(r.header("content-type").find("application/json") == 0);
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string unique(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + std::to_string(::getpid()) + "x" + std::to_string(++n);
}

json jwt_part(const std::string& token, int part) {
  std::size_t start = 0;
  for (int i = 0; i < part; ++i) start = token.find('.', start) + 1;
  const auto end = token.find('.', start);
  const auto text = base64url_decode(token.substr(start, end - start));
  BOOST_REQUIRE(text.has_value());
  return json::parse(*text);
}

bool jwks_has(const json& jwks, const std::string& kid) {
  for (const auto& k : jwks.at("keys")) {
    if (k.at("kid") == kid) return true;
  }
  return false;
}

bool verifies_with_jwks(const json& jwks, const std::string& token) {
  const std::string kid = jwt_part(token, 0).at("kid");
  for (const auto& k : jwks.at("keys")) {
    if (k.at("kid") != kid) continue;
    auto key = VerifyKey::from_jwk(k.dump());
    if (!key) return false;
    const auto dot = token.rfind('.');
    const auto sig = base64url_decode(token.substr(dot + 1));
    return sig && key->verify(token.substr(0, dot), *sig);
  }
  return false;
}

std::string resign_token(const std::string& data_dir, const std::string& token,
                         const std::function<void(json& header, json& payload)>& change) {
  json header = jwt_part(token, 0);
  json payload = jwt_part(token, 1);
  const std::string kid = header.at("kid");
  const std::string pem = test::read_file(data_dir + "/signing/" + kid + ".pem");
  BOOST_REQUIRE_MESSAGE(!pem.empty(), "no private key file for kid " << kid);
  auto key = SigningKey::from_pem(pem);
  BOOST_REQUIRE(key.has_value());
  change(header, payload);
  const std::string input =
      base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  return input + "." + base64url_encode(key->sign(input));
}

Shared::Shared() : client(server) {
  admin = client.admin_token();
  client.set_settings(admin, {{"lockout_threshold", 1000}, {"lockout_source_threshold", 1000000}});
}

namespace {

Shared* g_shared = nullptr;

// The shared server lives until the last test has run, and is then stopped
// here with the checks every server gets (exit status 0, no sanitizer report).
// A failure in a global fixture's teardown is an error of the test module:
// the test binary exits non-zero though every test case passed.
struct StopTheSharedServer {
  void setup() {}
  void teardown() {
    BOOST_TEST_CONTEXT("the shared server, stopped after the last test") {
      delete g_shared;
      g_shared = nullptr;
    }
  }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(StopTheSharedServer);

Shared& shared() {
  if (!g_shared) g_shared = new Shared;
  return *g_shared;
}

}  // namespace latchkey::e2e
