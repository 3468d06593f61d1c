// Projects end to end (docs/projects.md): the platform API on the base
// domain, two projects at their subdomains on one server, and every isolation
// rule between them, including the negative ones; suspend, resume and delete;
// and a restart that keeps it all.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e.h"

using namespace latchkey::e2e;

namespace {

// Calls to one host of a server: every request carries `Host: HOST:PORT`.
struct At {
  const Client& client;
  std::string host;  // e.g. "acme.localhost:PORT"

  std::vector<std::string> with(std::vector<std::string> headers, const std::string& token,
                                bool has_body) const {
    headers.push_back("Host: " + host);
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    if (has_body) headers.push_back("Content-Type: application/json");
    return headers;
  }
  HttpResponse get(const std::string& path, const std::string& token = {},
                   std::vector<std::string> headers = {}) const {
    return client.call("GET", path, "", with(std::move(headers), token, false));
  }
  HttpResponse post(const std::string& path, const json& body,
                    const std::string& token = {}) const {
    return client.call("POST", path, body.dump(), with({}, token, true));
  }
  HttpResponse patch(const std::string& path, const json& body, const std::string& token) const {
    return client.call("PATCH", path, body.dump(), with({}, token, true));
  }
  HttpResponse del(const std::string& path, const std::string& token) const {
    return client.call("DELETE", path, "", with({}, token, false));
  }
  HttpResponse login_raw(const std::string& apikey, const std::string& secretkey,
                         const std::string& path = "/iam/login") const {
    return post(path, {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}});
  }
  std::string login(const std::string& apikey, const std::string& secretkey,
                    const std::string& path = "/iam/login") const {
    const auto r = login_raw(apikey, secretkey, path);
    BOOST_REQUIRE_MESSAGE(r.status == 200, host << path << " login: " << r.status << " " << r.body);
    return r.json().at("access_token");
  }
};

struct ProjectKeys {
  std::string id;
  std::string apikey;
  std::string secretkey;
  std::string principal_id;
};

ProjectKeys create_project(const At& platform, const std::string& token, const std::string& id,
                           const std::string& name) {
  const auto r = platform.post("/platform/projects", {{"id", id}, {"name", name}}, token);
  BOOST_REQUIRE_MESSAGE(r.status == 201, r.body);
  const json j = r.json();
  BOOST_TEST(j.at("id") == id);
  BOOST_TEST(j.at("name") == name);
  BOOST_TEST(j.at("status") == "active");
  BOOST_TEST(r.header("cache-control") == "no-store");
  return {id, j.at("admin").at("apikey"), j.at("admin").at("secretkey"),
          j.at("admin").at("principal_id")};
}

json claims_of(const std::string& token) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  std::string part = token.substr(first + 1, second - first - 1);
  for (char& c : part) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (part.size() % 4 != 0) part.push_back('=');
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : part) {
    if (c == '=') break;
    val = (val << 6) + static_cast<int>(chars.find(c));
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return json::parse(out);
}

json refusal(const HttpResponse& r) {
  json j = r.json();
  j.erase("request_id");
  return j;
}

std::vector<json> ndjson_lines(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(projects)

BOOST_AUTO_TEST_CASE(two_projects_on_one_server_share_nothing) {
  ServerProcess server;
  Client client(server);
  const std::string port = std::to_string(server.port());
  const At base{client, "localhost:" + port};
  const At acme_host{client, "acme.localhost:" + port};
  const At beta_host{client, "beta.localhost:" + port};

  // The platform: its operator logs in with the seed's body at /platform/login.
  BOOST_TEST_REQUIRE(!server.platform().apikey.empty());
  const std::string op =
      base.login(server.platform().apikey, server.platform().secretkey, "/platform/login");
  // Only the platform's operators manage projects.
  BOOST_TEST(base.get("/platform/projects").status == 401);
  const std::string default_admin = base.login(server.admin().apikey, server.admin().secretkey);
  BOOST_TEST(base.get("/platform/projects", default_admin).status == 401);
  // And the operator's keys are not a project's.
  BOOST_TEST(base.login_raw(server.platform().apikey, server.platform().secretkey).status == 401);

  const ProjectKeys acme = create_project(base, op, "acme", "Acme Corp");
  const ProjectKeys beta = create_project(base, op, "beta", "Beta Ltd");
  // Bad input changes nothing.
  BOOST_TEST(base.post("/platform/projects", {{"id", "acme"}, {"name", "Again"}}, op).status ==
             409);
  BOOST_TEST(base.post("/platform/projects", {{"id", "Bad_Id"}}, op).status == 400);
  BOOST_TEST(base.post("/platform/projects", {{"id", "-acme"}}, op).status == 400);
  BOOST_TEST(base.post("/platform/projects", {{"id", "www"}}, op).status == 400);
  BOOST_TEST(base.post("/platform/projects", {{"id", std::string(64, 'a')}}, op).status == 400);
  BOOST_TEST(base.post("/platform/projects", {{"id", "ok"}, {"colour", "red"}}, op).status == 400);
  // The platform API is not served at a project's host.
  BOOST_TEST(acme_host.get("/platform/projects", op).status == 404);

  // Each project: its own login, its own issuer and signing keys.
  const std::string acme_admin = acme_host.login(acme.apikey, acme.secretkey);
  const std::string beta_admin = beta_host.login(beta.apikey, beta.secretkey);
  BOOST_TEST(claims_of(acme_admin).at("iss") == "http://acme.localhost:" + port);
  BOOST_TEST(claims_of(beta_admin).at("iss") == "http://beta.localhost:" + port);
  const json acme_jwks = acme_host.get("/iam/.well-known/jwks.json").json();
  const json beta_jwks = beta_host.get("/iam/.well-known/jwks.json").json();
  BOOST_TEST(acme_jwks.at("keys").at(0).at("kid") != beta_jwks.at("keys").at(0).at("kid"));

  // A key of one project fails at another exactly as an unknown key does.
  const auto cross = beta_host.login_raw(acme.apikey, acme.secretkey);
  const auto unknown = beta_host.login_raw("lk_000000000000000000000000", acme.secretkey);
  BOOST_TEST(cross.status == 401);
  BOOST_TEST(refusal(cross) == refusal(unknown));
  BOOST_TEST(base.login_raw(acme.apikey, acme.secretkey).status == 401);  // nor at the default
  // A token of one project is 401 at another's API, and inactive at its introspection.
  BOOST_TEST(beta_host.get("/iam/users", acme_admin).status == 401);
  BOOST_TEST(base.get("/iam/users", acme_admin).status == 401);
  const auto introspected = beta_host.post("/iam/introspect", {{"token", acme_admin}}, beta_admin);
  BOOST_TEST_REQUIRE(introspected.status == 200);
  BOOST_TEST(introspected.json() == json({{"active", false}}));
  BOOST_TEST(
      acme_host.post("/iam/introspect", {{"token", acme_admin}}, acme_admin).json().at("active") ==
      true);

  // What one project creates, no other sees.
  const auto ann =
      acme_host.post("/iam/users", {{"name", "Ann Acme"}, {"email", "ann@acme.test"}}, acme_admin);
  BOOST_TEST_REQUIRE(ann.status == 201, ann.body);
  const std::string ann_id = ann.json().at("id");
  BOOST_TEST(acme_host.get("/iam/users/" + ann_id, acme_admin).status == 200);
  BOOST_TEST(beta_host.get("/iam/users/" + ann_id, beta_admin).status == 404);
  BOOST_TEST(base.get("/iam/users/" + ann_id, default_admin).status == 404);
  BOOST_TEST(beta_host.get("/iam/users", beta_admin).json().at("items").size() == 0u);

  // Settings are per project.
  BOOST_TEST(
      acme_host.patch("/iam/settings", {{"token_lifetime_seconds", 600}}, acme_admin).status ==
      200);
  BOOST_TEST(beta_host.get("/iam/settings", beta_admin).json().at("token_lifetime_seconds") != 600);

  // Audit and replay: none of acme's events at beta, not even as a count.
  const auto beta_audit = beta_host.get("/iam/audit?limit=1000", beta_admin);
  BOOST_TEST_REQUIRE(beta_audit.status == 200);
  const json beta_events = beta_audit.json().at("events");
  for (const auto& e : beta_events) {
    BOOST_TEST(e.dump().find(ann_id) == std::string::npos);
    if (e.at("type") == "login.failed") {
      // The attempt made above with acme's key is beta's own record of an
      // unknown key, as for any other string presented as one.
      BOOST_TEST(e.at("data").at("reason") == "unknown_key");
      BOOST_TEST(e.at("data").at("principal_id") == "");
    } else {
      BOOST_TEST(e.dump().find(acme.apikey) == std::string::npos);
    }
  }
  const auto beta_state =
      beta_host.get("/iam/replay/state?at=" + std::to_string(1000000), beta_admin);
  BOOST_TEST_REQUIRE(beta_state.status == 200, beta_state.body);
  BOOST_TEST(beta_state.body.find(ann_id) == std::string::npos);
  BOOST_TEST(beta_state.body.find("Ann Acme") == std::string::npos);
  // Each project's sequence starts at 1: beta's audit counts only its own events.
  const auto first = beta_host.get("/iam/audit?limit=1", beta_admin).json().at("events").at(0);
  BOOST_TEST(first.at("seq") == 1);
  BOOST_TEST(first.at("type") == "system.initialized");

  // Unknown project: 404 not_found, for its API and its console.
  const At nope{client, "nope.localhost:" + port};
  const auto missing = nope.login_raw(acme.apikey, acme.secretkey);
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(missing.json().at("error") == "not_found");
  BOOST_TEST(nope.get("/console/").status == 404);
  BOOST_TEST(acme_host.get("/console/").status == 200);

  // The platform: list with search and cursor, one with its usage.
  const auto all = base.get("/platform/projects", op).json();
  std::vector<std::string> ids;
  for (const auto& p : all.at("items")) ids.push_back(p.at("id"));
  BOOST_TEST(ids == std::vector<std::string>({"acme", "beta", "default"}));
  const auto searched = base.get("/platform/projects?search=ACME", op).json();
  BOOST_TEST(searched.at("items").size() == 1u);
  const auto page1 = base.get("/platform/projects?limit=2", op).json();
  BOOST_TEST(page1.at("items").size() == 2u);
  BOOST_TEST_REQUIRE(page1.at("next").is_string());
  const auto page2 =
      base.get("/platform/projects?limit=2&cursor=" + page1.at("next").get<std::string>(), op)
          .json();
  BOOST_TEST(page2.at("items").size() == 1u);
  BOOST_TEST(page2.at("items").at(0).at("id") == "default");
  BOOST_TEST(page2.at("next").is_null());
  const auto usage = base.get("/platform/projects/acme", op);
  BOOST_TEST_REQUIRE(usage.status == 200, usage.body);
  BOOST_TEST(usage.json().at("usage").at("principals") == 2);  // the first admin and Ann
  BOOST_TEST(usage.json().at("usage").at("tokens_issued_24h") >= 1);
  BOOST_TEST(usage.json().at("usage").at("events") >= 6);
  BOOST_TEST(base.get("/platform/projects/nope", op).status == 404);
  BOOST_TEST(base.get("/platform/projects?limit=0", op).status == 400);

  // The platform's own log says who created them.
  const auto platform_audit = base.get("/platform/audit?type=project.created", op);
  BOOST_TEST_REQUIRE(platform_audit.status == 200, platform_audit.body);
  std::vector<std::string> created;
  const json created_events = platform_audit.json().at("events");
  for (const auto& e : created_events) created.push_back(e.at("data").at("id"));
  BOOST_TEST(created == std::vector<std::string>({"default", "acme", "beta"}));
  BOOST_TEST(created_events.at(1).at("actor") == server.platform().principal_id);
}

BOOST_AUTO_TEST_CASE(suspend_resume_delete_and_a_restart) {
  ServerProcess server;
  Client client(server);
  const std::string port = std::to_string(server.port());
  const At base{client, "localhost:" + port};
  const At acme_host{client, "acme.localhost:" + port};
  const At beta_host{client, "beta.localhost:" + port};
  const std::string op =
      base.login(server.platform().apikey, server.platform().secretkey, "/platform/login");
  const ProjectKeys acme = create_project(base, op, "acme", "Acme");
  const ProjectKeys beta = create_project(base, op, "beta", "Beta");
  const std::string acme_admin = acme_host.login(acme.apikey, acme.secretkey);

  // Suspended: no token, no change; reads still answer, and its audit stays
  // readable by the platform.
  const auto suspended = base.patch("/platform/projects/acme", {{"status", "suspended"}}, op);
  BOOST_TEST_REQUIRE(suspended.status == 200, suspended.body);
  BOOST_TEST(suspended.json().at("status") == "suspended");
  BOOST_TEST(acme_host.login_raw(acme.apikey, acme.secretkey).status == 403);
  BOOST_TEST(acme_host.post("/iam/users", {{"name", "No"}}, acme_admin).status == 403);
  BOOST_TEST(acme_host.get("/iam/users", acme_admin).status == 200);
  BOOST_TEST(beta_host.login_raw(beta.apikey, beta.secretkey).status == 200);  // beta goes on
  const auto trail = base.get("/platform/projects/acme/audit?limit=100", op);
  BOOST_TEST_REQUIRE(trail.status == 200, trail.body);
  BOOST_TEST(trail.json().at("events").size() >= 5u);
  BOOST_TEST(base.patch("/platform/projects/acme", {{"status", "gone"}}, op).status == 400);

  const auto resumed =
      base.patch("/platform/projects/acme", {{"status", "active"}, {"name", "Acme Corp"}}, op);
  BOOST_TEST_REQUIRE(resumed.status == 200, resumed.body);
  BOOST_TEST(resumed.json().at("name") == "Acme Corp");
  BOOST_TEST(acme_host.login_raw(acme.apikey, acme.secretkey).status == 200);

  // The export: the whole chain, each event naming the one before.
  const auto exported =
      base.get("/platform/projects/acme/export", op, {"Accept: application/x-ndjson"});
  BOOST_TEST_REQUIRE(exported.status == 200);
  BOOST_TEST(exported.header("content-type") == "application/x-ndjson");
  const auto lines = ndjson_lines(exported.body);
  BOOST_TEST_REQUIRE(lines.size() >= 6u);
  std::string prev(64, '0');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    BOOST_TEST(lines[i].at("seq") == i + 1);
    BOOST_TEST(lines[i].at("prev_hash") == prev);
    prev = lines[i].at("hash");
  }

  // Deleted: gone at once, its id never reused, the platform's log keeps its final head.
  BOOST_TEST(base.del("/platform/projects/default", op).status == 400);
  BOOST_TEST(base.del("/platform/projects/acme", op).status == 204);
  BOOST_TEST(acme_host.login_raw(acme.apikey, acme.secretkey).status == 404);
  BOOST_TEST(acme_host.get("/iam/users", acme_admin).status == 404);
  BOOST_TEST(base.get("/platform/projects/acme", op).status == 404);
  BOOST_TEST(base.del("/platform/projects/acme", op).status == 404);
  BOOST_TEST(base.post("/platform/projects", {{"id", "acme"}}, op).status == 409);
  const auto deleted = base.get("/platform/audit?type=project.deleted", op).json().at("events");
  BOOST_TEST_REQUIRE(deleted.size() == 1u);
  BOOST_TEST(deleted.at(0).at("actor") == server.platform().principal_id);
  // The final head: the exported chain, plus what came after the export (none).
  BOOST_TEST(deleted.at(0).at("data").at("final_seq") == lines.size());
  BOOST_TEST(deleted.at(0).at("data").at("final_hash") == prev);
  BOOST_TEST(!std::filesystem::exists(server.data_dir() + "/projects/acme"));
  BOOST_TEST(std::filesystem::exists(server.data_dir() + "/projects/beta/pepper"));

  // A restart keeps all of it.
  BOOST_TEST(server.stop() == 0);
  server.start();
  Client again(server);
  const std::string port2 = std::to_string(server.port());
  const At base2{again, "localhost:" + port2};
  const At acme2{again, "acme.localhost:" + port2};
  const At beta2{again, "beta.localhost:" + port2};
  BOOST_TEST(acme2.login_raw(acme.apikey, acme.secretkey).status == 404);
  BOOST_TEST(beta2.login_raw(beta.apikey, beta.secretkey).status == 200);
  const std::string op2 =
      base2.login(server.platform().apikey, server.platform().secretkey, "/platform/login");
  const auto list = base2.get("/platform/projects", op2).json().at("items");
  BOOST_TEST(list.size() == 2u);
  // verify checks every chain, the platform's included.
  const auto verified = latchkey::test::run_latchkey({"verify", "--data", server.data_dir()});
  BOOST_TEST(verified.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(a_projects_login_rate_holds_it_back_and_not_its_neighbours) {
  ServerProcess server;
  Client client(server);
  const std::string port = std::to_string(server.port());
  const At base{client, "localhost:" + port};
  const At acme_host{client, "acme.localhost:" + port};
  const At beta_host{client, "beta.localhost:" + port};
  const std::string op =
      base.login(server.platform().apikey, server.platform().secretkey, "/platform/login");
  const ProjectKeys acme = create_project(base, op, "acme", "Acme");
  const ProjectKeys beta = create_project(base, op, "beta", "Beta");
  BOOST_TEST(base.patch("/platform/projects/acme", {{"login_rate_per_second", -1}}, op).status ==
             400);
  BOOST_TEST(
      base.patch("/platform/projects/acme", {{"login_rate_per_second", 2000000}}, op).status ==
      400);
  const auto limited = base.patch("/platform/projects/acme", {{"login_rate_per_second", 3}}, op);
  BOOST_TEST_REQUIRE(limited.status == 200, limited.body);
  BOOST_TEST(limited.json().at("login_rate_per_second") == 3);
  // A burst of one second's worth, then 429 with Retry-After.
  int ok = 0, refused = 0;
  std::string retry_after;
  for (int i = 0; i < 8; ++i) {
    const auto r = acme_host.login_raw(acme.apikey, acme.secretkey);
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      retry_after = r.header("retry-after");
      BOOST_TEST(r.json().at("error") == "too_many_requests");
    }
  }
  BOOST_TEST(ok >= 3);
  BOOST_TEST(ok <= 5);  // the burst, and at most what the pace let through meanwhile
  BOOST_TEST(refused >= 3);
  BOOST_TEST(retry_after == "1");
  // Beta is not held back.
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(beta_host.login_raw(beta.apikey, beta.secretkey).status == 200);
  // Unlimited again.
  BOOST_TEST(base.patch("/platform/projects/acme", {{"login_rate_per_second", 0}}, op).status ==
             200);
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(acme_host.login_raw(acme.apikey, acme.secretkey).status == 200);
  const auto updated = base.get("/platform/audit?type=project.updated", op).json().at("events");
  BOOST_TEST_REQUIRE(updated.size() == 2u);
  BOOST_TEST(updated.at(0).at("data").at("login_rate_per_second") == 3);
  BOOST_TEST(updated.at(1).at("data").at("old_login_rate_per_second") == 3);
}

// A project's own archive_after_days (the platform API): its events move to
// archive segments while the server's setting (none) holds for the others.
BOOST_AUTO_TEST_CASE(a_project_archives_on_its_own_settings) {
  ServerProcess::Options o;
  o.env["LATCHKEY_DATA_ARCHIVE_CHECK_SECONDS"] = "1";
  o.env["LATCHKEY_DATA_ARCHIVE_MIN_EVENTS"] = "1";
  ServerProcess server(o);
  Client client(server);
  const std::string port = std::to_string(server.port());
  const At base{client, "localhost:" + port};
  const At arch_host{client, "arch.localhost:" + port};
  const At keep_host{client, "keep.localhost:" + port};
  const std::string op =
      base.login(server.platform().apikey, server.platform().secretkey, "/platform/login");
  const ProjectKeys arch = create_project(base, op, "arch", "Archiving");
  const ProjectKeys keep = create_project(base, op, "keep", "Keeping");
  // Bad values are refused and change nothing.
  BOOST_TEST(base.patch("/platform/projects/arch", {{"archive_after_days", -1}}, op).status == 400);
  BOOST_TEST(base.patch("/platform/projects/arch", {{"archive_after_days", "soon"}}, op).status ==
             400);
  BOOST_TEST(
      base.patch("/platform/projects/arch", {{"archive_after_days", 10}, {"retention_days", 5}}, op)
          .status == 400);
  BOOST_TEST(base.get("/platform/projects/arch", op).json().at("archive_after_days") == 0);
  const auto set = base.patch("/platform/projects/arch", {{"archive_after_days", 0.00001}}, op);
  BOOST_TEST_REQUIRE(set.status == 200, set.body);
  const json after = base.get("/platform/projects/arch", op).json();
  BOOST_TEST(after.at("archive_after_days").get<double>() > 0);
  BOOST_TEST(after.at("retention_days").get<double>() == 0);
  for (int i = 0; i < 5; ++i) {
    arch_host.login(arch.apikey, arch.secretkey);
    keep_host.login(keep.apikey, keep.secretkey);
  }
  const std::string data = server.data_dir();
  const auto segments = [&](const std::string& project) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(data + "/archive/" + project, ec)) {
      n += f.path().extension() == ".lka" ? 1 : 0;
    }
    return n;
  };
  BOOST_TEST_REQUIRE(eventually([&] { return segments("arch") >= 1; }, std::chrono::seconds(30)));
  BOOST_TEST(segments("keep") == 0u);
  BOOST_TEST(segments("default") == 0u);
  // Its audit reads on across the cut, from the first event.
  const std::string admin = arch_host.login(arch.apikey, arch.secretkey);
  const auto audit = arch_host.get("/iam/audit?limit=1000", admin);
  BOOST_TEST_REQUIRE(audit.status == 200, audit.body);
  const json doc = audit.json();
  BOOST_TEST(doc.at("events").at(0).at("seq") == 1);
  // A quiet project stops growing segments: the cut events the archiver
  // appended are not archived on their own, one segment per pass.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const std::size_t settled = segments("arch");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  BOOST_TEST(segments("arch") == settled);
  // A project no request has opened is archived too (its retention must
  // hold as well): nothing reaches "idle" but the platform API.
  (void)create_project(base, op, "idle", "Idle");
  BOOST_TEST_REQUIRE(
      base.patch("/platform/projects/idle", {{"archive_after_days", 0.00001}}, op).status == 200);
  BOOST_TEST_REQUIRE(eventually([&] { return segments("idle") >= 1; }, std::chrono::seconds(30)));
  BOOST_TEST(segments("keep") == 0u);
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
