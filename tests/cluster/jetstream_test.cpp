// The replicated log's JetStream pieces against three real nats-server
// processes: the stream's fence, the writer's lease, and appends through the
// loss of the stream's leader.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "events/cluster/jetstream.h"
#include "events/cluster/messaging.h"
#include "tests/support/nats_cluster.h"

using namespace latchkey;
using namespace latchkey::events::cluster;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

std::shared_ptr<Nats> connect(const latchkey::test::NatsCluster& c, const std::string& name) {
  auto n = Nats::connect({c.urls(), name, 2000});
  if (!n) throw std::runtime_error("cannot connect: " + n.error().message + " " + n.error().detail);
  return *n;
}

// The stream, once the new cluster has elected its JetStream meta leader.
std::unique_ptr<BlockStream> open_stream(std::shared_ptr<Nats> n, StreamConfig config = {}) {
  const auto deadline = Steady::now() + 30s;
  for (;;) {
    auto s = BlockStream::open(n, config, true);
    if (s) return std::move(*s);
    if (s.error().code != Errc::unavailable || Steady::now() > deadline)
      throw std::runtime_error("cannot open the stream: " + s.error().message + " " +
                               s.error().detail);
    std::this_thread::sleep_for(200ms);
  }
}

std::unique_ptr<Lease> open_lease(std::shared_ptr<Nats> n, const std::string& node, int ttl_ms) {
  const auto deadline = Steady::now() + 30s;
  for (;;) {
    auto l = Lease::open(n, {"latchkey_lease", 3, ttl_ms}, node);
    if (l) return std::move(*l);
    if (Steady::now() > deadline)
      throw std::runtime_error("cannot open the lease: " + l.error().message + " " +
                               l.error().detail);
    std::this_thread::sleep_for(200ms);
  }
}

// The holder as the bucket shows it once it has settled. A read may be
// served by any replica of the bucket (direct gets), and a replica may not
// have applied the latest write yet; only the revision-checked writes fence.
// So a read is retried, for a short while, until it shows what is expected.
std::optional<LeaseHolder> settled_holder(
    Lease& l, const std::function<bool(const std::optional<LeaseHolder>&)>& ok) {
  const auto deadline = Steady::now() + 3s;
  for (;;) {
    auto h = l.holder();
    if (h && ok(*h)) return *h;
    if (Steady::now() > deadline) return h ? *h : std::nullopt;
    std::this_thread::sleep_for(50ms);
  }
}

struct Nats3 {
  Nats3() {
    if (!latchkey::test::have_nats_server())
      throw std::runtime_error("nats-server is not installed: run tools/install-deps test");
  }
  latchkey::test::NatsCluster cluster{3};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(jetstream)

BOOST_AUTO_TEST_CASE(a_writer_that_another_has_passed_cannot_append) {
  Nats3 n;
  auto a = open_stream(connect(n.cluster, "a"));
  auto b = open_stream(connect(n.cluster, "b"));  // the same configuration: binds

  auto first = a->publish(0, "a1");
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(*first == 1u);
  // b expects an empty stream: refused, nothing stored.
  auto refused = b->publish(0, "b1");
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code == Errc::conflict));
  BOOST_TEST(*b->last_seq() == 1u);
  // b catches up and appends; now a is the one behind.
  BOOST_TEST(*b->publish(1, "b2") == 2u);
  auto late = a->append(1, "a2", 5000);
  BOOST_TEST_REQUIRE(!late.has_value());
  BOOST_TEST((late.error().code == Errc::conflict));
  // append() recognises its own message after a lost acknowledgement.
  BOOST_TEST(*b->append(1, "b2", 5000) == 2u);

  BOOST_TEST(**a->get(1) == "a1");
  BOOST_TEST(**a->get(2) == "b2");
  BOOST_TEST(!a->get(3)->has_value());
  BOOST_TEST(*a->first_seq() == 1u);

  StreamConfig other;
  other.subject = "another.subject";
  auto clash = BlockStream::open(connect(n.cluster, "c"), other, true);
  BOOST_TEST_REQUIRE(!clash.has_value());
  BOOST_TEST((clash.error().code == Errc::conflict));
  StreamConfig missing;
  missing.name = "NO_SUCH_STREAM";
  auto none = BlockStream::open(connect(n.cluster, "d"), missing, false);
  BOOST_TEST_REQUIRE(!none.has_value());
  BOOST_TEST((none.error().code == Errc::not_found));
}

BOOST_AUTO_TEST_CASE(the_lease_has_one_holder_at_a_time) {
  Nats3 n;
  constexpr int kTtl = 1500;
  auto a = open_lease(connect(n.cluster, "a"), "node-a", kTtl);
  auto b = open_lease(connect(n.cluster, "b"), "node-b", kTtl);

  BOOST_TEST(*a->try_acquire());
  BOOST_TEST(a->held());
  BOOST_TEST(!*b->try_acquire());
  BOOST_TEST(!b->held());
  const auto h = settled_holder(*b, [](const auto& x) { return x.has_value(); });
  BOOST_TEST_REQUIRE(h.has_value());
  BOOST_TEST(h->node == "node-a");
  BOOST_TEST(h->epoch == a->epoch());

  // Renewed well within its TTL, for twice the TTL: nobody else gets it.
  auto stopped = Steady::now();
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(kTtl / 5));
    stopped = Steady::now();
    BOOST_TEST(!a->renew().has_error());
    BOOST_TEST(!*b->try_acquire());
  }
  const auto renewed_holder =
      settled_holder(*b, [&](const auto& x) { return x && x->epoch == a->epoch(); });
  BOOST_TEST_REQUIRE(renewed_holder.has_value());
  BOOST_TEST(renewed_holder->epoch == a->epoch(), "renewals keep the epoch");

  // a stops renewing (a crash, a partition): its lease ages out, b takes it.
  while (!*b->try_acquire()) {
    BOOST_TEST_REQUIRE((Steady::now() - stopped < 4 * std::chrono::milliseconds(kTtl)));
    std::this_thread::sleep_for(100ms);
  }
  BOOST_TEST((Steady::now() - stopped >= std::chrono::milliseconds(kTtl) - 200ms),
             "taken before the TTL ran out");
  BOOST_TEST(b->epoch() > a->epoch());
  const auto renewed = a->renew();
  BOOST_TEST_REQUIRE(renewed.has_error());
  BOOST_TEST((renewed.error().code == Errc::conflict));
  BOOST_TEST(!a->held());

  // A graceful stop gives it up at once.
  const std::uint64_t epoch_b = b->epoch();
  BOOST_TEST(!b->release().has_error());
  BOOST_TEST(!b->held());
  BOOST_TEST(!settled_holder(*a, [](const auto& x) { return !x.has_value(); }).has_value(),
             "a lease given up shows no holder");
  // Taken at once, without waiting out the TTL (a replica's read may lag a
  // moment behind the release, hence a few tries).
  const auto given_up = Steady::now();
  while (!*a->try_acquire()) {
    BOOST_TEST_REQUIRE((Steady::now() - given_up < std::chrono::milliseconds(kTtl) / 2));
    std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(a->epoch() > epoch_b);
}

BOOST_AUTO_TEST_CASE(appends_resume_after_the_stream_leader_is_killed) {
  Nats3 n;
  auto s = open_stream(connect(n.cluster, "writer"));
  std::uint64_t last = 0;
  for (int i = 0; i < 50; ++i) {
    auto seq = s->append(last, "block-" + std::to_string(last + 1), 10'000);
    BOOST_TEST_REQUIRE(seq.has_value());
    last = *seq;
  }
  const int leader = n.cluster.index_of(*s->leader());
  BOOST_TEST_REQUIRE(leader >= 0);
  n.cluster.kill(leader);
  const auto killed = Steady::now();
  auto seq = s->append(last, "block-" + std::to_string(last + 1), 20'000);
  const auto resumed = Steady::now() - killed;
  BOOST_TEST_REQUIRE(seq.has_value(), (seq ? "" : seq.error().message + " " + seq.error().detail));
  BOOST_TEST_MESSAGE("appends resumed "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(resumed).count()
                     << " ms after the stream leader was killed");
  BOOST_TEST((resumed < 10s));
  last = *seq;
  for (int i = 0; i < 20; ++i) last = *s->append(last, "block-" + std::to_string(last + 1), 10'000);

  n.cluster.start(leader);
  for (int i = 0; i < 20; ++i) last = *s->append(last, "block-" + std::to_string(last + 1), 10'000);
  // Every block once, in order, nothing lost or doubled.
  BOOST_TEST(*s->last_seq() == 91u);
  for (std::uint64_t k = 1; k <= last; ++k) BOOST_TEST(**s->get(k) == "block-" + std::to_string(k));
}

BOOST_AUTO_TEST_CASE(a_request_gets_its_reply_or_a_clear_failure) {
  Nats3 n;
  auto server = connect(n.cluster, "server");
  auto client = connect(n.cluster, "client");
  auto requester = Requester::open(client);
  BOOST_TEST_REQUIRE(requester.has_value());
  const auto ask = [&](const std::string& subject, const std::string& body, int timeout_ms) {
    std::promise<Result<std::string>> p;
    (*requester)->request(subject, body, timeout_ms, [&p](Result<std::string> r) {
      p.set_value(std::move(r));
    });
    return p.get_future().get();
  };

  // Nobody serves the subject: told at once, not after the timeout.
  const auto before = Steady::now();
  auto none = ask("latchkey.test.echo", "x", 5000);
  BOOST_TEST_REQUIRE(!none.has_value());
  BOOST_TEST((none.error().code == Errc::unavailable));
  BOOST_TEST((Steady::now() - before < 3s));

  std::vector<std::thread> late;  // replies from other threads, as a server's handlers do
  {
    auto echo = Responder::serve(server, "latchkey.test.echo",
                                 [&late](std::string body, Responder::Reply reply) {
                                   if (body == "silence") return;
                                   late.emplace_back([body, reply] { reply("echo:" + body); });
                                 });
    BOOST_TEST_REQUIRE(echo.has_value());
    for (int i = 0; i < 20; ++i) {
      auto r = ask("latchkey.test.echo", "m" + std::to_string(i), 5000);
      BOOST_TEST_REQUIRE(r.has_value());
      BOOST_TEST(*r == "echo:m" + std::to_string(i));
    }
    const auto asked = Steady::now();
    auto silent = ask("latchkey.test.echo", "silence", 300);
    BOOST_TEST_REQUIRE(!silent.has_value());
    BOOST_TEST((silent.error().code == Errc::unavailable));
    BOOST_TEST((Steady::now() - asked >= 300ms));
    for (auto& t : late) t.join();
  }
  // Served no more once the responder is gone.
  BOOST_TEST(!ask("latchkey.test.echo", "x", 5000).has_value());
}

BOOST_AUTO_TEST_SUITE_END()
