// POST /iam/users|service-accounts/{id}/erase: crypto-shredding. After it the
// principal's name, email, key descriptions and source addresses read
// "[erased]" in the audit, replay and exports, the chain still verifies, and
// no file of the data directory, its backup or the server's logs holds the
// erased name or email in clear (docs/data-lifecycle.md).
#include <atomic>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "tests/e2e/e2e.h"
#include "tests/support/temp_dir.h"

namespace latchkey::e2e {
namespace {

const json* find_principal(const json& state, const std::string& id) {
  for (const auto& p : state.at("principals")) {
    if (p.at("id") == id) return &p;
  }
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(erasure)

BOOST_AUTO_TEST_CASE(an_erased_principal_leaves_its_data_nowhere_in_clear) {
  ServerProcess::Options o;
  // Snapshots every few events: some are taken while the name is still live.
  o.env["LATCHKEY_DATA_SNAPSHOT_EVERY_EVENTS"] = "4";
  ServerProcess server(o);
  Client client(server);
  const std::string admin = server.admin_token();
  const std::string name = unique("Zelda Quixotic ");
  const std::string email = unique("zelda.quixotic.") + "@example.org";
  const std::string kept_name = unique("Kept Person ");
  const auto user = client.create_user(admin, name, email, {"auditor"});
  const auto kept = client.create_user(admin, kept_name, unique("kept.") + "@example.org");
  const Key key = client.create_key(admin, user, {{"description", "laptop of " + name}});
  const std::string user_token = client.login(key);
  for (int i = 0; i < 12; ++i) client.login(key);
  const auto head = [&] { return client.get("/readyz", "").json().at("seq").get<std::uint64_t>(); };
  const std::uint64_t before_erasure = head();
  const std::string data = server.data_dir();

  // The control: the search finds the name while it is live (in a snapshot).
  BOOST_TEST_REQUIRE(eventually([&] { return !test::files_containing(data, name).empty(); }),
                     "no snapshot holds the live name: the search below would prove nothing");

  const auto erased = client.post_empty(user.base + "/erase", admin);
  BOOST_TEST_REQUIRE(erased.status == 200, erased.body);
  BOOST_TEST(erased.json().at("erased") == true);
  // Again: nothing more is appended.
  const std::uint64_t after_erasure = head();
  BOOST_TEST(client.post_empty(user.base + "/erase", admin).status == 200);
  BOOST_TEST(head() == after_erasure);

  // Deleted with it: its key no longer logs in, its token is refused.
  BOOST_TEST(client.login_raw(key.apikey, key.secretkey).status == 401);
  expect_error(client.get(user.base, admin), 404, "not_found");

  // The audit: its events are there, their personal fields are not.
  const auto audit = client.get("/iam/audit?principal_id=" + user.id + "&limit=100", admin);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json audit_doc = audit.json();
  std::set<std::string> types;
  for (const auto& e : audit_doc.at("events")) {
    const std::string type = e.at("type");
    types.insert(type);
    if (type == "user.created") {
      BOOST_TEST(e.at("data").at("name") == "[erased]");
      BOOST_TEST(e.at("data").at("email") == "[erased]");
      BOOST_TEST(e.at("source_ip") == "127.0.0.1");  // the admin's address, not the user's
    }
    if (type == "key.created") BOOST_TEST(e.at("data").at("description") == "[erased]");
    if (type == "token.issued") BOOST_TEST(e.at("source_ip") == "[erased]");
  }
  BOOST_TEST(types.count("user.created") == 1);
  BOOST_TEST(types.count("token.issued") == 1);
  BOOST_TEST(types.count("user.deleted") == 1);
  BOOST_TEST(types.count("principal.erased") == 1);
  BOOST_TEST(audit.body.find(name) == std::string::npos);
  BOOST_TEST(audit.body.find(email) == std::string::npos);

  // Replay before the erasure, from a snapshot taken then: erased as well.
  const auto then = client.get("/iam/replay/state?at=" + std::to_string(before_erasure), admin);
  BOOST_TEST_REQUIRE(then.status == 200, then.body);
  const json then_doc = then.json();
  const json* p = find_principal(then_doc, user.id);
  BOOST_TEST_REQUIRE(p != nullptr, then.body);
  BOOST_TEST(p->at("name") == "[erased]");
  BOOST_TEST(then.body.find(name) == std::string::npos);
  BOOST_TEST(then.body.find(kept_name) != std::string::npos);  // others are untouched

  // Its export (art. 15) shows what is left.
  const auto exported = client.get(user.base + "/export", admin);
  BOOST_TEST_REQUIRE(exported.status == 200, exported.body);
  BOOST_TEST(exported.json().at("principal").at("email") == "[erased]");
  BOOST_TEST(exported.body.find(email) == std::string::npos);

  // Other principals keep their data.
  BOOST_TEST(client.get(kept.base, admin).json().at("name") == kept_name);

  // Service accounts too; unknown ids, the wrong kind and non-admins are refused.
  const std::string robot = unique("Robot Quixotic ");
  const auto sa = client.create_service_account(admin, robot);
  BOOST_TEST(client.post_empty(sa.base + "/erase", admin).status == 200);
  expect_error(client.post_empty("/iam/users/usr_0000000000000000/erase", admin), 404, "not_found");
  expect_error(client.post_empty("/iam/service-accounts/" + kept.id + "/erase", admin), 404,
               "not_found");
  const auto reader =
      client.create_user(admin, unique("reader "), unique("r.") + "@example.com", {"auditor"});
  const std::string reader_token = client.login(client.create_key(admin, reader));
  expect_error(client.post_empty(kept.base + "/erase", reader_token), 403, "forbidden");
  (void)user_token;

  // Byte by byte: the data directory while serving, then after a stop.
  BOOST_TEST(test::files_containing(data, name).empty());
  BOOST_TEST(test::files_containing(data, email).empty());
  BOOST_TEST(test::files_containing(data, robot).empty());
  BOOST_TEST(server.stop() == 0);
  for (const std::string& needle : {name, email, robot}) {
    BOOST_TEST(test::files_containing(data, needle).empty(), needle);
    BOOST_TEST(server.stderr_text().find(needle) == std::string::npos);
    BOOST_TEST(server.stdout_text().find(needle) == std::string::npos);
  }
  BOOST_TEST(!test::files_containing(data, kept_name).empty());  // the search still works

  // The chain verifies: it hashes the sealed bytes, which did not change.
  const auto verified = test::run_latchkey({"verify", "--data", data});
  BOOST_TEST(verified.exit_code == 0, verified.err);

  // A backup holds nothing of them either, and, restored, the erased stay erased.
  test::TempDir backups;
  const std::string backup = backups / "b";
  test::run_latchkey({"backup", "--data", data, "--to", backup});
  for (const std::string& needle : {name, email, robot}) {
    BOOST_TEST(test::files_containing(backup, needle).empty(), needle);
  }
  ServerProcess::Options restored_options;
  restored_options.data_dir = backup;
  ServerProcess restored(restored_options);
  Client again(restored);
  const std::string admin2 = again.login(server.admin().apikey, server.admin().secretkey);
  const auto audit2 = again.get("/iam/audit?principal_id=" + user.id + "&limit=100", admin2);
  BOOST_TEST_REQUIRE(audit2.status == 200, audit2.body);
  BOOST_TEST(audit2.body.find("[erased]") != std::string::npos);
  BOOST_TEST(audit2.body.find(name) == std::string::npos);
  BOOST_TEST(again.get(kept.base, admin2).json().at("name") == kept_name);
  BOOST_TEST(restored.stop() == 0);
}

// The restore drill: a backup taken while logins run restores into a new
// directory (`latchkey restore`), verifies, serves, holds every login
// acknowledged before the backup began, and keeps an erased user erased.
BOOST_AUTO_TEST_CASE(a_backup_under_load_restores_verifies_serves_and_stays_erased) {
  ServerProcess server;
  Client client(server);
  const std::string admin = server.admin_token();
  const auto user = client.create_user(admin, unique("Kept "), unique("kept.") + "@example.org");
  const Key key = client.create_key(admin, user);
  const std::string name = unique("Erased Drill ");
  const std::string email = unique("erased.drill.") + "@example.org";
  const auto gone = client.create_user(admin, name, email);
  client.login(client.create_key(admin, gone));
  BOOST_TEST_REQUIRE(client.post_empty(gone.base + "/erase", admin).status == 200);

  std::mutex mu;
  std::vector<std::string> acked;  // the tokens of 200s, in order
  std::atomic<bool> running{true};
  std::atomic<int> failures{0};
  std::thread load([&] {
    // The plain client: Client checks each answer with Boost.Test, which is
    // not thread-safe.
    const json body = {
        {"auth_mode", "apikey"}, {"apikey", key.apikey}, {"secretkey", key.secretkey}};
    while (running) {
      const auto r = test::post_json(server.url("/iam/login"), body);
      if (r.status != 200) {
        ++failures;
        continue;
      }
      // The token's jti is read after the join (jwt_part checks with Boost.Test).
      const auto body = json::parse(r.body, nullptr, false);
      if (body.is_discarded() || !body.contains("access_token")) {
        ++failures;
        continue;
      }
      std::lock_guard lock(mu);
      acked.push_back(body["access_token"].get<std::string>());
    }
  });
  BOOST_TEST_REQUIRE(eventually([&] {
    std::lock_guard lock(mu);
    return acked.size() >= 200;
  }));
  std::vector<std::string> before;
  {
    std::lock_guard lock(mu);
    before = acked;
  }
  test::TempDir dir;
  const auto backup =
      test::run_latchkey({"backup", "--data", server.data_dir(), "--to", dir / "b"});
  BOOST_TEST(backup.exit_code == 0, backup.err);
  running = false;
  load.join();
  BOOST_TEST(failures == 0);
  BOOST_TEST(server.stop() == 0);

  const std::string restored_dir = dir / "restored";
  const auto restored =
      test::run_latchkey({"restore", "--from", dir / "b", "--data", restored_dir});
  BOOST_TEST_REQUIRE(restored.exit_code == 0, restored.err);
  BOOST_TEST(restored.out.find("chains verified") != std::string::npos, restored.out);
  BOOST_TEST(test::run_latchkey({"verify", "--data", restored_dir}).exit_code == 0);
  // Every login acknowledged before the backup began is in the copy.
  const auto tokens = test::run_latchkey(
      {"audit", "--data", restored_dir, "--type", "token.issued", "--format", "ndjson"});
  std::set<std::string> jtis;
  std::istringstream lines(tokens.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) jtis.insert(json::parse(line).at("data").at("jti").get<std::string>());
  }
  std::size_t missing = 0;
  for (const auto& token : before)
    missing += jtis.count(jwt_part(token, 1).at("jti").get<std::string>()) == 0 ? 1 : 0;
  BOOST_TEST(missing == 0u, missing << " of " << before.size() << " acknowledged logins missing");
  for (const std::string& needle : {name, email}) {
    BOOST_TEST(test::files_containing(dir.path(), needle).empty(), needle);
  }
  // A restore refuses a directory in use and a copy without secrets.
  BOOST_TEST(test::run_latchkey_failing({"restore", "--from", dir / "b", "--data", restored_dir})
                 .err.find("not empty") != std::string::npos);
  test::run_latchkey({"backup", "--data", restored_dir, "--to", dir / "blind", "--no-secrets"});
  BOOST_TEST(test::run_latchkey_failing({"restore", "--from", dir / "blind", "--data", dir / "x"})
                 .err.find("--no-secrets") != std::string::npos);

  // It serves: the kept key logs in, the erased user stays erased.
  ServerProcess::Options o;
  o.data_dir = restored_dir;
  ServerProcess again(o);
  Client c(again);
  const std::string admin2 = c.login(server.admin().apikey, server.admin().secretkey);
  c.login(key);
  const auto audit = c.get("/iam/audit?principal_id=" + gone.id + "&type=user.created", admin2);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  BOOST_TEST(audit.json().at("events").at(0).at("data").at("name") == "[erased]");
  BOOST_TEST(again.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace latchkey::e2e
