// Three `latchkey serve` nodes on three real nats-server processes: a load of
// logins and admin writes through every node, the writer killed with SIGKILL,
// then the NATS stream's leader killed, both restarted. Every acknowledged
// login (jti) and key (apikey) must be in every node's log exactly once, the
// chains equal and verified, and logins must resume within 10 s of each kill.

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "base/encoding.h"
#include "tests/support/child_process.h"
#include "tests/support/http_client.h"
#include "tests/support/nats_cluster.h"
#include "tests/support/network_lab.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::test;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

struct Cluster {
  // Node n on host n - 1 of `lab`, when given; on loopback otherwise.
  // `settings`: more environment for every node.
  explicit Cluster(NatsCluster& nats, int count = 3, const NetworkLab* lab = nullptr,
                   const std::map<std::string, std::string>& settings = {}) {
    const auto init = run_latchkey({"init", "--data", dir / "node-1"});
    const auto keys = json::parse(init.out);
    apikey = keys["apikey"];
    secretkey = keys["secretkey"];
    platform_apikey = keys["platform"]["apikey"];
    platform_secretkey = keys["platform"]["secretkey"];
    for (int n = 2; n <= count; ++n) {
      const auto cp =
          run_command({"cp", "-a", dir / "node-1", dir / ("node-" + std::to_string(n))});
      if (cp.exit_code != 0) throw std::runtime_error("cp failed: " + cp.err);
    }
    for (const auto& u : nats.urls()) urls += (urls.empty() ? "" : ",") + u;
    for (int n = 1; n <= count; ++n) {
      ServerProcess::Options o = options_of(dir / ("node-" + std::to_string(n)), settings);
      if (lab != nullptr) {
        o.prefix = lab->prefix(n - 1);
        o.listen = lab->ip(n - 1) + ":0";
      }
      nodes.push_back(std::make_unique<ServerProcess>(o));
    }
  }

  // A node on `data_dir` (its id: the directory's name), started.
  ServerProcess::Options options_of(const std::string& data_dir,
                                    const std::map<std::string, std::string>& settings = {}) {
    ServerProcess::Options o;
    o.data_dir = data_dir;
    o.env = {{"LATCHKEY_CLUSTER_NODE", std::filesystem::path(data_dir).filename().string()},
             {"LATCHKEY_CLUSTER_NATS", urls},
             {"LATCHKEY_CLUSTER_LEASE_TTL_MS", "2000"},
             {"LATCHKEY_SERVER_PUBLIC_URL", "http://localhost:8080"},
             {"LATCHKEY_SERVER_ACCESS_LOG", "off"}};
    o.env.insert(settings.begin(), settings.end());
    return o;
  }

  // The node that writes now, once one does (-1 after `within`); with
  // `not_this`, a node other than that one.
  int writer(std::chrono::seconds within = 20s, int not_this = -1) const {
    const auto deadline = Steady::now() + within;
    do {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!nodes[i]->running() || static_cast<int>(i) == not_this) continue;
        const auto m = get(nodes[i]->url("/metrics"));
        if (m.body.find("\nlatchkey_cluster_writer 1") != std::string::npos)
          return static_cast<int>(i);
      }
      std::this_thread::sleep_for(100ms);
    } while (Steady::now() < deadline);
    return -1;
  }

  // The first writer, which the test needs.
  int first_writer() const {
    const int w = writer();
    BOOST_TEST_REQUIRE(w >= 0, "no node became the writer");
    return w;
  }

  json login_body() const {
    return {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}};
  }

  // The admin's token from a login through node `n`, which must answer 200.
  std::string token_via(int n) const {
    const auto r = post_json(nodes[static_cast<std::size_t>(n)]->url("/iam/login"), login_body());
    BOOST_TEST_REQUIRE(r.status == 200, r.body);
    return json::parse(r.body)["access_token"];
  }

  TempDir dir;
  std::string urls;  // the NATS servers'
  std::string apikey, secretkey;
  std::string platform_apikey, platform_secretkey;
  std::vector<std::unique_ptr<ServerProcess>> nodes;
};

// What the load got acknowledged.
struct Acknowledged {
  std::mutex mu;
  std::vector<std::string> jtis;
  std::vector<std::string> apikeys;
  std::atomic<int> failed{0};
};

std::string jti_of(const std::string& token) {
  const auto a = token.find('.');
  const auto b = token.find('.', a + 1);
  const auto payload = base64url_decode(std::string_view(token).substr(a + 1, b - a - 1));
  if (!payload) throw std::runtime_error("a token without a payload");
  return json::parse(*payload)["jti"];
}

// Logins (and every fifth time a new key) through the running nodes in
// turn, until `stop`.
void load(Cluster& c, Acknowledged& ack, std::atomic<bool>& stop, int seed, std::string token) {
  HttpOptions quick;
  quick.timeout_ms = 15000;
  for (int i = seed; !stop.load(); ++i) {
    auto& node = *c.nodes[static_cast<std::size_t>(i) % c.nodes.size()];
    const std::string base = node.url();
    try {
      if (i % 5 == 0) {
        // A service account of its own (a principal holds at most 10 keys).
        const auto owner = post_json(base + "/iam/service-accounts",
                                     {{"name", "load " + std::to_string(i)}}, token);
        if (owner.status != 201) {
          ++ack.failed;
          continue;
        }
        const std::string id = json::parse(owner.body)["id"];
        const auto r = post_json(base + "/iam/service-accounts/" + id + "/keys",
                                 {{"description", "load " + std::to_string(i)}}, token);
        if (r.status == 201) {
          std::lock_guard lock(ack.mu);
          ack.apikeys.push_back(json::parse(r.body)["apikey"]);
        } else {
          ++ack.failed;
        }
      } else {
        const auto r = post_json(base + "/iam/login", c.login_body());
        if (r.status == 200) {
          const std::string jti = jti_of(json::parse(r.body)["access_token"]);
          std::lock_guard lock(ack.mu);
          ack.jtis.push_back(jti);
        } else {
          ++ack.failed;
        }
      }
    } catch (const std::exception&) {  // a node being killed or restarted
      ++ack.failed;
    }
  }
}

// Threads running load() over the cluster, each from seed `t * spread`,
// until join(), which every way out of a test calls (a failed requirement
// throws).
class Load {
 public:
  Load(Cluster& c, Acknowledged& ack, const std::string& token, int threads, int spread) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back(
          [this, &c, &ack, token, t, spread] { load(c, ack, stop_, t * spread, token); });
  }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;
  ~Load() { join(); }
  void join() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// How long until a login through node `via` succeeds again.
Steady::duration until_logins_resume(Cluster& c, int via) {
  const auto from = Steady::now();
  while (Steady::now() - from < 60s) {
    if (post_json(c.nodes[static_cast<std::size_t>(via)]->url("/iam/login"), c.login_body())
            .status == 200)
      return Steady::now() - from;
    std::this_thread::sleep_for(50ms);
  }
  return 60s;
}

// The stream leader's index in `nats`, read from a server's monitoring endpoint.
int stream_leader(NatsCluster& nats) {
  for (int i = 0; i < nats.size(); ++i) {
    if (!nats.running(i)) continue;
    const auto r = get(nats.monitor_url(i, "/jsz?streams=true"));
    const auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) continue;
    for (const auto& acc : j.value("account_details", json::array()))
      for (const auto& s : acc.value("stream_detail", json::array()))
        if (s.value("name", "") == "LATCHKEY_LOG")
          return nats.index_of(s["cluster"].value("leader", ""));
  }
  return -1;
}

std::multiset<std::string> logged(const std::string& data, const std::string& type,
                                  const std::string& field) {
  const auto r = run_latchkey(
      {"audit", "--data", data, "--type", type, "--all", "--quiet", "--format", "ndjson"});
  std::multiset<std::string> out;
  std::size_t start = 0;
  while (start < r.out.size()) {
    const auto end = r.out.find('\n', start);
    const auto line = r.out.substr(start, end - start);
    if (!line.empty()) out.insert(json::parse(line)["data"][field].get<std::string>());
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// The last block node `n` applied, as its /metrics says ("" if it does not).
std::string applied_block(Cluster& c, std::size_t n) {
  const auto m = get(c.nodes[n]->url("/metrics")).body;
  const auto at = m.find("\nlatchkey_cluster_applied_block ");
  return at == std::string::npos ? std::string() : m.substr(at + 1, m.find('\n', at + 1) - at - 1);
}

// Waits until every running node has applied the same block, twice in a
// row; false if they do not within `within`. After a partition heals,
// JetStream may answer "temporarily unavailable" for many seconds while its
// groups settle, and a node applies nothing meanwhile.
bool nodes_converge(Cluster& c, Steady::duration within) {
  const auto from = Steady::now();
  std::string last;
  int same = 0;
  while (Steady::now() - from < within) {
    std::string first;
    bool equal = true;
    for (std::size_t n = 0; n < c.nodes.size() && equal; ++n) {
      if (!c.nodes[n]->running()) continue;
      const auto at = applied_block(c, n);
      if (first.empty()) first = at;
      equal = !at.empty() && at == first;
    }
    same = equal && first == last ? same + 1 : 0;
    last = equal ? first : std::string();
    if (same >= 1) {
      BOOST_TEST_MESSAGE(
          "the nodes agree on "
          << last << " after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - from).count()
          << " ms");
      return true;
    }
    std::this_thread::sleep_for(300ms);
  }
  return false;
}

// The lines of `text` that contain any of `words`.
std::string lines_with(const std::string& text, std::initializer_list<const char*> words) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const auto line = text.substr(start, end - start);
    for (const char* w : words) {
      if (line.find(w) != std::string::npos) {
        out += line + "\n";
        break;
      }
    }
    start = end + 1;
  }
  return out;
}

// What each node said about its lease, and each NATS server about its
// groups' leaders, for a failed check.
void say_who_wrote(Cluster& c, const NatsCluster* nats = nullptr) {
  if (nats != nullptr) {
    for (int i = 0; i < nats->size(); ++i) {
      auto said = lines_with(nats->stderr_text(i), {"leader", "Leader", "term", "route", "Route"});
      if (said.size() > 6000) said = said.substr(said.size() - 6000);
      BOOST_TEST_MESSAGE(nats->name(i) << " said:\n" << said);
    }
  }
  for (std::size_t n = 0; n < c.nodes.size(); ++n) {
    BOOST_TEST_MESSAGE("node-" << n + 1 << " said:\n"
                               << lines_with(c.nodes[n]->stderr_text(), {"writ"}));
  }
}

// Once the running nodes agree, stops every node; then each node's chain
// verifies, all end at the same head, and each holds every acknowledged
// login and key exactly once.
void every_node_holds_the_same_chain(Cluster& c, const Acknowledged* ack) {
  BOOST_TEST(nodes_converge(c, 60s), "the nodes have not applied the same blocks within 60 s");
  for (auto& n : c.nodes) n->stop();
  std::string head;
  for (std::size_t n = 1; n <= c.nodes.size(); ++n) {
    const std::string data = c.dir / ("node-" + std::to_string(n));
    const auto v = run_latchkey({"verify", "--data", data});
    BOOST_TEST(v.out.find("hash chain intact") != std::string::npos, v.out);
    const auto h = v.out.substr(v.out.find("head "), 70);
    if (head.empty()) head = h;
    BOOST_TEST(h == head, "node-" << n << " has another head");
    if (ack == nullptr) continue;
    const auto jtis = logged(data, "token.issued", "jti");
    const auto keys = logged(data, "key.created", "apikey");
    std::size_t lost = 0, doubled = 0;
    for (const auto& j : ack->jtis) {
      lost += jtis.count(j) == 0;
      doubled += jtis.count(j) > 1;
    }
    for (const auto& k : ack->apikeys) {
      lost += keys.count(k) == 0;
      doubled += keys.count(k) > 1;
    }
    BOOST_TEST(lost == 0u, "node-" << n << " lost " << lost << " acknowledged writes");
    BOOST_TEST(doubled == 0u, "node-" << n << " holds " << doubled << " writes twice");
  }
}

// A request to project `project` of node `n` (its Host names the project).
HttpResponse at_project(const Cluster& c, int n, const std::string& project,
                        const std::string& method, const std::string& path, const json& body = {},
                        const std::string& token = {}) {
  HttpOptions o;
  o.timeout_ms = 20000;
  o.headers = {"Host: " + project + ".localhost"};
  if (!token.empty()) o.headers.push_back("Authorization: Bearer " + token);
  if (!body.is_null()) o.headers.push_back("Content-Type: application/json");
  return http(method, c.nodes[static_cast<std::size_t>(n)]->url(path),
              body.is_null() ? std::string() : body.dump(), o);
}

json login_of(const std::string& apikey, const std::string& secretkey) {
  return {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_e2e)

BOOST_AUTO_TEST_CASE(no_acknowledged_write_is_lost_when_the_writer_and_the_stream_leader_die) {
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats);
  const int first = c.first_writer();

  // An admin token and a service account for the keys, through a follower.
  const int follower = (first + 1) % 3;
  const auto login = post_json(c.nodes[follower]->url("/iam/login"), c.login_body());
  BOOST_TEST_REQUIRE(login.status == 200, login.body);
  const std::string token = json::parse(login.body)["access_token"];
  const auto sa = post_json(c.nodes[follower]->url("/iam/service-accounts"),
                            {{"name", "load"}, {"roles", json::array({"admin"})}}, token);
  BOOST_TEST_REQUIRE(sa.status == 201, sa.body);
  const std::string sa_id = json::parse(sa.body)["id"];
  // Read your write: the node that forwarded it already shows it.
  BOOST_TEST(get(c.nodes[follower]->url("/iam/service-accounts/" + sa_id), token).status == 200);

  Acknowledged ack;
  Load loaders(c, ack, token, 3, 1);
  std::this_thread::sleep_for(3s);

  // The writer dies.
  c.nodes[first]->kill_on_purpose();
  const auto after_writer = until_logins_resume(c, (first + 1) % 3);
  BOOST_TEST_MESSAGE("logins resumed "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(after_writer).count()
                     << " ms after the writer was killed");
  BOOST_TEST((after_writer < 10s));
  std::this_thread::sleep_for(2s);

  // The NATS server leading the stream dies.
  const int leader = stream_leader(nats);
  BOOST_TEST_REQUIRE(leader >= 0);
  nats.kill(leader);
  const auto after_leader = until_logins_resume(c, (first + 2) % 3);
  BOOST_TEST_MESSAGE("logins resumed "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(after_leader).count()
                     << " ms after the stream leader was killed");
  BOOST_TEST((after_leader < 10s));
  std::this_thread::sleep_for(2s);

  // Both come back; the old writer catches up from the stream.
  nats.start(leader);
  c.nodes[first]->start();
  std::this_thread::sleep_for(3s);
  loaders.join();
  BOOST_TEST_MESSAGE(ack.jtis.size()
                     << " logins and " << ack.apikeys.size() << " keys acknowledged, "
                     << ack.failed.load() << " requests refused");
  BOOST_TEST(ack.jtis.size() > 50u);
  BOOST_TEST(ack.apikeys.size() > 5u);

  // A write through the restarted node, then every node applies everything.
  const auto last = post_json(c.nodes[first]->url("/iam/service-accounts/" + sa_id + "/keys"),
                              {{"description", "last"}}, token);
  BOOST_TEST_REQUIRE(last.status == 201, last.body);
  ack.apikeys.push_back(json::parse(last.body)["apikey"]);
  every_node_holds_the_same_chain(c, &ack);
}

BOOST_AUTO_TEST_CASE(the_writer_acknowledges_only_what_another_node_has_synced) {
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 2);
  const int w = c.first_writer();
  auto& writer = *c.nodes[static_cast<std::size_t>(w)];
  auto& other = *c.nodes[static_cast<std::size_t>(1 - w)];
  const std::string token = c.token_via(w);

  // The only other node is gone: the writer commits, but cannot say that
  // a second disk holds it, so it does not acknowledge.
  other.kill_on_purpose();
  const auto before = Steady::now();
  const auto alone = post_json(writer.url("/iam/service-accounts"), {{"name", "alone"}}, token);
  BOOST_TEST(alone.status == 503, alone.body);
  BOOST_TEST(alone.body.find("no other node confirmed") != std::string::npos, alone.body);
  BOOST_TEST((Steady::now() - before >= 9s));

  // Back, it syncs the log, and the writer acknowledges again.
  other.start();
  const auto deadline = Steady::now() + 30s;
  long status = 0;
  while (status != 201 && Steady::now() < deadline) {
    status = post_json(writer.url("/iam/service-accounts"), {{"name", "again"}}, token).status;
  }
  BOOST_TEST(status == 201);
  // The write that was not acknowledged is in the log all the same (the
  // 503 says "not acknowledged", not "not written"): on both nodes.
  const auto list = get(other.url("/iam/service-accounts?search=alone"), token);
  BOOST_TEST(list.body.find("\"alone\"") != std::string::npos, list.body);
}

BOOST_AUTO_TEST_CASE(a_writer_paused_past_its_lease_cannot_append_when_it_wakes) {
  // A paused process (a long GC pause, a VM migration, a partition that
  // heals) still believes it writes when it wakes: the stream must refuse it.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3);
  const int old_writer = c.first_writer();
  auto& old = *c.nodes[static_cast<std::size_t>(old_writer)];
  const std::string token = c.token_via(old_writer);

  ::kill(old.pid(), SIGSTOP);
  // Another node takes over and writes meanwhile.
  const int next = c.writer(20s, old_writer);
  BOOST_TEST_REQUIRE(next >= 0);
  auto& now_writer = *c.nodes[static_cast<std::size_t>(next)];
  const auto during =
      post_json(now_writer.url("/iam/service-accounts"), {{"name", "while paused"}}, token);
  BOOST_TEST_REQUIRE(during.status == 201, during.body);

  // The old writer wakes and is asked to write at once, before its lease
  // loop can notice anything: whatever it answers, it must not fork the log.
  ::kill(old.pid(), SIGCONT);
  const auto woke = post_json(old.url("/iam/service-accounts"), {{"name", "woke"}}, token);
  BOOST_TEST((woke.status == 201 || woke.status == 503), woke.status << " " << woke.body);
  BOOST_TEST_MESSAGE("the woken writer answered " << woke.status << ": " << woke.body);
  // It steps down and follows: a write through it now goes to the new writer.
  long status = 0;
  const auto until = Steady::now() + 20s;
  while (status != 201 && Steady::now() < until)
    status = post_json(old.url("/iam/service-accounts"), {{"name", "after"}}, token).status;
  BOOST_TEST(status == 201);
  BOOST_TEST(c.writer(1s) == next, "one writer, the new one");

  // Every node ends with the same chain, the paused node's included.
  every_node_holds_the_same_chain(c, nullptr);
}

BOOST_AUTO_TEST_CASE(a_write_forwarded_to_a_writer_that_stops_answering_fails_once_another_writes) {
  // The writer holds a forwarded request and never answers (it died, or is
  // paused): the forwarding node answers 503 soon after it sees another
  // writer, not at the end of its 10 s wait.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3);
  const int old_writer = c.first_writer();
  const int via = (old_writer + 1) % 3;
  const std::string token = c.token_via(via);
  auto& old = *c.nodes[static_cast<std::size_t>(old_writer)];

  ::kill(old.pid(), SIGSTOP);
  const auto sent = Steady::now();
  const auto held = post_json(c.nodes[static_cast<std::size_t>(via)]->url("/iam/service-accounts"),
                              {{"name", "held"}}, token);
  const auto waited = Steady::now() - sent;
  BOOST_TEST_MESSAGE("the forwarded write was answered "
                     << held.status << " after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                     << " ms");
  BOOST_TEST(held.status == 503, held.body);
  BOOST_TEST((waited < 9s), "the forwarding node waited out its whole timeout");
  const int next = c.writer(20s, old_writer);
  BOOST_TEST_REQUIRE(next >= 0);
  // The next write through the same node reaches the new writer.
  const auto after = post_json(c.nodes[static_cast<std::size_t>(via)]->url("/iam/service-accounts"),
                               {{"name", "after"}}, token);
  BOOST_TEST(after.status == 201, after.body);
  ::kill(old.pid(), SIGCONT);
  every_node_holds_the_same_chain(c, nullptr);
}

BOOST_AUTO_TEST_CASE(a_signing_key_rotated_through_any_node_signs_on_whichever_node_writes_next) {
  // The private key is made on the writer; the others get it, wrapped, in
  // the block that carries the rotation, so a new writer signs with the
  // key the log names active, and a restarted node opens the project.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3);
  const int first = c.first_writer();
  const int via = (first + 1) % 3;
  const std::string token = c.token_via(via);
  const auto kid_of = [](const std::string& jwt) -> std::string {
    const auto header = base64url_decode(std::string_view(jwt).substr(0, jwt.find('.')));
    if (!header) throw std::runtime_error("a token without a header");
    return json::parse(*header)["kid"];
  };

  HttpOptions bearer;
  bearer.headers = {"Authorization: Bearer " + token};
  const auto rotated = http(
      "POST", c.nodes[static_cast<std::size_t>(via)]->url("/iam/signing-keys/rotate"), {}, bearer);
  BOOST_TEST_REQUIRE(rotated.status == 201, rotated.body);
  const std::string kid = json::parse(rotated.body)["kid"];
  BOOST_TEST(kid_of(c.token_via(via)) == kid);
  for (const auto& n : c.nodes) {
    // Every node lists it, and holds its private key as a 0600 file.
    const auto jwks = get(n->url("/iam/.well-known/jwks.json"));
    BOOST_TEST(jwks.body.find(kid) != std::string::npos);
    const auto file = n->data_dir() + "/signing/" + kid + ".pem";
    BOOST_TEST_REQUIRE(std::filesystem::exists(file), file);
    BOOST_TEST((std::filesystem::status(file).permissions() ==
                (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)));
  }

  // The writer stops; another takes over and signs with the rotated key.
  ::kill(c.nodes[static_cast<std::size_t>(first)]->pid(), SIGSTOP);
  const int next = c.writer(20s, first);
  BOOST_TEST_REQUIRE(next >= 0);
  HttpResponse issued;
  const auto until = Steady::now() + 15s;
  while (issued.status != 200 && Steady::now() < until)
    issued = post_json(c.nodes[static_cast<std::size_t>(next)]->url("/iam/login"), c.login_body());
  BOOST_TEST_REQUIRE(issued.status == 200, issued.body);
  const std::string fresh = json::parse(issued.body)["access_token"];
  BOOST_TEST(kid_of(fresh) == kid, "the new writer signs with the key the log names active");
  ::kill(c.nodes[static_cast<std::size_t>(first)]->pid(), SIGCONT);

  // A node restarted after the rotation opens the project and accepts the token.
  const int third = 3 - first - next;
  auto& restarted = *c.nodes[static_cast<std::size_t>(third)];
  restarted.stop();
  restarted.start();
  const auto introspected = post_json(restarted.url("/iam/introspect"), {{"token", fresh}}, token);
  BOOST_TEST_REQUIRE(introspected.status == 200, introspected.body);
  BOOST_TEST(json::parse(introspected.body)["active"] == true, introspected.body);
  every_node_holds_the_same_chain(c, nullptr);

  // Offline (every node was stopped above), a node's data directory refuses
  // a rotation of its own: the event would be in its log alone.
  const auto offline = run_latchkey_failing({"rotate-signing-key", "--data", restarted.data_dir()});
  BOOST_TEST(offline.err.find("belongs to a cluster node") != std::string::npos, offline.err);
}

BOOST_AUTO_TEST_CASE(
    a_project_created_through_any_node_is_served_everywhere_and_deleted_everywhere) {
  // The writer makes the project's secrets; they reach the other nodes,
  // wrapped under the platform's key, in the project's first block. A
  // deletion is a block of its own, at which every node drops the project.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3);
  const int first = c.first_writer();
  const int via = (first + 1) % 3;
  const int third = (first + 2) % 3;
  const auto op = post_json(c.nodes[static_cast<std::size_t>(via)]->url("/platform/login"),
                            login_of(c.platform_apikey, c.platform_secretkey));
  BOOST_TEST_REQUIRE(op.status == 200, op.body);
  const std::string op_token = json::parse(op.body)["access_token"];
  const auto create = [&](int n, const std::string& id) {
    const auto r = post_json(c.nodes[static_cast<std::size_t>(n)]->url("/platform/projects"),
                             {{"id", id}, {"name", id}}, op_token);
    BOOST_TEST_REQUIRE(r.status == 201, r.body);
    return json::parse(r.body)["admin"];
  };

  // Created through a node that forwards it; every node serves it at once
  // (read your write on the forwarding node, the others once they apply).
  const json admin = create(via, "acme");
  const json admin_login = login_of(admin["apikey"], admin["secretkey"]);
  std::string token;
  // A login at node `n`, repeated for up to 15 s until it answers 200.
  const auto login_soon = [&](int n, const std::string& project, const json& body) {
    HttpResponse r;
    const auto until = Steady::now() + 15s;
    do {
      r = at_project(c, n, project, "POST", "/iam/login", body);
    } while (r.status != 200 && Steady::now() < until);
    return r;
  };
  for (int n : {via, first, third}) {
    const HttpResponse r = login_soon(n, "acme", admin_login);
    BOOST_TEST_REQUIRE(r.status == 200, "node-" << n + 1 << ": " << r.body);
    token = json::parse(r.body)["access_token"];
    // The project's secrets are that node's private files.
    const auto dir = c.nodes[static_cast<std::size_t>(n)]->data_dir() + "/projects/acme";
    BOOST_TEST((std::filesystem::status(dir + "/pepper").permissions() ==
                (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)));
  }
  // Isolated as on one node: acme's admin is unknown to the default project.
  BOOST_TEST(
      post_json(c.nodes[static_cast<std::size_t>(third)]->url("/iam/login"), admin_login).status ==
      401);
  // A key made through one node is listed through another.
  const auto sa =
      at_project(c, third, "acme", "POST", "/iam/service-accounts", {{"name", "ingest"}}, token);
  BOOST_TEST_REQUIRE(sa.status == 201, sa.body);
  const std::string sa_id = json::parse(sa.body)["id"];
  const auto key = at_project(c, third, "acme", "POST", "/iam/service-accounts/" + sa_id + "/keys",
                              {{"description", "ingest"}}, token);
  BOOST_TEST_REQUIRE(key.status == 201, key.body);
  const std::string key_id = json::parse(key.body)["apikey"];
  const auto listed =
      at_project(c, via, "acme", "GET", "/iam/service-accounts/" + sa_id + "/keys", {}, token);
  BOOST_TEST(listed.status == 200);
  BOOST_TEST(listed.body.find(key_id) != std::string::npos, listed.body);

  // The writer stops; the node that takes over signs acme's tokens with the
  // key it received, and the stopped node's are still accepted.
  ::kill(c.nodes[static_cast<std::size_t>(first)]->pid(), SIGSTOP);
  const int next = c.writer(20s, first);
  BOOST_TEST_REQUIRE(next >= 0);
  const HttpResponse issued = login_soon(next, "acme", admin_login);
  BOOST_TEST_REQUIRE(issued.status == 200, issued.body);
  const auto introspected =
      at_project(c, next, "acme", "POST", "/iam/introspect", {{"token", token}}, token);
  BOOST_TEST(json::parse(introspected.body)["active"] == true, introspected.body);
  ::kill(c.nodes[static_cast<std::size_t>(first)]->pid(), SIGCONT);

  // A node restarted opens the project from the secrets it wrote.
  const int other = 3 - first - next;
  c.nodes[static_cast<std::size_t>(other)]->stop();
  c.nodes[static_cast<std::size_t>(other)]->start();
  BOOST_TEST(at_project(c, other, "acme", "POST", "/iam/login", admin_login).status == 200);

  // Deleted through a node that forwards it (whichever writes now): gone
  // from every node, its data and its secrets with it.
  const int deleter = next == 0 ? 1 : 0;
  HttpOptions bearer;
  bearer.headers = {"Authorization: Bearer " + op_token};
  const auto deleted =
      http("DELETE", c.nodes[static_cast<std::size_t>(deleter)]->url("/platform/projects/acme"), {},
           bearer);
  BOOST_TEST_REQUIRE(deleted.status == 204, deleted.body);
  BOOST_TEST(nodes_converge(c, 60s));
  for (int n = 0; n < 3; ++n) {
    BOOST_TEST(at_project(c, n, "acme", "POST", "/iam/login", admin_login).status == 404);
    BOOST_TEST(!std::filesystem::exists(c.nodes[static_cast<std::size_t>(n)]->data_dir() +
                                        "/projects/acme"),
               "node-" << n + 1 << " keeps the deleted project's secrets");
  }

  // Its id stays taken (the platform's log names it); another project is
  // created through the same nodes, and the deleted one's admin is unknown there.
  const auto reused =
      post_json(c.nodes[static_cast<std::size_t>(deleter)]->url("/platform/projects"),
                {{"id", "acme"}, {"name", "Acme"}}, op_token);
  BOOST_TEST(reused.status == 409, reused.body);
  const json again = create(deleter, "beta");
  const json again_login = login_of(again["apikey"], again["secretkey"]);
  for (int n = 0; n < 3; ++n) {
    const HttpResponse r = login_soon(n, "beta", again_login);
    BOOST_TEST(r.status == 200, "node-" << n + 1 << ": " << r.body);
    BOOST_TEST(at_project(c, n, "beta", "POST", "/iam/login", admin_login).status == 401);
  }

  // Every node holds the same chains: the platform's (which records the
  // deletion) and the new project's; acme's is empty everywhere.
  every_node_holds_the_same_chain(c, nullptr);
  // No node failed to apply a block, store a project's secrets or open it.
  for (std::size_t n = 0; n < 3; ++n) {
    const std::string err = c.nodes[n]->stderr_text();
    for (const char* bad : {"cannot apply the replicated log", "cannot write a new project",
                            "cannot open a project", "cannot remove"})
      BOOST_TEST(err.find(bad) == std::string::npos, "node-" << n + 1 << ": " << bad);
    BOOST_TEST_MESSAGE("node-" << n + 1 << " errors:");
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);)
      if (line.find("\"level\":\"error\"") != std::string::npos) BOOST_TEST_MESSAGE(line);
  }
  for (const char* project : {"platform", "beta"}) {
    std::string head;
    for (std::size_t n = 1; n <= 3; ++n) {
      const auto v = run_latchkey(
          {"verify", "--data", c.dir / ("node-" + std::to_string(n)), "--project", project});
      const auto at = v.out.find("head ");
      BOOST_TEST_REQUIRE(at != std::string::npos, v.out);
      if (head.empty()) head = v.out.substr(at, 70);
      BOOST_TEST(v.out.substr(at, 70) == head, "node-" << n << " has another head for " << project);
    }
  }
  for (std::size_t n = 1; n <= 3; ++n) {
    const auto v = run_latchkey({"verify", "--data", c.dir / ("node-" + std::to_string(n))});
    BOOST_TEST(v.out.find("project beta: ok") != std::string::npos, v.out);
    BOOST_TEST(v.out.find("project acme") == std::string::npos, "node-" << n << " keeps acme");
  }
}

BOOST_AUTO_TEST_CASE(an_erased_principal_leaves_its_data_in_no_node_s_files) {
  // Every node takes snapshots of the views it serves; an erasure asked of
  // any node destroys the principal's key on every node, and every node
  // rewrites the snapshots that showed its personal data.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3, nullptr, {{"LATCHKEY_DATA_SNAPSHOT_EVERY_EVENTS", "4"}});
  const int first = c.first_writer();
  const int via = (first + 1) % 3;
  const std::string token = c.token_via(via);
  const std::string base = c.nodes[static_cast<std::size_t>(via)]->url();
  const std::string name = "Zelda Quixotic " + std::to_string(::getpid());
  const std::string email = "zelda." + std::to_string(::getpid()) + "@example.org";
  const auto user =
      post_json(base + "/iam/users",
                {{"name", name}, {"email", email}, {"roles", json::array({"auditor"})}}, token);
  BOOST_TEST_REQUIRE(user.status == 201, user.body);
  const std::string id = json::parse(user.body)["id"];
  // Enough events after it for a snapshot on every node.
  for (int i = 0; i < 3; ++i)
    for (int n = 0; n < 3; ++n) BOOST_TEST(c.token_via(n).size() > 0u);
  // The control: every node's files hold the live name (in a snapshot).
  for (const auto& n : c.nodes) {
    bool found = false;
    for (auto until = Steady::now() + 20s; !found && Steady::now() < until;) {
      found = !files_containing(n->data_dir(), name).empty();
      if (!found) std::this_thread::sleep_for(200ms);
    }
    BOOST_TEST_REQUIRE(found, n->data_dir() << ": no snapshot holds the live name");
  }

  const auto erased = post_json(base + "/iam/users/" + id + "/erase", json::object(), token);
  BOOST_TEST_REQUIRE(erased.status == 200, erased.body);
  BOOST_TEST(nodes_converge(c, 60s));
  for (std::size_t n = 0; n < 3; ++n) {
    const auto audit = get(c.nodes[n]->url("/iam/audit?principal_id=" + id + "&limit=100"), token);
    BOOST_TEST(audit.body.find(name) == std::string::npos, "node-" << n + 1);
    BOOST_TEST(audit.body.find("[erased]") != std::string::npos, audit.body);
  }
  every_node_holds_the_same_chain(c, nullptr);  // stops the nodes
  for (std::size_t n = 0; n < 3; ++n) {
    for (const std::string& needle : {name, email}) {
      const auto holding = files_containing(c.nodes[n]->data_dir(), needle);
      BOOST_TEST(holding.empty(), "node-" << n + 1 << ": " << (holding.empty() ? "" : holding[0]));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_node_added_from_a_backup_of_a_running_node_catches_up) {
  // `latchkey backup` of a running node is a consistent copy that holds the
  // node's place in the stream: a new node started from it applies the
  // blocks after that place, while the cluster keeps taking writes.
  BOOST_TEST_REQUIRE(have_nats_server());
  NatsCluster nats(3);
  Cluster c(nats, 3);
  const int first = c.first_writer();
  const int follower = (first + 1) % 3;
  const std::string token = c.token_via(follower);
  Acknowledged ack;
  Load loaders(c, ack, token, 2, 1000);
  std::this_thread::sleep_for(2s);

  // Under load, from the follower's directory while it runs.
  const std::string added = c.dir / "node-4";
  const auto backup = run_latchkey(
      {"backup", "--data", c.nodes[static_cast<std::size_t>(follower)]->data_dir(), "--to", added});
  BOOST_TEST_REQUIRE(backup.exit_code == 0, backup.err);
  BOOST_TEST_MESSAGE(backup.out);
  // The cluster goes on writing past the copy's place.
  std::this_thread::sleep_for(2s);
  loaders.join();
  c.nodes.push_back(std::make_unique<ServerProcess>(c.options_of(added)));
  // It serves: a write through it reaches the writer.
  const auto through =
      post_json(c.nodes[3]->url("/iam/service-accounts"), {{"name", "added"}}, token);
  BOOST_TEST(through.status == 201, through.body);
  BOOST_TEST_MESSAGE(ack.jtis.size()
                     << " logins and " << ack.apikeys.size() << " keys acknowledged, "
                     << ack.failed.load() << " writes failed");
  BOOST_TEST(ack.jtis.size() > 0u);
  // Every acknowledged write is on all four nodes, once; the chains are equal.
  every_node_holds_the_same_chain(c, &ack);
  BOOST_TEST(c.nodes[3]->stderr_text().find("cannot apply the replicated log") == std::string::npos,
             c.nodes[3]->stderr_text());
}

BOOST_AUTO_TEST_CASE(a_writer_cut_off_from_the_others_cannot_append_and_another_takes_over) {
  // Three hosts (network namespaces), each with a NATS server and a node.
  // The writer's host is cut off from the other two, both ways: its NATS
  // server has no quorum, so it cannot append; the other two elect what
  // they need and one of their nodes becomes the writer. Then the network
  // heals and the old writer follows the new one.
  BOOST_TEST_REQUIRE(have_nats_server());
  BOOST_TEST_REQUIRE(NetworkLab::available(), "needs root and ip netns");
  NetworkLab lab(3);
  NatsCluster nats(3, lab);
  Cluster c(nats, 3, &lab);
  const int old_writer = c.first_writer();
  auto& old = *c.nodes[static_cast<std::size_t>(old_writer)];
  const std::string token = c.token_via(old_writer);

  Acknowledged ack;
  Load loaders(c, ack, token, 2, 1000);
  std::this_thread::sleep_for(2s);

  lab.isolate(old_writer);
  const auto cut = Steady::now();
  // One of the other two takes over.
  const int next = c.writer(40s, old_writer);
  BOOST_TEST_REQUIRE(next >= 0, "no node of the majority became the writer");
  auto& now_writer = *c.nodes[static_cast<std::size_t>(next)];
  const long long took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - cut).count();
  BOOST_TEST_MESSAGE("node-" << next + 1 << " writes " << took << " ms after the cut");
  HttpResponse issued;
  const auto until = Steady::now() + 20s;
  while (issued.status != 200 && Steady::now() < until)
    issued = post_json(now_writer.url("/iam/login"), c.login_body());
  BOOST_TEST(issued.status == 200, "the new writer does not issue tokens: " << issued.body);
  if (issued.status != 200) {
    for (auto& n : c.nodes) {
      const auto e = n->stderr_text();
      BOOST_TEST_MESSAGE("---- node stderr (tail)\n"
                         << e.substr(e.size() > 6000 ? e.size() - 6000 : 0));
    }
  }
  long status = 0;

  // The old writer, cut off, appends nothing: every write through it fails.
  for (int i = 0; i < 3; ++i) {
    const auto r = post_json(old.url("/iam/login"), c.login_body());
    BOOST_TEST(r.status == 503, "a write through the cut-off writer answered " << r.status);
    const auto k = post_json(old.url("/iam/service-accounts"), {{"name", "cut off"}}, token);
    BOOST_TEST(k.status == 503, "a write through the cut-off writer answered " << k.status);
  }
  // The cut-off node does not say it writes; a node of the majority does
  // (the lease may have moved between them: their NATS clients reconnect
  // and JetStream's groups elect new leaders after the cut).
  const bool old_writes =
      get(old.url("/metrics")).body.find("\nlatchkey_cluster_writer 1") != std::string::npos;
  BOOST_TEST(!old_writes, "the cut-off node still says it writes");
  const int seen = c.writer(20s, old_writer);
  BOOST_TEST(seen >= 0, "no node of the majority writes");
  if (old_writes || seen < 0) say_who_wrote(c, &nats);

  // Healed: the old writer follows, and a write through it reaches the new one.
  // JetStream 2.9.10 may take many seconds to answer again after the heal,
  // while its servers reconnect their routes and its groups elect leaders.
  lab.heal(old_writer);
  status = 0;
  const auto heal = Steady::now();
  while (status != 201 && Steady::now() - heal < 90s)
    status = post_json(old.url("/iam/service-accounts"), {{"name", "healed"}}, token).status;
  BOOST_TEST(status == 201, "the old writer does not follow after the network healed");
  BOOST_TEST_MESSAGE(
      "a write through the old writer succeeded "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - heal).count()
      << " ms after the heal");
  if (status != 201) say_who_wrote(c, &nats);
  loaders.join();
  BOOST_TEST_MESSAGE(ack.jtis.size()
                     << " logins and " << ack.apikeys.size() << " keys acknowledged, "
                     << ack.failed.load() << " writes failed");

  // Every acknowledged write is on every node, once; the chains are equal.
  every_node_holds_the_same_chain(c, &ack);
}

BOOST_AUTO_TEST_SUITE_END()
