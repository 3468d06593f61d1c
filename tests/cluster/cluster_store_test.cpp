// A cluster node's store against three real nats-server processes: the
// writer's group commits reach another node's RocksDB as the very same
// chains, and a writer that another has replaced cannot append.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include "events/cluster/cluster_store.h"
#include "events/verify.h"
#include "tests/support/nats_cluster.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using namespace latchkey::events::cluster;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<BlockStream> stream_of(const latchkey::test::NatsCluster& c,
                                       const std::string& name) {
  auto n = Nats::connect({c.urls(), name, 2000});
  if (!n) throw std::runtime_error("cannot connect: " + n.error().message);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto s = BlockStream::open(*n, {}, true);
    if (s) return std::move(*s);
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("cannot open the stream: " + s.error().message);
    std::this_thread::sleep_for(200ms);
  }
}

// A node: its own RocksDB store and the cluster store over it.
struct Node {
  Node(const latchkey::test::NatsCluster& c, const std::string& name,
       std::size_t blocks_in_flight = 1) {
    auto opened = open_rocksdb_store(dir / "log", OpenMode::create_new);
    if (!opened) throw std::runtime_error(opened.error().message);
    local = std::move(*opened);
    auto cs = ClusterStore::open(*local, stream_of(c, name), name, 10'000, blocks_in_flight);
    if (!cs) throw std::runtime_error(cs.error().message);
    store = std::move(*cs);
  }
  latchkey::test::TempDir dir;
  std::unique_ptr<EventStore> local;
  std::unique_ptr<ClusterStore> store;
};

Draft settings(const std::string& who, int n) {
  SettingsChanged s;
  s.changes.push_back(SettingChange{"token_lifetime_seconds", 600, 600 + n});
  return Draft{EventType::settings_changed, s, {who, "rid-" + std::to_string(n), "192.0.2.1"}};
}

// One group with `n` drafts for each of `projects`, sent (not completed).
struct Sending {
  std::vector<std::vector<Draft>> drafts;  // alive until completed
  std::unique_ptr<EventStore::Sent> sent;
};
std::unique_ptr<Sending> send(Node& node, const std::vector<std::string>& projects, int n,
                              int tag) {
  auto s = std::make_unique<Sending>();
  s->drafts.resize(projects.size());
  std::vector<EventStore::Part> parts;
  for (std::size_t i = 0; i < projects.size(); ++i) {
    for (int k = 0; k < n; ++k)
      s->drafts[i].push_back(settings("usr_" + projects[i], tag * 100 + k));
    parts.push_back({&node.store->log(projects[i]), s->drafts[i]});
  }
  s->sent = node.store->send(parts, 1'790'000'000'000'000 + tag);
  return s;
}

// Appends one group with `n` drafts for each of `projects`.
Result<std::vector<std::vector<Event>>> append(Node& node, const std::vector<std::string>& projects,
                                               int n, int tag) {
  auto s = send(node, projects, n, tag);
  return node.store->complete(*s->sent);
}

void same_chains(Node& a, Node& b, const std::vector<std::string>& projects) {
  for (const auto& p : projects) {
    const Head ha = a.local->log(p).head();
    const Head hb = b.local->log(p).head();
    BOOST_TEST(ha.seq == hb.seq, p);
    BOOST_TEST((ha.hash == hb.hash), p);
    BOOST_TEST(verify_log(b.local->log(p)).ok, p);
    BOOST_TEST(verify_log(a.local->log(p)).ok, p);
  }
  BOOST_TEST(a.store->position().block == b.store->position().block);
  BOOST_TEST((a.store->position().hash == b.store->position().hash));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_store)

BOOST_AUTO_TEST_CASE(the_writer_s_commits_reach_every_node_as_the_same_chains) {
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a"), b(nats, "node-b");
  const std::vector<std::string> projects{"default", "acme"};

  // Not the writer: nothing is published.
  auto refused = append(b, projects, 1, 0);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code == Errc::unavailable));

  a.store->lead(1);
  auto behind = append(a, projects, 1, 0);  // not yet pulled: not known to be caught up
  BOOST_TEST_REQUIRE(!behind.has_value());
  BOOST_TEST(a.store->pull()->empty());
  BOOST_TEST(a.store->writing());
  for (int g = 1; g <= 20; ++g) {
    auto r = append(a, g % 2 ? projects : std::vector<std::string>{"acme"}, 3, g);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
  }
  BOOST_TEST(a.local->log("acme").head().seq == 60u);
  BOOST_TEST(a.store->position().block == 20u);

  // b applies the blocks: every event of every project, in order.
  auto pulled = b.store->pull();
  BOOST_TEST_REQUIRE(pulled.has_value());
  std::size_t events = 0;
  for (const auto& [log, evs] : *pulled) events += evs.size();
  BOOST_TEST(events == 90u);
  same_chains(a, b, projects);

  // b takes over (a's lease aged out, say): a, still believing it writes,
  // is refused by the stream, and applies b's block when it pulls.
  b.store->lead(2);
  BOOST_TEST(b.store->pull()->empty());
  BOOST_TEST_REQUIRE(append(b, projects, 2, 21).has_value());
  auto fenced = append(a, projects, 1, 22);
  BOOST_TEST_REQUIRE(!fenced.has_value());
  BOOST_TEST((fenced.error().code == Errc::unavailable));
  BOOST_TEST(!a.store->writing());
  auto caught = a.store->pull();
  BOOST_TEST_REQUIRE(caught.has_value());
  BOOST_TEST(caught->size() == 2u);
  same_chains(a, b, projects);

  // The position is durable: a reopened node resumes after its last block.
  const auto pos = b.store->position();
  b.store.reset();
  b.local.reset();
  auto reopened = open_rocksdb_store(b.dir / "log", OpenMode::read_write);
  BOOST_TEST_REQUIRE(reopened.has_value());
  BOOST_TEST((*reopened)->replica_position()->block == pos.block);
  BOOST_TEST(((*reopened)->replica_position()->hash == pos.hash));
}

BOOST_AUTO_TEST_CASE(a_writer_whose_lease_is_not_renewed_in_time_stops_appending) {
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a");
  const std::vector<std::string> projects{"default"};
  a.store->lead(1, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  BOOST_TEST_REQUIRE(a.store->pull().has_value());
  BOOST_TEST(a.store->writing());
  BOOST_TEST_REQUIRE(append(a, projects, 2, 1).has_value());

  // The renewal that would have moved the time on did not come back: past
  // it, nothing is published, though the stream would still take it.
  a.store->hold_until(std::chrono::steady_clock::now() - std::chrono::milliseconds(1));
  BOOST_TEST(!a.store->writing());
  auto late = append(a, projects, 2, 2);
  BOOST_TEST_REQUIRE(!late.has_value());
  BOOST_TEST((late.error().code == Errc::unavailable));
  BOOST_TEST(a.store->position().block == 1u);
  BOOST_TEST(a.local->log("default").head().seq == 2u);

  // Renewed: it appends again, after the block before.
  a.store->hold_until(std::chrono::steady_clock::now() + std::chrono::seconds(30));
  BOOST_TEST(a.store->writing());
  BOOST_TEST_REQUIRE(append(a, projects, 2, 3).has_value());
  BOOST_TEST(a.store->position().block == 2u);
  BOOST_TEST(a.local->log("default").head().seq == 4u);
}

BOOST_AUTO_TEST_CASE(a_node_applies_the_blocks_the_writer_announces) {
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a"), b(nats, "node-b");
  const std::vector<std::string> projects{"default", "acme"};
  std::vector<std::pair<std::uint64_t, std::string>> announced;
  a.store->set_on_published(
      [&](std::uint64_t seq, const std::string& bytes) { announced.emplace_back(seq, bytes); });
  a.store->lead(1);
  BOOST_TEST_REQUIRE(a.store->pull().has_value());
  for (int g = 1; g <= 2; ++g) BOOST_TEST_REQUIRE(append(a, projects, 2, g).has_value());
  BOOST_TEST_REQUIRE(announced.size() == 2u);

  // Offered: applied as the stream has them.
  for (auto& [seq, bytes] : announced) b.store->offer(seq, bytes);
  BOOST_TEST_REQUIRE(b.store->pull().has_value());
  same_chains(a, b, projects);

  // An announcement lost: once block 3 is expected (or every 2 s), b reads
  // it from the stream.
  BOOST_TEST_REQUIRE(append(a, projects, 1, 3).has_value());
  b.store->expect(3);
  BOOST_TEST_REQUIRE(b.store->pull().has_value());
  same_chains(a, b, projects);

  // An offer that does not follow b's position is refused, and nothing is written.
  BOOST_TEST_REQUIRE(append(a, projects, 1, 4).has_value());
  std::string forged = announced.front().second;
  b.store->offer(4, forged);  // block 1's bytes announced as block 4
  auto refused = b.store->pull();
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code == Errc::corruption));
  BOOST_TEST(b.store->position().block == 3u);
}

BOOST_AUTO_TEST_CASE(a_group_too_large_for_one_message_is_refused_and_nothing_is_published) {
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a");
  a.store->lead(1);
  BOOST_TEST_REQUIRE(a.store->pull().has_value());
  auto big = append(a, {"default"}, 12000, 1);  // about 1.4 MB, over the default 1 MB
  BOOST_TEST_REQUIRE(!big.has_value());
  BOOST_TEST((big.error().code == Errc::unavailable));
  BOOST_TEST(big.error().message.find("too large") != std::string::npos);
  BOOST_TEST(a.local->log("default").head().seq == 0u);
  BOOST_TEST(a.store->position().block == 0u);
  // The writer goes on with groups that fit.
  auto small = append(a, {"default"}, 10, 2);
  BOOST_TEST_REQUIRE(small.has_value(), (small ? "" : small.error().message));
  BOOST_TEST(a.store->position().block == 1u);
}

BOOST_AUTO_TEST_CASE(blocks_in_flight_follow_each_other_and_fail_together) {
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a", 4), b(nats, "node-b", 4);
  const std::vector<std::string> projects{"default", "acme"};
  a.store->lead(1);
  BOOST_TEST_REQUIRE(a.store->pull().has_value());

  // Four blocks published before the first is acknowledged: each is made
  // after the one before (chains, block links) and fenced on it.
  std::vector<std::unique_ptr<Sending>> sent;
  for (int g = 1; g <= 4; ++g)
    sent.push_back(send(a, g % 2 ? projects : std::vector<std::string>{"acme"}, 2, g));
  BOOST_TEST(a.local->log("acme").head().seq == 0u);  // nothing written before its ack
  Seq expected = 0;
  for (auto& s : sent) {
    auto r = a.store->complete(*s->sent);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    const auto& acme = r->back();
    BOOST_TEST(acme.front().seq == expected + 1);
    expected = acme.back().seq;
  }
  BOOST_TEST(a.store->position().block == 4u);
  BOOST_TEST(a.local->log("acme").head().seq == 8u);
  auto pulled = b.store->pull();  // all four in one write
  BOOST_TEST_REQUIRE(pulled.has_value());
  same_chains(a, b, projects);

  // b takes over; a, unaware, sends three blocks fenced on its own last
  // one: the first is refused, and the two after it fail with it, unwritten.
  b.store->lead(2);
  BOOST_TEST_REQUIRE(b.store->pull().has_value());
  BOOST_TEST_REQUIRE(append(b, projects, 1, 10).has_value());
  sent.clear();
  for (int g = 11; g <= 13; ++g) sent.push_back(send(a, projects, 1, g));
  for (auto& s : sent) {
    auto r = a.store->complete(*s->sent);
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST((r.error().code == Errc::unavailable));
  }
  BOOST_TEST(!a.store->writing());
  auto recovered = a.store->recover();  // takes b's block
  BOOST_TEST_REQUIRE(recovered.has_value());
  same_chains(a, b, projects);
  BOOST_TEST(a.store->position().block == 5u);
}

BOOST_AUTO_TEST_CASE(a_project_dropped_by_the_writer_is_dropped_at_the_same_block_everywhere) {
  // The drop is a block of its own: a node that reads it after other blocks
  // writes those first, then drops; a project of that id created again
  // starts a fresh chain on every node.
  BOOST_TEST_REQUIRE(latchkey::test::have_nats_server());
  latchkey::test::NatsCluster nats(3);
  Node a(nats, "node-a"), b(nats, "node-b");
  std::vector<std::string> dropped;
  b.store->set_on_dropped([&](std::string_view p) { dropped.emplace_back(p); });
  // Not the writer: nothing is published, nothing dropped.
  BOOST_TEST((b.store->drop("acme").error().code == Errc::unavailable));

  a.store->lead(1);
  BOOST_TEST(a.store->pull()->empty());
  BOOST_TEST_REQUIRE(append(a, {"default", "acme"}, 3, 1).has_value());
  BOOST_TEST_REQUIRE(b.store->pull().has_value());  // b holds acme's first chain
  BOOST_TEST(b.local->log("acme").head().seq == 3u);
  BOOST_TEST_REQUIRE(append(a, {"acme"}, 2, 2).has_value());
  BOOST_TEST_REQUIRE(a.store->drop("acme").has_value());
  BOOST_TEST(a.local->log("acme").head().seq == 0u);
  BOOST_TEST(a.store->position().block == 3u);
  BOOST_TEST_REQUIRE(append(a, {"default", "acme"}, 1, 3).has_value());  // acme again
  BOOST_TEST(a.local->log("acme").head().seq == 1u);

  // One pull reads the first of the three blocks and stops before the drop,
  // which the next pull applies.
  b.store->expect(4);
  auto first = b.store->pull();
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(b.store->position().block == 2u);
  BOOST_TEST(b.local->log("acme").head().seq == 5u);
  BOOST_TEST(dropped.empty());
  auto rest = b.store->pull();
  BOOST_TEST_REQUIRE(rest.has_value());
  BOOST_TEST_REQUIRE(dropped.size() == 1u);
  BOOST_TEST(dropped[0] == "acme");
  if (b.store->position().block < 4) BOOST_TEST_REQUIRE(b.store->pull().has_value());
  same_chains(a, b, {"default", "acme"});
  BOOST_TEST(b.local->log("acme").head().seq == 1u);
  BOOST_TEST(b.local->log("default").head().seq == 4u);

  // A node that starts later finds the same, from the stream alone.
  Node c(nats, "node-c");
  for (int i = 0; i < 4 && c.store->position().block < 4; ++i)
    BOOST_TEST_REQUIRE(c.store->pull().has_value());
  same_chains(a, c, {"default", "acme"});
}

BOOST_AUTO_TEST_SUITE_END()
