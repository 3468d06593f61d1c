// The log's life in a running server (docs/data-lifecycle.md): events older
// than data.archive_after_days move to archive segments and read as before
// (audit, timeline, replay, verify); archived events older than
// data.retention_days are deleted, the chain then verifies from the signed
// cut, and a query that reaches into the deleted history says so.
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <boost/test/unit_test.hpp>

#include "tests/e2e/e2e.h"
#include "tests/support/temp_dir.h"

namespace latchkey::e2e {
namespace {

namespace fs = std::filesystem;

std::string random_hex(int n) {
  static std::mt19937_64 rng(std::random_device{}());
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back("abcdefghijklmnop"[rng() % 16]);
  return out;
}

// A figure of /metrics (the server's metrics are public in these servers).
double metric(Client& client, const std::string& name) {
  const auto r = client.get("/metrics", "");
  std::istringstream in(r.body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::vector<std::pair<std::uint64_t, std::string>> seqs_and_hashes(const json& events) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& e : events) out.emplace_back(e.at("seq"), e.at("hash"));
  return out;
}

std::size_t segments_in(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(dir, ec)) {
    n += f.path().extension() == ".lka" ? 1 : 0;
  }
  return n;
}

ServerProcess::Options archiving(const std::string& data_dir, const std::string& retention) {
  ServerProcess::Options o;
  o.data_dir = data_dir;
  o.env["LATCHKEY_SERVER_METRICS_PUBLIC"] = "true";
  o.env["LATCHKEY_DATA_ARCHIVE_AFTER_DAYS"] = "0.00003";  // 2.6 s
  o.env["LATCHKEY_DATA_ARCHIVE_CHECK_SECONDS"] = "1";
  o.env["LATCHKEY_DATA_ARCHIVE_MIN_EVENTS"] = "1";
  if (!retention.empty()) o.env["LATCHKEY_DATA_RETENTION_DAYS"] = retention;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(archive)

BOOST_AUTO_TEST_CASE(archived_events_read_as_before_and_deleted_history_says_so) {
  test::TempDir dirs;
  std::string data;
  Key key, admin_key, erasable_key;
  Principal user, erasable;
  // Nothing in common with the other strings of a snapshot: its table file
  // is compressed, and a shared run of bytes would be stored as a reference
  // to the first one, not in clear (the control below would then fail).
  const std::string erasable_name = "Erin Valdemar " + random_hex(8);
  const std::string erasable_email = random_hex(10) + "@quokka-post.invalid";
  std::uint64_t early = 0;
  std::vector<std::pair<std::uint64_t, std::string>> timeline_before, audit_before;
  const std::string name = unique("Archie Quixotic ");
  {
    data = dirs / "data";
    const auto init = test::run_latchkey({"init", "--data", data});
    BOOST_TEST_REQUIRE(init.exit_code == 0, init.err);
    const json first = json::parse(init.out);
    ServerProcess::Options o;
    o.data_dir = data;
    o.env["LATCHKEY_SERVER_METRICS_PUBLIC"] = "true";
    ServerProcess server(o);
    Client client(server);
    admin_key = Key{first.at("apikey"), first.at("secretkey")};
    const std::string admin = client.login(admin_key);
    user = client.create_user(admin, name, unique("archie.") + "@example.org", {"auditor"});
    key = client.create_key(admin, user);
    for (int i = 0; i < 20; ++i) client.login(key);
    erasable = client.create_user(admin, erasable_name, erasable_email);
    erasable_key = client.create_key(admin, erasable);
    for (int i = 0; i < 3; ++i) client.login(erasable_key);
    early = client.get("/readyz", "").json().at("seq").get<std::uint64_t>();
    const auto tl = client.get("/iam/keys/" + key.apikey + "/timeline?limit=100", admin);
    BOOST_TEST_REQUIRE(tl.status == 200, tl.body);
    timeline_before = seqs_and_hashes(tl.json().at("events"));
    const auto au = client.get("/iam/audit?principal_id=" + user.id + "&limit=100", admin);
    BOOST_TEST_REQUIRE(au.status == 200, au.body);
    audit_before = seqs_and_hashes(au.json().at("events"));
    BOOST_TEST(server.stop() == 0);
  }
  BOOST_TEST_REQUIRE(timeline_before.size() >= 21u);

  // Archiving: everything older than 2.6 s moves to segments.
  {
    ServerProcess server(archiving(data, ""));
    Client client(server);
    const std::string admin = client.login(key);  // an auditor, enough to read
    BOOST_TEST_REQUIRE(
        eventually([&] { return metric(client, "latchkey_archive_events_total") >= double(early); },
                   std::chrono::seconds(60)));
    BOOST_TEST(segments_in(data + "/archive/default") >= 1u);
    BOOST_TEST(metric(client, "latchkey_archive_segments") >= 1);
    BOOST_TEST(metric(client, "latchkey_archive_segment_bytes") > 0);
    BOOST_TEST(metric(client, "latchkey_archive_failures_total") == 0);
    // The same answers, now read from the archive.
    const auto tl = client.get("/iam/keys/" + key.apikey + "/timeline?limit=100", admin);
    BOOST_TEST_REQUIRE(tl.status == 200, tl.body);
    const auto tl_after = seqs_and_hashes(tl.json().at("events"));
    BOOST_TEST_REQUIRE(tl_after.size() >= timeline_before.size());
    BOOST_TEST(std::equal(timeline_before.begin(), timeline_before.end(), tl_after.begin()));
    BOOST_TEST(tl.json().contains("history_deleted") == false);
    const auto au = client.get("/iam/audit?principal_id=" + user.id + "&limit=100", admin);
    BOOST_TEST_REQUIRE(au.status == 200, au.body);
    const auto au_after = seqs_and_hashes(au.json().at("events"));
    BOOST_TEST(std::equal(audit_before.begin(), audit_before.end(), au_after.begin()));
    // Newest first across the cut, and NDJSON.
    const auto desc = client.get("/iam/audit?order=desc&limit=1000", admin);
    BOOST_TEST_REQUIRE(desc.status == 200, desc.body);
    BOOST_TEST(desc.json().at("events").back().at("seq") == 1);
    const auto nd = client.call("GET", "/iam/audit?limit=1000", "",
                                {"Authorization: Bearer " + admin, "Accept: application/x-ndjson"});
    BOOST_TEST(nd.status == 200);
    BOOST_TEST(nd.body.rfind("{\"", 0) == 0);
    // The archive's cut events are in the log, signed.
    const auto cuts = client.get("/iam/audit?type=log.archived&limit=1", admin);
    BOOST_TEST_REQUIRE(cuts.json().at("events").size() == 1u, cuts.body);
    const json cut = cuts.json().at("events")[0].at("data");
    BOOST_TEST(cut.at("through").get<std::uint64_t>() >= 1u);
    BOOST_TEST(!cut.at("signature").get<std::string>().empty());
    // Replay into the archived range rebuilds the state then.
    const auto then = client.get("/iam/replay/state?at=" + std::to_string(early), admin);
    BOOST_TEST_REQUIRE(then.status == 200, then.body);
    BOOST_TEST(then.body.find(user.id) != std::string::npos);
    // Erasure reaches archived events: their sealed fields read [erased],
    // and no file (segments, snapshots, logs) keeps the name in clear.
    for (const std::string& needle : {erasable_name, erasable_email}) {
      BOOST_TEST_REQUIRE(!test::files_containing(data, needle).empty(),
                         "no snapshot holds " + needle + ": the search below would prove nothing");
    }
    const std::string root = client.login(admin_key);
    const auto erased = client.post_empty(erasable.base + "/erase", root);
    BOOST_TEST_REQUIRE(erased.status == 200, erased.body);
    const auto its = client.get("/iam/audit?principal_id=" + erasable.id + "&limit=100", root);
    BOOST_TEST_REQUIRE(its.status == 200, its.body);
    bool saw_archived_login = false;
    const json its_doc = its.json();
    for (const auto& e : its_doc.at("events")) {
      if (e.at("type") == "user.created") BOOST_TEST(e.at("data").at("name") == "[erased]");
      if (e.at("type") == "token.issued") {
        BOOST_TEST(e.at("source_ip") == "[erased]");
        saw_archived_login = saw_archived_login || e.at("seq").get<std::uint64_t>() <= early + 5;
      }
    }
    BOOST_TEST(saw_archived_login);
    BOOST_TEST(server.stop() == 0);
    for (const std::string& needle : {erasable_name, erasable_email}) {
      BOOST_TEST(test::files_containing(data, needle).empty(), needle);
      BOOST_TEST(server.stderr_text().find(needle) == std::string::npos);
      BOOST_TEST(server.stdout_text().find(needle) == std::string::npos);
    }
  }
  // Offline: verify reads archives and live log as one chain; a backup holds the archives.
  {
    const auto v = test::run_latchkey({"verify", "--data", data, "--format", "json"});
    BOOST_TEST_REQUIRE(v.exit_code == 0, v.err);
    const json r = json::parse(v.out);
    BOOST_TEST(r.at("ok") == true);
    BOOST_TEST(r.at("archived_events").get<std::uint64_t>() >= early);
    BOOST_TEST(r.at("deleted_through") == 0);
    const auto text = test::run_latchkey({"verify", "--data", data, "--project", "default"});
    BOOST_TEST(text.out.find("read from archive segments") != std::string::npos, text.out);
    const auto offline = test::run_latchkey(
        {"audit", "--data", data, "--principal-id", user.id, "--format", "json", "--limit", "100"});
    BOOST_TEST_REQUIRE(offline.exit_code == 0, offline.err);
    BOOST_TEST(offline.out.find("user.created") != std::string::npos);
    // The archive given elsewhere (a copy kept apart from the data).
    test::TempDir elsewhere;
    fs::copy(data + "/archive", elsewhere / "a", fs::copy_options::recursive);
    fs::rename(data + "/archive", data + "/archive.away");
    BOOST_TEST(test::run_latchkey_failing({"verify", "--data", data, "--project", "default"})
                   .err.find("segment") != std::string::npos);
    BOOST_TEST(
        test::run_latchkey({"verify", "--data", data, "--archive", elsewhere / "a"}).exit_code ==
        0);
    fs::remove_all(data + "/archive");
    fs::rename(data + "/archive.away", data + "/archive");
    const std::string backup = dirs / "backup";
    BOOST_TEST_REQUIRE(test::run_latchkey({"backup", "--data", data, "--to", backup}).exit_code ==
                       0);
    BOOST_TEST(segments_in(backup + "/archive") == segments_in(data + "/archive"));
    BOOST_TEST(test::run_latchkey({"verify", "--data", backup}).exit_code == 0);
    // Sealed in the segments as in the log: the name is nowhere in clear.
    BOOST_TEST(test::files_containing(data + "/archive", name).empty());
    BOOST_TEST(test::files_containing(backup, erasable_name).empty());
    BOOST_TEST(test::files_containing(backup, erasable_email).empty());
  }
  // Retention: archived events older than 5.2 s are deleted, after a signed cut.
  {
    ServerProcess server(archiving(data, "0.00006"));
    Client client(server);
    const std::string auditor = client.login(key);
    BOOST_TEST_REQUIRE(eventually(
        [&] { return metric(client, "latchkey_archive_deleted_events_total") >= double(early); },
        std::chrono::seconds(60)));
    // A replay into the deleted history says so.
    const auto gone = client.get("/iam/replay/state?at=3", auditor);
    expect_error(gone, 404, "not_found");
    BOOST_TEST(gone.json().at("message").get<std::string>().find("deleted by retention") !=
               std::string::npos);
    // An audit that reaches into it says where the kept history starts.
    const auto au = client.get("/iam/audit?limit=10", auditor);
    BOOST_TEST_REQUIRE(au.status == 200, au.body);
    const json doc = au.json();
    BOOST_TEST_REQUIRE(doc.contains("history_deleted"), au.body);
    const auto through = doc.at("history_deleted").at("through_seq").get<std::uint64_t>();
    BOOST_TEST(through >= early);
    BOOST_TEST(au.header("latchkey-history-deleted-through") == std::to_string(through));
    BOOST_TEST(doc.at("events")[0].at("seq").get<std::uint64_t>() == through + 1);
    // A query after the cut is whole: nothing to say.
    const auto later =
        client.get("/iam/audit?after=" + std::to_string(through + 1) + "&limit=1", auditor);
    BOOST_TEST(later.json().contains("history_deleted") == false);
    const auto jwks = client.get("/iam/.well-known/jwks.json", "");
    std::ofstream(dirs / "jwks.json") << jwks.body;
    BOOST_TEST(server.stop() == 0);
  }
  // Verify from the signed cut, signatures checked against the published keys.
  const auto v = test::run_latchkey({"verify", "--data", data, "--project", "default", "--jwks",
                                     dirs / "jwks.json", "--format", "json"});
  BOOST_TEST_REQUIRE(v.exit_code == 0, v.err);
  const json r = json::parse(v.out);
  BOOST_TEST(r.at("from_signed_cut") == true);
  BOOST_TEST(r.at("deleted_through").get<std::uint64_t>() >= early);
  BOOST_TEST(r.at("cuts_signature_verified").get<std::uint64_t>() >= 2u);
}

BOOST_AUTO_TEST_CASE(retention_needs_archiving_and_a_longer_period) {
  test::TempDir dir;
  const auto r =
      test::run_latchkey_failing({"serve", "--data", dir / "d", "--set", "data.retention_days=1"});
  BOOST_TEST(r.err.find("data.archive_after_days") != std::string::npos, r.err);
  const auto r2 =
      test::run_latchkey_failing({"serve", "--data", dir / "d", "--set",
                                  "data.archive_after_days=10", "--set", "data.retention_days=5"});
  BOOST_TEST(r2.err.find("at least") != std::string::npos, r2.err);
  const auto r3 = test::run_latchkey_failing(
      {"serve", "--data", dir / "d", "--set", "data.archive_after_days=soon"});
  BOOST_TEST(r3.err.find("must be a number") != std::string::npos, r3.err);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace latchkey::e2e
