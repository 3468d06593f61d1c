// Secret hygiene: after an end-to-end run that issues keys and tokens (and
// makes the mistakes users make: a secret in the wrong field, in a filter,
// in a malformed body), no secretkey, token, token signature, secret hash or
// the pepper is found in the data directory (every byte of every file, and
// every stored event uncompressed), the access log, the server's stdout and
// stderr, or any audit export (HTTP JSON and NDJSON, the CLI's ndjson,
// replay state, diff and timelines, an auditor's backup).
//
// And the secret files are private: pepper and signing keys 0600 in 0700
// directories, and the server refuses to start when they are not.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <tuple>

#include "base/encoding.h"
#include "domain/credentials.h"
#include "events/event_log.h"
#include "keys/ids.h"
#include "keys/secret_store.h"
#include "tests/reliability/helpers.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::test;
namespace fs = std::filesystem;

namespace {

// What must never leak, by name (for the message) and bytes.
class Needles {
 public:
  void add(const std::string& what, const std::string& bytes) {
    if (bytes.size() >= 16 && seen_.insert(bytes).second) list_.emplace_back(what, bytes);
  }
  void secret(const std::string& secret, const keys::Pepper& pepper) {
    add("a secretkey", secret);
    // Its 64 random hex digits alone, as a careless redaction would leave them.
    add("a secretkey's digits", secret.substr(4, 64));
    const Digest h = pepper.hash(secret);
    add("a secret hash (hex)", to_hex(h));
    add("a secret hash (base64url)", base64url_encode(std::string(h.begin(), h.end())));
    hashes_.emplace_back(h.begin(), h.end());
  }
  void token(const std::string& token) {
    add("a token", token);
    add("a token's signature", token.substr(token.rfind('.') + 1));
  }
  void pepper(const std::string& bytes) {
    add("the pepper", bytes);
    add("the pepper (hex)", to_hex(bytes));
    add("the pepper (base64url)", base64url_encode(bytes));
  }
  // Where `haystack` holds one of the needles; `allow_hashes`: the raw hash
  // bytes are the one form the log itself keeps (in key.created).
  std::vector<std::string> found_in(const std::string& haystack, bool allow_raw_hashes) const {
    std::vector<std::string> out;
    for (const auto& [what, bytes] : list_) {
      if (haystack.find(bytes) != std::string::npos) out.push_back(what);
    }
    if (!allow_raw_hashes) {
      for (const auto& h : hashes_)
        if (haystack.find(h) != std::string::npos) out.push_back("a secret hash (raw)");
    }
    return out;
  }
  std::size_t size() const { return list_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> list_;
  std::vector<std::string> hashes_;
  std::set<std::string> seen_;
};

struct Scan {
  std::size_t files = 0;
  std::uint64_t bytes = 0;
};

void expect_clean(const Needles& n, const std::string& where, const std::string& text, Scan& scan,
                  bool allow_raw_hashes = false) {
  ++scan.files;
  scan.bytes += text.size();
  for (const auto& what : n.found_in(text, allow_raw_hashes))
    BOOST_ERROR(what << " found in " << where);
}

long rotate(const ServerProcess& server, const std::string& token) {
  return http("POST", server.url("/iam/signing-keys/rotate"), "",
              HttpOptions{{"Authorization: Bearer " + token}})
      .status;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(secret_hygiene)

BOOST_AUTO_TEST_CASE(no_secret_token_hash_or_pepper_leaks_into_data_logs_or_exports) {
  TempDir outside;
  const std::string access_log = outside / "access.log";
  ServerProcess::Options options;
  options.env["LATCHKEY_SERVER_ACCESS_LOG"] = access_log;
  ServerProcess server(options);
  const keys::Pepper pepper(read_file(server.data_dir() + "/pepper"));
  Needles n;
  n.pepper(pepper.bytes());
  n.secret(server.admin().secretkey, pepper);

  auto login = [&](const IssuedKey& k, bool form) {
    const auto r =
        form ? post_form(server.url("/iam/login"),
                         "auth_mode=apikey&apikey=" + k.apikey + "&secretkey=" + k.secretkey)
             : post_json(
                   server.url("/iam/login"),
                   {{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", k.secretkey}});
    BOOST_REQUIRE_EQUAL(r.status, 200);
    const std::string token = r.json()["access_token"];
    n.token(token);
    return token;
  };
  const IssuedKey admin_key{server.admin().principal_id, server.admin().apikey,
                            server.admin().secretkey};
  const std::string admin = login(admin_key, false);
  login(admin_key, true);

  // Keys of every kind of holder, each logging in by JSON and by form.
  std::vector<IssuedKey> keys;
  const auto user =
      post_json(server.url("/iam/users"), {{"name", "Ann"}, {"email", "ann@example.com"}}, admin);
  BOOST_REQUIRE_EQUAL(user.status, 201);
  keys.push_back(new_key(server, admin, "users", user.json()["id"]));
  keys.push_back(new_service_account_key(server, admin, "ci", {"auditor"}));
  keys.push_back(new_service_account_key(server, admin, "ops", {"admin"}));
  const auto own = post_json(server.url("/iam/me/keys"), {{"description", "mine"}}, admin);
  BOOST_REQUIRE_EQUAL(own.status, 201);
  keys.push_back(IssuedKey{admin_key.principal_id, own.json()["apikey"], own.json()["secretkey"]});
  std::vector<std::string> tokens;
  for (const auto& k : keys) {
    n.secret(k.secretkey, pepper);
    tokens.push_back(login(k, false));
    tokens.push_back(login(k, true));
  }
  const std::string auditor = tokens[2];

  // Introspection, settings, rotation, a disabled and a deleted key, a deleted principal.
  for (const auto& t : tokens) {
    BOOST_TEST(post_json(server.url("/iam/introspect"), {{"token", t}}, admin).status == 200);
    BOOST_TEST(post_form(server.url("/iam/introspect"), "token=" + t, admin).status == 200);
  }
  patch_settings(server, admin, {{"token_lifetime_seconds", 1800}});
  BOOST_TEST(rotate(server, admin) == 201);
  tokens.push_back(login(keys[1], false));  // signed by the new key
  BOOST_TEST(post_json(server.url("/iam/me/keys/" + keys[3].apikey + "/disable"),
                       nlohmann::json::object(), admin)
                 .status == 200);
  BOOST_TEST(
      del(server.url("/iam/service-accounts/" + keys[2].principal_id + "/keys/" + keys[2].apikey),
          admin)
          .status == 204);
  BOOST_TEST(del(server.url("/iam/users/" + keys[0].principal_id), admin).status == 204);

  // The mistakes users make with secrets: none may end up stored or logged.
  const std::string s = keys[3].secretkey;
  const std::string t = tokens[0];
  const std::vector<std::pair<std::string, nlohmann::json>> misplaced = {
      {"secret as the apikey", {{"auth_mode", "apikey"}, {"apikey", s}, {"secretkey", s}}},
      {"the right secret for another key",
       {{"auth_mode", "apikey"}, {"apikey", keys[1].apikey}, {"secretkey", s}}},
      {"secret as the auth_mode", {{"auth_mode", s}, {"apikey", keys[3].apikey}, {"secretkey", s}}},
      {"secret in an unknown field",
       {{"auth_mode", "apikey"}, {"apikey", keys[3].apikey}, {"secretkey", s}, {"password", s}}},
      {"token as the secretkey",
       {{"auth_mode", "apikey"}, {"apikey", keys[3].apikey}, {"secretkey", t}}},
  };
  for (const auto& [what, body] : misplaced) {
    const auto r = post_json(server.url("/iam/login"), body);
    BOOST_TEST(r.status >= 400, what);
    for (const auto& hit : n.found_in(r.body, false)) BOOST_ERROR(hit << " echoed by " << what);
  }
  for (const std::string& body :
       {"{\"auth_mode\":\"apikey\",\"apikey\":\"" + keys[3].apikey + "\",\"secretkey\":\"" + s,
        "auth_mode=apikey&secretkey=" + s + "&secretkey=" + s}) {
    const bool form = body[0] != '{';
    const auto r = http("POST", server.url("/iam/login"), body,
                        HttpOptions{{form ? "Content-Type: application/x-www-form-urlencoded"
                                          : "Content-Type: application/json"}});
    BOOST_TEST(r.status == 400);
    for (const auto& hit : n.found_in(r.body, false)) BOOST_ERROR(hit << " echoed for a bad body");
  }
  // A secret or a token pasted into the audit filters, the replay points, a path.
  for (const std::string& q : {"apikey=" + s, "principal_id=" + s, "actor=" + s, "actor=" + t}) {
    const auto r = get(server.url("/iam/audit?" + q), admin);
    BOOST_TEST(r.status == 400, q.substr(0, q.find('=')) << " answered " << r.status);
    for (const auto& hit : n.found_in(r.body, false)) BOOST_ERROR(hit << " echoed by /iam/audit");
  }
  // Each is answered (a refusal, or for the search no match), and not with the secret.
  const std::vector<std::tuple<std::string, HttpResponse, long>> pasted = {
      {"a secret as a replay point",
       get(server.url("/iam/replay/state?at=" + form_escape(s)), admin), 400},
      {"a secret as a timeline's apikey", get(server.url("/iam/keys/" + s + "/timeline"), admin),
       404},
      {"a secret as an event type", get(server.url("/iam/audit?type=" + s), admin), 400},
      {"a secret as a search", get(server.url("/iam/users?search=" + s), admin), 200},
      {"a secret as a token to introspect",
       post_json(server.url("/iam/introspect"), {{"token", s}}, admin), 200},
      {"a secret as a bearer token", get(server.url("/iam/users"), s), 401},
  };
  for (const auto& [what, r, status] : pasted) {
    BOOST_TEST(r.status == status, what << " answered " << r.status << ": " << r.body);
    for (const auto& hit : n.found_in(r.body, false)) BOOST_ERROR(hit << " echoed for " << what);
  }

  // ---- every export an auditor can take ----
  Scan scan;
  std::string all_json;
  for (std::string after = "0";;) {
    const auto page = get(server.url("/iam/audit?limit=1000&after=" + after), auditor);
    BOOST_REQUIRE_EQUAL(page.status, 200);
    all_json += page.body;
    const auto j = page.json();
    if (j["next"].is_null()) break;
    after = j["next"];
  }
  expect_clean(n, "GET /iam/audit pages", all_json, scan);
  const auto ndjson =
      http("GET", server.url("/iam/audit"), "",
           HttpOptions{{"Authorization: Bearer " + admin, "Accept: application/x-ndjson"}});
  BOOST_REQUIRE_EQUAL(ndjson.status, 200);
  BOOST_TEST(ndjson.body.find("token.issued") != std::string::npos);  // the export is real
  expect_clean(n, "GET /iam/audit as NDJSON", ndjson.body, scan);
  const auto head = read_log(server.data_dir()).size();
  for (const std::string& path : {"/iam/replay/state?at=" + std::to_string(head),
                                  "/iam/replay/diff?from=1&to=" + std::to_string(head)}) {
    const auto r = get(server.url(path), admin);
    BOOST_TEST(r.status == 200, path);
    expect_clean(n, path, r.body, scan);
  }
  for (const auto& k : keys) {
    const auto r = get(server.url("/iam/keys/" + k.apikey + "/timeline"), admin);
    BOOST_TEST(r.status == 200);
    expect_clean(n, "the timeline of " + k.apikey, r.body, scan);
  }
  expect_clean(n, "GET /metrics", get(server.url("/metrics")).body, scan);

  // ---- offline, the same from the CLI ----
  // Each export must have run to completion and printed what it exports: a
  // command that crashed (or printed nothing) would pass any scan.
  const std::string data = server.data_dir();
  const auto cli_audit = run_latchkey({"audit", "--data", data, "--format", "ndjson"});
  BOOST_TEST(cli_audit.exit_code == 0, cli_audit.err);
  BOOST_TEST(cli_audit.out.find("key.created") != std::string::npos);
  expect_clean(n, "latchkey audit --format ndjson", cli_audit.out + cli_audit.err, scan);
  const auto cli_table = run_latchkey({"audit", "--data", data, "--all"});
  BOOST_TEST(cli_table.exit_code == 0, cli_table.err);
  BOOST_TEST(cli_table.out.find("token.issued") != std::string::npos, cli_table.out.substr(0, 300));
  expect_clean(n, "latchkey audit (table)", cli_table.out + cli_table.err, scan);
  const auto cli_state =
      run_latchkey({"replay", "state", "--data", data, "--at", std::to_string(head)});
  BOOST_TEST(cli_state.exit_code == 0, cli_state.err);
  const auto state = nlohmann::json::parse(cli_state.out, nullptr, false);
  BOOST_TEST((state.is_object() && state.contains("keys") && !state["keys"].empty()),
             cli_state.out.substr(0, 300));
  expect_clean(n, "latchkey replay state", cli_state.out + cli_state.err, scan);
  for (const auto& k : keys) {
    const auto r = run_latchkey(
        {"replay", "timeline", "--data", data, "--apikey", k.apikey, "--format", "ndjson"});
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.find("\"key.created\"") != std::string::npos, k.apikey << ": " << r.out);
    expect_clean(n, "latchkey replay timeline", r.out + r.err, scan);
  }
  // An auditor's backup holds neither the pepper nor the signing keys.
  const std::string copy = outside / "copy";
  const auto backup = run_latchkey({"backup", "--data", data, "--to", copy, "--no-secrets"});
  BOOST_TEST(backup.exit_code == 0, backup.err);
  BOOST_TEST(!fs::exists(copy + "/pepper"));
  BOOST_TEST(!fs::exists(copy + "/signing"));

  // ---- the server's own output, once it has flushed and stopped ----
  BOOST_TEST(server.stop() == 0);
  const std::string log_text = read_file(access_log);
  BOOST_TEST(log_text.find("/iam/login") != std::string::npos);  // the access log is real
  expect_clean(n, "the access log", log_text, scan);
  expect_clean(n, "the server's stdout", server.stdout_text(), scan);
  expect_clean(n, "the server's stderr", server.stderr_text(), scan);

  // ---- the data directory: every byte of every file, and every event uncompressed ----
  std::set<std::string> pems;
  for (const auto& e : fs::directory_iterator(data + "/signing")) pems.insert(read_file(e.path()));
  for (const auto& dir : {data, copy}) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      const std::string path = e.path().string();
      const std::string bytes = read_file(path);
      if (path == data + "/pepper") continue;
      // The log keeps the secret hashes (raw, in key.created): they may be in its files.
      expect_clean(n, path, bytes, scan, /*allow_raw_hashes=*/true);
      if (e.path().parent_path() != fs::path(data + "/signing")) {
        for (const auto& pem : pems)
          if (bytes.find(pem.substr(40, 64)) != std::string::npos)
            BOOST_ERROR("a signing key found in " << path);
      }
    }
  }
  std::size_t stored = 0;
  for (const auto& dir : {data, copy}) {
    auto log = events::open_rocksdb_log(dir + "/log", events::OpenMode::read_only);
    BOOST_REQUIRE(log.has_value());
    std::string values;
    BOOST_REQUIRE((*log)->scan_raw([&](std::string_view, std::string_view v) {
      values.append(v);
      ++stored;
      return true;
    }));
    expect_clean(n, dir + ": the stored events", values, scan, /*allow_raw_hashes=*/true);
  }
  BOOST_TEST_MESSAGE(n.size() << " secrets, tokens and derived forms looked for in " << scan.files
                              << " files and exports (" << scan.bytes << " bytes, " << stored
                              << " stored events): none found");
}

BOOST_AUTO_TEST_CASE(secret_files_are_private_and_the_server_refuses_to_start_otherwise) {
  ServerProcess server;
  const std::string data = server.data_dir();
  // A signing key added while serving is private too.
  const std::string admin = server.admin_token();
  BOOST_TEST(rotate(server, admin) == 201);
  BOOST_TEST(server.stop() == 0);
  auto mode = [](const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return st.st_mode & 0777;
  };
  BOOST_TEST(mode(data) == 0700u);
  BOOST_TEST(mode(data + "/signing") == 0700u);
  BOOST_TEST(mode(data + "/pepper") == 0600u);
  std::vector<std::string> pems;
  for (const auto& e : fs::directory_iterator(data + "/signing")) {
    pems.push_back(e.path().string());
    BOOST_TEST(mode(e.path().string()) == 0600u, e.path());
  }
  BOOST_REQUIRE_EQUAL(pems.size(), 2u);

  const std::vector<std::pair<std::string, mode_t>> loosened = {
      {data + "/pepper", 0640},
      {data + "/pepper", 0604},
      {pems[0], 0644},
      {pems[1], 0660},
      {data, 0750},
      {data, 0705},
      {data + "/signing", 0755},
  };
  ServerProcess::Options o;
  o.data_dir = data;
  for (const auto& [path, loose] : loosened) {
    BOOST_TEST_CONTEXT(path << " made " << std::oct << loose) {
      const mode_t before = mode(path);
      BOOST_REQUIRE(::chmod(path.c_str(), loose) == 0);
      std::string refusal;
      try {
        ServerProcess refused(o);  // returns only if it listens
        BOOST_ERROR("the server started");
      } catch (const std::runtime_error& e) {
        refusal = e.what();
      }
      BOOST_TEST(refusal.find("refusing to start") != std::string::npos, refusal);
      BOOST_TEST(refusal.find(path) != std::string::npos, refusal);
      // The offline tool that writes secrets refuses too.
      const auto rotate = run_latchkey_failing({"rotate-signing-key", "--data", data});
      BOOST_TEST(rotate.exit_code != 0);
      BOOST_TEST(rotate.err.find("refusing to start") != std::string::npos, rotate.err);
      BOOST_REQUIRE(::chmod(path.c_str(), before) == 0);
    }
  }
  // Private again: it serves.
  ServerProcess again(o);
  BOOST_TEST(get(again.url("/healthz")).status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
