// A data directory written by the release before projects opens as the
// default project with no manual step (tests/e2e/fixtures/README.md).
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "base/clock.h"
#include "tests/e2e/e2e.h"
#include "tests/support/temp_dir.h"

using namespace latchkey::e2e;
using latchkey::test::run_command;
using latchkey::test::run_latchkey;
using latchkey::test::TempDir;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

// The line of the server's stdout that starts with `{"platform"`, parsed; null if none.
json platform_line(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("{\"platform\"", 0) == 0) return json::parse(line);
  }
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(upgrade)

BOOST_AUTO_TEST_CASE(a_data_directory_from_before_projects_opens_as_the_default_project) {
  TempDir dir;
  const auto untar =
      run_command({"tar", "xzf", std::string(LATCHKEY_FIXTURES) + "/data-before-projects.tar.gz",
                   "-C", dir.path()});
  BOOST_TEST_REQUIRE(untar.exit_code == 0, untar.err);
  const std::string data = dir / "data";
  const json user_key = read_json(dir / "userkey.json");

  // The old chain verifies as it was written.
  const auto before = run_latchkey({"verify", "--data", data});
  BOOST_TEST(before.out.find("ok: 8 events") != std::string::npos, before.out);
  const auto old_head = run_latchkey({"audit", "--data", data, "--format", "json", "--limit", "8"});
  const json old_events = json::parse(old_head.out).at("events");
  BOOST_TEST_REQUIRE(old_events.size() == 8u);

  ServerProcess::Options o;
  o.data_dir = data;
  {
    ServerProcess server(o);
    Client client(server);
    // The first start made the platform, registered the default project and
    // printed the first operator's keys, once.
    const json printed = platform_line(server.stdout_text());
    BOOST_TEST_REQUIRE(printed.is_object(), server.stdout_text());
    const json op_keys = printed.at("platform");
    const auto op_login = client.post("/platform/login",
                                      {{"auth_mode", "apikey"},
                                       {"apikey", op_keys.at("apikey")},
                                       {"secretkey", op_keys.at("secretkey")}},
                                      "");
    BOOST_TEST_REQUIRE(op_login.status == 200, op_login.body);
    const std::string op = op_login.json().at("access_token");
    const auto projects = client.get("/platform/projects", op);
    BOOST_TEST_REQUIRE(projects.status == 200, projects.body);
    BOOST_TEST(projects.json().at("items").size() == 1u);
    BOOST_TEST(projects.json().at("items").at(0).at("id") == "default");
    const auto usage = client.get("/platform/projects/default", op).json().at("usage");
    BOOST_TEST(usage.at("principals") == 2);  // the first admin and Ada
    BOOST_TEST(usage.at("events") >= 8);

    // The old key still logs in (until it expires, in December 2027), on the
    // bare host and at the default project's subdomain alike.
    const auto login = client.login_raw(user_key.at("apikey"), user_key.at("secretkey"));
    const bool expired = latchkey::SystemClock().now() >=
                         *latchkey::parse_rfc3339(user_key.at("expires_at").get<std::string>());
    if (!expired) {
      BOOST_TEST_REQUIRE(login.status == 200, login.body);
      const auto me = client.get("/iam/me", login.json().at("access_token"));
      BOOST_TEST(me.json().at("name") == "Ada Fixture");
      const auto sub = client.call("POST", "/iam/login",
                                   json({{"auth_mode", "apikey"},
                                         {"apikey", user_key.at("apikey")},
                                         {"secretkey", user_key.at("secretkey")}})
                                       .dump(),
                                   {"Host: default.localhost:" + std::to_string(server.port()),
                                    "Content-Type: application/json"});
      BOOST_TEST(sub.status == 200, sub.body);
    } else {
      BOOST_TEST(login.status == 401);
    }
    BOOST_TEST(server.stop() == 0);
  }

  // The first eight events are untouched, and every chain verifies.
  const auto after = run_latchkey({"audit", "--data", data, "--format", "json", "--limit", "8"});
  BOOST_TEST(json::parse(after.out).at("events") == old_events);
  const auto verified = run_latchkey({"verify", "--data", data});
  BOOST_TEST(verified.out.find("platform: ok") != std::string::npos, verified.out);

  // A second start prints no keys again.
  ServerProcess again(o);
  BOOST_TEST(platform_line(again.stdout_text()).is_null());
  BOOST_TEST(again.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
