// Issue 5 end to end: a scripted history answered by every audit and replay
// query, over HTTP and by the offline CLI (run while the server is up), with
// equal results both ways; roles; and tampering caught by `latchkey verify`.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "base/signing.h"
#include "events/codec.h"
#include "events/testing.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"

using namespace latchkey;
using namespace latchkey::test;
using nlohmann::json;

namespace {

struct Key {
  std::string apikey, secretkey;
};

HttpResponse login_from(const ServerProcess& s, const Key& k, const std::string& ip,
                        const std::string& secret = {}) {
  HttpOptions o;
  o.headers = {"Content-Type: application/json"};
  o.source_ip = ip;
  const json body = {{"auth_mode", "apikey"},
                     {"apikey", k.apikey},
                     {"secretkey", secret.empty() ? k.secretkey : secret}};
  return http("POST", s.url("/iam/login"), body.dump(), o);
}

json cli_json(const std::vector<std::string>& args) {
  const auto r = run_latchkey(args);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "latchkey " << args[0] << " failed: " << r.err);
  return json::parse(r.out);
}

std::vector<std::uint64_t> seqs(const json& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e["seq"]);
  return out;
}

// The history every test below reads.
struct Scripted {
  ServerProcess server{ServerProcess::Options{
      {"--set", "checkpoints.every_events=5", "--set", "checkpoints.every_seconds=0"},
      {},
      {},
      false}};
  std::string admin_token = server.admin_token();
  std::string ann, bob, ci;
  Key k1, k2, kb;
  std::string t_mid;  // an instant between the last login and the deletion
  std::uint64_t seq_mid = 0;

  Scripted() {
    ann = create("/iam/users", {{"name", "Ann Lee"}, {"email", "ann@example.com"}});
    bob = create("/iam/users",
                 {{"name", "Bob Audit"}, {"email", "bob@example.com"}, {"roles", {"auditor"}}});
    ci = create("/iam/service-accounts", {{"name", "ci"}});
    k1 = key("/iam/users/" + ann + "/keys");
    k2 = key("/iam/service-accounts/" + ci + "/keys");
    kb = key("/iam/users/" + bob + "/keys");
    BOOST_REQUIRE(login_from(server, k1, "127.0.0.2").status == 200);
    BOOST_REQUIRE(login_from(server, k1, "127.0.0.2").status == 200);
    BOOST_REQUIRE(login_from(server, k1, "127.0.0.3").status == 200);
    BOOST_REQUIRE(login_from(server, k2, "127.0.0.4").status == 200);
    BOOST_REQUIRE(login_from(server, k1, "127.0.0.9", k2.secretkey).status ==
                  401);  // a real secret, not k1's
    // The instant between two events: nothing happens for 200 ms around it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto last =
        get(server.url("/iam/audit?order=desc&limit=1"), admin_token).json()["events"][0];
    seq_mid = last["seq"];
    const Micros t_last = *parse_rfc3339(last["time"].get<std::string>());
    t_mid = format_rfc3339(t_last + 100 * 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    BOOST_REQUIRE(del(server.url("/iam/users/" + ann + "/keys/" + k1.apikey), admin_token).status ==
                  204);
    BOOST_REQUIRE(
        patch_json(server.url("/iam/settings"), {{"token_lifetime_seconds", 600}}, admin_token)
            .status == 200);
    BOOST_REQUIRE(login_from(server, k1, "127.0.0.2").status == 401);
  }

  std::string create(const std::string& path, const json& body) {
    const auto r = post_json(server.url(path), body, admin_token);
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.body);
    return r.json()["id"];
  }
  Key key(const std::string& path) {
    const auto r = post_json(server.url(path), json::object(), admin_token);
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.body);
    return Key{r.json()["apikey"], r.json()["secretkey"]};
  }
  json audit(const std::string& query) {
    const auto r = get(server.url("/iam/audit?" + query), admin_token);
    BOOST_REQUIRE_MESSAGE(r.status == 200, r.body);
    return r.json();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_and_replay)

BOOST_AUTO_TEST_CASE(every_query_answers_the_history_alike_over_http_and_the_cli) {
  Scripted s;
  const std::string data = s.server.data_dir();

  // A key's timeline: creation with actor and source, each token with its
  // address, the failed logins, the deletion.
  const auto tl = get(s.server.url("/iam/keys/" + s.k1.apikey + "/timeline"), s.admin_token).json();
  std::vector<std::string> types;
  std::multiset<std::string> token_sources;
  for (const auto& e : tl["events"]) {
    types.push_back(e["type"]);
    if (e["type"] == "token.issued") token_sources.insert(e["source_ip"].get<std::string>());
  }
  BOOST_TEST(types == (std::vector<std::string>{"key.created", "token.issued", "token.issued",
                                                "token.issued", "login.failed", "key.deleted",
                                                "login.failed"}),
             boost::test_tools::per_element());
  BOOST_TEST(tl["events"][0]["actor"] == s.server.admin().principal_id);
  BOOST_TEST(tl["events"][0]["source_ip"] == "127.0.0.1");
  BOOST_TEST((token_sources == std::multiset<std::string>{"127.0.0.2", "127.0.0.2", "127.0.0.3"}));
  BOOST_TEST(tl["events"][4]["source_ip"] == "127.0.0.9");
  BOOST_TEST(tl["events"][4]["data"]["reason"] == "wrong_secret");
  BOOST_TEST(tl["events"][6]["data"]["reason"] == "deleted");
  const auto cli_tl =
      cli_json({"replay", "timeline", "--data", data, "--apikey", s.k1.apikey, "--format", "json"});
  BOOST_TEST(cli_tl["events"] == tl["events"]);

  // Filters combine, and HTTP and CLI agree on each.
  struct Q {
    std::string http;
    std::vector<std::string> cli;
    std::size_t expect;
  };
  const std::vector<Q> queries = {
      {"apikey=" + s.k1.apikey + "&type=token.issued",
       {"--apikey", s.k1.apikey, "--type", "token.issued"},
       3},
      {"principal_id=" + s.ann + "&type=login.failed",
       {"--principal-id", s.ann, "--type", "login.failed"},
       2},
      {"actor=" + s.server.admin().principal_id + "&type=key.created",
       {"--actor", s.server.admin().principal_id, "--type", "key.created"},
       3},
      {"apikey=" + s.k1.apikey + "&from=" + s.t_mid,
       {"--apikey", s.k1.apikey, "--from", s.t_mid},
       2},
      {"apikey=" + s.k2.apikey + "&to=" + s.t_mid, {"--apikey", s.k2.apikey, "--to", s.t_mid}, 2},
      {"type=settings.changed", {"--type", "settings.changed"}, 1},
  };
  for (const auto& q : queries) {
    BOOST_TEST_CONTEXT(q.http) {
      const auto h = s.audit(q.http + "&limit=1000");
      BOOST_TEST(h["events"].size() == q.expect);
      std::vector<std::string> args{"audit", "--data", data, "--format", "json", "--limit", "1000"};
      args.insert(args.end(), q.cli.begin(), q.cli.end());
      BOOST_TEST(cli_json(args)["events"] == h["events"]);
    }
  }
  const auto settings = s.audit("type=settings.changed")["events"][0]["data"]["changes"][0];
  BOOST_TEST(settings["name"] == "token_lifetime_seconds");
  BOOST_TEST(settings["old"] == 3600);
  BOOST_TEST(settings["new"] == 600);

  // Pagination returns every event once, forwards and backwards, over HTTP.
  const auto everything = s.audit("principal_id=" + s.ann + "&limit=1000")["events"];
  BOOST_REQUIRE(everything.size() >= 8u);
  for (const std::string order : {"asc", "desc"}) {
    std::vector<std::uint64_t> got;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      std::string q = "principal_id=" + s.ann + "&limit=3&order=" + order;
      if (!cursor.empty()) q += (order == "asc" ? "&after=" : "&before=") + cursor;
      const auto p = s.audit(q);
      for (auto seq : seqs(p["events"])) got.push_back(seq);
      if (p["next"].is_null()) break;
      cursor = p["next"];
    }
    auto expect = seqs(everything);
    if (order == "desc") std::reverse(expect.begin(), expect.end());
    BOOST_TEST(got == expect, boost::test_tools::per_element());
  }

  // The NDJSON export streams the same events.
  HttpOptions nd;
  nd.headers = {"Authorization: Bearer " + s.admin_token, "Accept: application/x-ndjson"};
  const auto stream = http("GET", s.server.url("/iam/audit?principal_id=" + s.ann), {}, nd);
  BOOST_TEST(stream.status == 200);
  BOOST_TEST(stream.header("content-type") == "application/x-ndjson");
  std::istringstream lines(stream.body);
  std::string line;
  json streamed = json::array();
  while (std::getline(lines, line)) streamed.push_back(json::parse(line));
  BOOST_TEST(streamed == everything);

  // Replay at the instant between the last login and the deletion: the state then.
  const auto then = get(s.server.url("/iam/replay/state?at=" + s.t_mid), s.admin_token).json();
  const auto now = get(s.server.url("/iam/replay/state?at=" + format_rfc3339(SystemClock().now())),
                       s.admin_token)
                       .json();
  auto key_in = [](const json& state, const std::string& apikey) {
    for (const auto& k : state["keys"]) {
      if (k["apikey"] == apikey) return k;
    }
    return json();
  };
  BOOST_TEST(key_in(then, s.k1.apikey)["status"] == "active");
  BOOST_TEST(key_in(then, s.k1.apikey)["can_log_in"] == true);
  BOOST_TEST(then["settings"]["token_lifetime_seconds"] == 3600);
  BOOST_TEST(key_in(now, s.k1.apikey)["status"] == "deleted");
  BOOST_TEST(now["settings"]["token_lifetime_seconds"] == 600);
  std::size_t live_k1 = 0;
  for (const auto& t : then["live_tokens"]) live_k1 += t["apikey"] == s.k1.apikey;
  BOOST_TEST(live_k1 == 3u);
  const auto cli_then =
      cli_json({"replay", "state", "--data", data, "--at", s.t_mid, "--format", "json"});
  BOOST_TEST(cli_then == then);

  // What changed between the two instants.
  const std::string t_now = now["at"];
  const auto diff =
      get(s.server.url("/iam/replay/diff?from=" + s.t_mid + "&to=" + t_now), s.admin_token).json();
  BOOST_REQUIRE(diff["keys"].size() == 1u);
  BOOST_TEST(diff["keys"][0]["change"] == "deleted");
  BOOST_TEST(diff["keys"][0]["apikey"] == s.k1.apikey);
  BOOST_TEST(diff["settings"][0]["new"] == 600);
  BOOST_TEST(diff["failed_logins"]["by_key"][s.k1.apikey] == 1);
  BOOST_TEST(cli_json({"replay", "diff", "--data", data, "--from", s.t_mid, "--to", t_now}) ==
             diff);

  // Reading the audit log is itself recorded, with the reader and the filters.
  const auto reads = s.audit("type=audit.read&limit=1000")["events"];
  BOOST_REQUIRE(reads.size() >= 10u);
  BOOST_TEST(reads[0]["actor"] == s.server.admin().principal_id);
  bool saw_filter = false;
  for (const auto& r : reads)
    saw_filter |= r["data"]["filters"].get<std::string>().find(s.k1.apikey) != std::string::npos;
  BOOST_TEST(saw_filter);
}

BOOST_AUTO_TEST_CASE(an_auditor_reads_but_changes_nothing_and_strangers_get_401) {
  Scripted s;
  const std::string auditor = s.server.login(s.kb.apikey, s.kb.secretkey);
  // Each read answers with the history (a status alone would pass an empty
  // or wrong answer): what the auditor is shown is checked against the script.
  const std::vector<std::pair<std::string, std::function<bool(const json&)>>> reads = {
      {"/iam/audit?type=key.created",
       [&](const json& j) {
         return j["events"].size() == 4u && j["events"][3]["data"]["apikey"] == s.kb.apikey;
       }},
      {"/iam/replay/state?at=1", [](const json& j) { return j["seq"] == 1 && j["keys"].empty(); }},
      {"/iam/replay/diff?from=1&to=5",
       [](const json& j) { return j.is_object() && j.contains("keys"); }},
      {"/iam/keys/" + s.k2.apikey + "/timeline",
       [&](const json& j) {
         return j["apikey"] == s.k2.apikey && j["events"].size() == 2u &&
                j["events"][0]["type"] == "key.created" && j["events"][1]["type"] == "token.issued";
       }},
      {"/iam/settings", [](const json& j) { return j["token_lifetime_seconds"] == 600; }},
  };
  for (const auto& [path, holds] : reads) {
    BOOST_TEST_CONTEXT(path) {
      const auto r = get(s.server.url(path), auditor);
      BOOST_TEST_REQUIRE(r.status == 200, r.body);
      BOOST_TEST(holds(r.json()), r.body.substr(0, 400));
      const auto anon = get(s.server.url(path));
      BOOST_TEST(anon.status == 401);
      BOOST_TEST(anon.json()["error"] == "unauthorized");
    }
  }
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"POST", "/iam/users"},
      {"PATCH", "/iam/settings"},
      {"POST", "/iam/service-accounts/" + s.ci + "/keys"},
      {"DELETE", "/iam/service-accounts/" + s.ci + "/keys/" + s.k2.apikey},
      {"POST", "/iam/service-accounts/" + s.ci + "/keys/" + s.k2.apikey + "/disable"},
      {"DELETE", "/iam/users/" + s.ann},
      {"GET", "/iam/users"},
      {"POST", "/iam/signing-keys/rotate"},
  };
  for (const auto& [method, path] : changes) {
    BOOST_TEST_CONTEXT(method << " " << path) {
      HttpOptions o;
      o.headers = {"Authorization: Bearer " + auditor, "Content-Type: application/json"};
      const auto r =
          http(method, s.server.url(path), method == "GET" || method == "DELETE" ? "" : "{}", o);
      BOOST_TEST(r.status == 403);
      BOOST_TEST(r.json()["error"] == "forbidden");
    }
  }
  // And nothing changed: k2 still logs in.
  BOOST_TEST(login_from(s.server, s.k2, "127.0.0.4").status == 200);
}

BOOST_AUTO_TEST_CASE(verify_catches_tampering_and_a_forged_checkpoint) {
  Scripted s;
  const std::string data = s.server.data_dir();
  // Checkpoints come every 5 events (each poll below adds an audit.read).
  for (int i = 0; i < 100 && s.audit("type=checkpoint")["events"].size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // While serving: verify works read-only, and the checkpoints' signatures check out.
  const auto jwks = run_latchkey({"jwks", "--all", "--data", data});
  BOOST_REQUIRE(jwks.exit_code == 0);
  TempDir tmp;
  { std::ofstream(tmp / "jwks.json") << jwks.out; }
  const auto ok =
      cli_json({"verify", "--data", data, "--jwks", tmp / "jwks.json", "--format", "json"});
  BOOST_TEST(ok["ok"] == true);
  BOOST_TEST(ok["checkpoints"].get<int>() >= 2);
  BOOST_TEST(ok["checkpoints_signature_verified"] == ok["checkpoints"]);
  const auto backup =
      run_latchkey({"backup", "--data", data, "--to", tmp / "copy", "--no-secrets"});
  BOOST_REQUIRE_MESSAGE(backup.exit_code == 0, backup.err);
  BOOST_TEST(s.server.stop() == 0);

  // One changed byte in a stored event: verify fails and names it.
  BOOST_REQUIRE(events::testing::flip_byte(data + "/log", 10, 30));
  const auto bad = run_latchkey_failing({"verify", "--data", data});
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("at seq 10") != std::string::npos);

  // On the copy: history rewritten with the chain recomputed and the
  // checkpoints re-signed by a forger's key. The chain alone verifies; the
  // public keys do not.
  const std::string copy = tmp / "copy";
  BOOST_REQUIRE(events::testing::rewrite_event(copy + "/log", 6, [](events::Event& e) {
    if (auto* k = std::get_if<events::KeyCreated>(&e.data)) k->description = "forged";
  }));
  const auto forger = SigningKey::generate(SignAlg::es256);
  std::uint64_t first_checkpoint = 0;
  BOOST_REQUIRE(events::testing::rewrite_log(copy + "/log", [&](events::Event& e,
                                                                const Digest& prev) {
    if (auto* cp = std::get_if<events::Checkpoint>(&e.data)) {
      cp->head_hash = prev;  // the forged history's head, signed by the forger
      cp->signature = base64url_encode(forger.sign(events::checkpoint_message(cp->head_seq, prev)));
      if (!first_checkpoint && e.seq > 6) first_checkpoint = e.seq;
    }
  }));
  BOOST_REQUIRE(first_checkpoint != 0);
  const auto chain_only = cli_json({"verify", "--data", copy, "--format", "json"});
  BOOST_TEST(chain_only["ok"] == true);
  const auto forged = run_latchkey_failing({"verify", "--data", copy, "--jwks", tmp / "jwks.json"});
  BOOST_TEST(forged.exit_code == 1);
  BOOST_TEST(forged.err.find("at seq " + std::to_string(first_checkpoint)) != std::string::npos);
  BOOST_TEST(forged.err.find("signature") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_open_chain_gets_signed_checkpoints_of_its_own) {
  // A project other than the default, and the platform: each chain gets
  // checkpoints signed with its own keys, which its own JWKS verifies.
  ServerProcess server{ServerProcess::Options{
      {"--set", "checkpoints.every_events=5", "--set", "checkpoints.every_seconds=0"},
      {},
      {},
      false}};
  const std::string data = server.data_dir();
  auto call = [&](const std::string& host, const std::string& method, const std::string& path,
                  const json& body, const std::string& token) {
    HttpOptions o;
    o.headers = {"Host: " + host + ":" + std::to_string(server.port())};
    if (!token.empty()) o.headers.push_back("Authorization: Bearer " + token);
    if (!body.is_null()) o.headers.push_back("Content-Type: application/json");
    const auto r = http(method, server.url(path), body.is_null() ? "" : body.dump(), o);
    BOOST_REQUIRE_MESSAGE(r.status / 100 == 2, method << " " << path << ": " << r.body);
    return r.json();
  };
  auto login = [&](const std::string& host, const std::string& path, const json& keys) {
    return call(host, "POST", path,
                {{"auth_mode", "apikey"},
                 {"apikey", keys.at("apikey")},
                 {"secretkey", keys.at("secretkey")}},
                "")
        .at("access_token")
        .get<std::string>();
  };
  const json platform_keys = {{"apikey", server.platform().apikey},
                              {"secretkey", server.platform().secretkey}};
  std::string op;
  for (int i = 0; i < 6; ++i) op = login("localhost", "/platform/login", platform_keys);
  const json acme = call("localhost", "POST", "/platform/projects", {{"id", "acme"}}, op)["admin"];
  std::string admin;
  for (int i = 0; i < 6; ++i) admin = login("acme.localhost", "/iam/login", acme);
  auto checkpoints = [&](const std::string& host, const std::string& path,
                         const std::string& token) {
    return call(host, "GET", path + "?type=checkpoint", json(), token)["events"].size();
  };
  // Each poll adds an audit read to the chain it reads.
  bool both = false;
  for (int i = 0; i < 300 && !both; ++i) {
    both = checkpoints("acme.localhost", "/iam/audit", admin) >= 1 &&
           checkpoints("localhost", "/platform/audit", op) >= 1;
    if (!both) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_TEST_REQUIRE(both);
  TempDir tmp;
  for (const std::string project : {"acme", "platform"}) {
    const auto jwks = run_latchkey({"jwks", "--all", "--data", data, "--project", project});
    BOOST_REQUIRE_MESSAGE(jwks.exit_code == 0, jwks.err);
    { std::ofstream(tmp / (project + ".json")) << jwks.out; }
    const auto ok = cli_json({"verify", "--data", data, "--project", project, "--jwks",
                              tmp / (project + ".json"), "--format", "json"});
    BOOST_TEST(ok["ok"] == true, project);
    BOOST_TEST(ok["checkpoints"].get<int>() >= 1, project);
    BOOST_TEST(ok["checkpoints_signature_verified"] == ok["checkpoints"], project);
  }
  // The default project's keys do not verify acme's checkpoints.
  const auto other = run_latchkey({"jwks", "--all", "--data", data});
  BOOST_REQUIRE(other.exit_code == 0);
  { std::ofstream(tmp / "default.json") << other.out; }
  const auto crossed = run_latchkey_failing(
      {"verify", "--data", data, "--project", "acme", "--jwks", tmp / "default.json"});
  BOOST_TEST(crossed.exit_code == 1, crossed.out << crossed.err);
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
