// The seed documentation page's login samples, run as written: its cURL
// command (a JSON body, with the curl binary) and its Python 3 snippet
// (`requests.request("POST", url, data=payload)`: a form body, with Debian's
// python3-requests), with only the host changed and the keys filled in.
//
// curl_sample.txt and python_sample.txt beside this file are the page's
// blocks with the host replaced by {server}. When the page itself is at hand
// (../shared/seed/ beside the source tree, or LATCHKEY_SEED_PAGE), the test
// extracts every login sample from it and checks that each is one of those
// copies, so the copies cannot drift from the page.
#define BOOST_TEST_MODULE seed
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/child_process.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey::test;
using nlohmann::json;

namespace {

const std::string kPython = "/usr/bin/python3";  // Debian's, which sees python3-requests

std::string seed_page_path() {
  if (const char* p = std::getenv("LATCHKEY_SEED_PAGE"); p && *p) return p;
  return LATCHKEY_SEED_PAGE;
}

// The fenced code blocks under the page's "#### **...**" tab headings.
std::vector<std::pair<std::string, std::string>> page_samples(const std::string& page) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(page);
  std::string line, heading;
  while (std::getline(in, line)) {
    if (line.rfind("#### **", 0) == 0) {
      heading = line;
      continue;
    }
    if (!heading.empty() && line.rfind("```", 0) == 0) {
      std::string block;
      while (std::getline(in, line) && line.rfind("```", 0) != 0) block += line + "\n";
      out.emplace_back(heading, block);
      heading.clear();
    }
  }
  return out;
}

// Replaces the one occurrence of `from` (the test fails unless there is exactly one).
std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "no " << from << " in the sample");
  BOOST_REQUIRE_MESSAGE(text.find(from, pos + 1) == std::string::npos,
                        from << " twice in the sample");
  return text.replace(pos, from.size(), to);
}

struct Sample {
  std::string name;
  std::string text;  // with {server}
  bool python = false;
};

// Runs a sample with the host and keys filled in; returns what it printed.
std::string run_sample(const Sample& s, const std::string& host, const std::string& apikey,
                       const std::string& secretkey, const std::string& ca_file,
                       const TempDir& dir) {
  std::string code = replace_once(s.text, "{server}", host);
  code = replace_once(code, "\"apikey\": \"\"", "\"apikey\": \"" + apikey + "\"");
  code = replace_once(code, "\"secretkey\": \"\"", "\"secretkey\": \"" + secretkey + "\"");
  // The samples trust the server's certificate through the usual variables,
  // so their text stays as written.
  const std::map<std::string, std::string> env = {
      {"CURL_CA_BUNDLE", ca_file}, {"REQUESTS_CA_BUNDLE", ca_file}, {"NO_PROXY", "127.0.0.1"}};
  RunResult r;
  if (s.python) {
    const std::string script = dir / "sample.py";
    {
      std::ofstream f(script);
      f << code;
    }
    r = run_command({kPython, script}, env);
  } else {
    r = run_command({"/bin/bash", "-c", code}, env);
  }
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, s.name << " exited " << r.exit_code << ": " << r.err);
  return r.out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(seed_curl_and_python_samples_log_in_and_stop_after_the_key_is_deleted) {
  const std::string here = LATCHKEY_SEED_TEST_DIR;
  std::vector<Sample> samples = {
      {"cURL", read_file(here + "/curl_sample.txt"), false},
      {"Python 3+", read_file(here + "/python_sample.txt"), true},
  };
  BOOST_TEST_REQUIRE(!samples[0].text.empty());
  BOOST_TEST_REQUIRE(!samples[1].text.empty());
  BOOST_TEST(samples[1].text.find("requests.request(\"POST\", url, data=payload)") !=
             std::string::npos);

  // The copies are the page's samples with only the host changed.
  const std::string page_path = seed_page_path();
  if (std::filesystem::exists(page_path)) {
    const auto found = page_samples(read_file(page_path));
    BOOST_TEST(found.size() == 4u);
    const std::regex host(R"(https://\{project_subdomain\}\.[a-z0-9.-]+)");
    for (const auto& [heading, block] : found) {
      BOOST_TEST_CONTEXT(heading) {
        const std::string normalised = std::regex_replace(block, host, "https://{server}");
        BOOST_TEST(normalised != block);  // there was a host to change
        const bool python = heading.find("Python") != std::string::npos;
        BOOST_TEST(normalised == samples[python ? 1 : 0].text);
      }
    }
  } else {
    BOOST_TEST_MESSAGE("seed page not found at " << page_path
                                                 << ": running the copies of its samples");
  }

  // An https server, as in the samples' URLs, with a certificate made for the test.
  TempDir dir;
  const auto tls = make_loopback_certificate(dir.path());
  ServerProcess::Options o;
  o.serve_args = {"--tls-cert", tls.cert, "--tls-key", tls.key};
  o.https = true;
  ServerProcess server(o);
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  HttpOptions with_ca;
  with_ca.ca_file = tls.cert;
  auto call = [&](const std::string& method, const std::string& path, const json& body,
                  const std::string& token, const std::string& type = "application/json") {
    HttpOptions o = with_ca;
    if (!body.is_null()) o.headers.push_back("Content-Type: " + type);
    if (!token.empty()) o.headers.push_back("Authorization: Bearer " + token);
    return http(method, server.url(path), body.is_null() ? std::string() : body.dump(), o);
  };
  auto login = [&](const std::string& apikey, const std::string& secret) {
    const auto r = call("POST", "/iam/login",
                        {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secret}}, {});
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    return r.json().at("access_token").get<std::string>();
  };
  const std::string admin = login(server.admin().apikey, server.admin().secretkey);

  // A user with a key, as the page's screens make one.
  const auto user =
      call("POST", "/iam/users", {{"name", "Seed User"}, {"email", "seed@example.com"}}, admin);
  BOOST_TEST_REQUIRE(user.status == 201, user.body);
  const std::string user_id = user.json().at("id");
  const auto created =
      call("POST", "/iam/users/" + user_id + "/keys", {{"lifetime_days", 30}}, admin);
  BOOST_TEST_REQUIRE(created.status == 201, created.body);
  const std::string apikey = created.json().at("apikey");
  const std::string secretkey = created.json().at("secretkey");

  auto introspect = [&](const std::string& token) {
    HttpOptions o = with_ca;
    o.headers = {"Content-Type: application/x-www-form-urlencoded",
                 "Authorization: Bearer " + admin};
    const auto r = http("POST", server.url("/iam/introspect"), "token=" + token, o);
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    return r.json();
  };

  std::vector<std::string> tokens;
  for (const auto& s : samples) {
    BOOST_TEST_CONTEXT(s.name) {
      const std::string printed = run_sample(s, host, apikey, secretkey, tls.cert, dir);
      const json body = json::parse(printed, nullptr, false);
      BOOST_TEST_REQUIRE(body.is_object(), "printed: " << printed);
      BOOST_TEST(body.value("token_type", "") == "Bearer");
      BOOST_TEST_REQUIRE(body.contains("access_token"), printed);
      const std::string token = body["access_token"];
      const json state = introspect(token);
      BOOST_TEST(state.at("active") == true);
      BOOST_TEST(state.at("apikey") == apikey);
      BOOST_TEST(state.at("sub") == user_id);
      tokens.push_back(token);
    }
  }
  BOOST_TEST_REQUIRE(tokens.size() == 2u);
  // The trash icon: DELETE the key. Both samples now get the 401 body, and
  // the tokens they got before are inactive.
  const auto deleted = call("DELETE", "/iam/users/" + user_id + "/keys/" + apikey, nullptr, admin);
  BOOST_TEST_REQUIRE(deleted.status == 204);
  for (const auto& s : samples) {
    BOOST_TEST_CONTEXT(s.name) {
      const std::string printed = run_sample(s, host, apikey, secretkey, tls.cert, dir);
      const json body = json::parse(printed, nullptr, false);
      BOOST_TEST_REQUIRE(body.is_object(), "printed: " << printed);
      BOOST_TEST(body.value("error", "") == "invalid_credentials");
      BOOST_TEST(!body.contains("access_token"));
    }
  }
  for (const auto& t : tokens) BOOST_TEST(introspect(t) == json({{"active", false}}));

  // The server's access log saw two 200 logins and then two 401s from the samples.
  BOOST_TEST(server.stop() == 0);
  std::vector<int> login_statuses;
  std::istringstream lines(server.stdout_text());
  std::string line;
  while (std::getline(lines, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("route", "") == "/iam/login")
      login_statuses.push_back(j["status"]);
  }
  BOOST_TEST_REQUIRE(login_statuses.size() >= 4u);
  const std::vector<int> last4(login_statuses.end() - 4, login_statuses.end());
  BOOST_TEST((last4 == std::vector<int>{200, 200, 401, 401}));
}

// The same samples for a project: the cURL one with only its host changed to
// acme.localhost:PORT (curl sends *.localhost to the loopback itself, with no
// DNS set-up), the Python one with the Host header it needs (its resolver
// knows no *.localhost): the token is acme's, and not the default project's.
BOOST_AUTO_TEST_CASE(seed_samples_log_in_to_a_project_at_its_subdomain) {
  const std::string here = LATCHKEY_SEED_TEST_DIR;
  const Sample curl{"cURL", read_file(here + "/curl_sample.txt"), false};
  Sample python{"Python 3+", read_file(here + "/python_sample.txt"), true};
  TempDir dir;
  const auto tls = make_loopback_certificate(dir.path());
  ServerProcess::Options o;
  o.serve_args = {"--tls-cert", tls.cert, "--tls-key", tls.key};
  o.https = true;
  ServerProcess server(o);
  const std::string port = std::to_string(server.port());
  const std::string project_host = "acme.localhost:" + port;
  auto call = [&](const std::string& method, const std::string& path, const json& body,
                  const std::string& token, const std::string& host) {
    HttpOptions h;
    h.ca_file = tls.cert;
    h.headers = {"Host: " + host};
    if (!body.is_null()) h.headers.push_back("Content-Type: application/json");
    if (!token.empty()) h.headers.push_back("Authorization: Bearer " + token);
    return http(method, server.url(path), body.is_null() ? std::string() : body.dump(), h);
  };
  auto login = [&](const std::string& path, const std::string& apikey, const std::string& secret,
                   const std::string& host) {
    const auto r =
        call("POST", path, {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secret}}, {},
             host);
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    return r.json().at("access_token").get<std::string>();
  };
  const std::string op = login("/platform/login", server.platform().apikey,
                               server.platform().secretkey, "localhost:" + port);
  const auto project = call("POST", "/platform/projects", {{"id", "acme"}, {"name", "Acme"}}, op,
                            "localhost:" + port);
  BOOST_TEST_REQUIRE(project.status == 201, project.body);
  const json admin_keys = project.json().at("admin");
  const std::string admin =
      login("/iam/login", admin_keys.at("apikey"), admin_keys.at("secretkey"), project_host);
  const auto user = call("POST", "/iam/users", {{"name", "Acme User"}, {"email", "user@acme.test"}},
                         admin, project_host);
  BOOST_TEST_REQUIRE(user.status == 201, user.body);
  const std::string user_id = user.json().at("id");
  const auto key =
      call("POST", "/iam/users/" + user_id + "/keys", json::object(), admin, project_host);
  BOOST_TEST_REQUIRE(key.status == 201, key.body);
  const std::string apikey = key.json().at("apikey");
  const std::string secretkey = key.json().at("secretkey");

  // Python: the URL's host is the address; the project is in the Host header.
  python.text = replace_once(python.text, "data=payload)",
                             "data=payload, headers={\"Host\": \"" + project_host + "\"})");
  const std::vector<std::pair<Sample, std::string>> runs = {{curl, project_host},
                                                            {python, "127.0.0.1:" + port}};
  for (const auto& [s, host] : runs) {
    BOOST_TEST_CONTEXT(s.name) {
      const std::string printed = run_sample(s, host, apikey, secretkey, tls.cert, dir);
      const json body = json::parse(printed, nullptr, false);
      BOOST_TEST_REQUIRE(body.is_object(), "printed: " << printed);
      BOOST_TEST_REQUIRE(body.contains("access_token"), printed);
      const std::string token = body["access_token"];
      const auto at_acme = call("POST", "/iam/introspect", {{"token", token}}, admin, project_host);
      BOOST_TEST(at_acme.json().at("active") == true);
      BOOST_TEST(at_acme.json().at("sub") == user_id);
      // The default project knows neither the key nor the token.
      const std::string default_admin =
          login("/iam/login", server.admin().apikey, server.admin().secretkey, "127.0.0.1:" + port);
      const auto at_default =
          call("POST", "/iam/introspect", {{"token", token}}, default_admin, "127.0.0.1:" + port);
      BOOST_TEST(at_default.json() == json({{"active", false}}));
    }
  }
}
