#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>
#include <thread>

#include "events/event_log.h"
#include "events/verify.h"
#include "service/sequencer.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::service::Sequencer;

BOOST_AUTO_TEST_SUITE(sequencer)

BOOST_AUTO_TEST_CASE(concurrent_writers_get_dense_unique_sequences_and_a_valid_chain) {
  test::TempDir dir;
  auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
  BOOST_REQUIRE(log.has_value());
  SystemClock clock;
  std::atomic<std::size_t> applied{0};
  std::vector<std::size_t> groups;
  Sequencer seq(**log, clock, {[&](std::span<const Event> evs) { applied += evs.size(); }, {}}, {});
  seq.set_batch_observer([&](std::size_t n, Micros, bool) { groups.push_back(n); });
  constexpr int kThreads = 16, kEach = 50;
  std::vector<std::vector<Seq>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = seq.submit_and_wait(
            Sequencer::Isolation::shared, [&, t, i](Micros) -> Result<std::vector<Draft>> {
              return std::vector<Draft>{test::token_issued(
                  "lk_000000000000000000000001", "usr_" + std::to_string(t), t * 1000 + i)};
            });
        // Boost.Test's assertions are not thread-safe: record, check after the join.
        got[t].push_back(r.has_value() ? r->front().seq : 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  seq.stop();
  std::set<Seq> all;
  for (const auto& g : got) {
    BOOST_TEST(std::count(g.begin(), g.end(), Seq{0}) == 0, "every append succeeded");
    for (std::size_t i = 1; i < g.size(); ++i)
      BOOST_TEST(g[i] > g[i - 1]);  // each writer's order holds
    all.insert(g.begin(), g.end());
  }
  BOOST_TEST(all.size() == static_cast<std::size_t>(kThreads * kEach));
  BOOST_TEST(*all.begin() == 1u);
  BOOST_TEST(*all.rbegin() == static_cast<Seq>(kThreads * kEach));
  BOOST_TEST(applied.load() == static_cast<std::size_t>(kThreads * kEach));
  BOOST_TEST(verify_log(**log).ok);
  // Concurrent submissions shared syncs: fewer appends than events.
  BOOST_TEST(groups.size() < static_cast<std::size_t>(kThreads * kEach));
}

BOOST_AUTO_TEST_CASE(one_writer_serves_many_projects_with_one_append_per_group) {
  test::TempDir dir;
  auto store = open_rocksdb_store(dir / "log", OpenMode::create_new);
  BOOST_REQUIRE(store.has_value());
  SystemClock clock;
  Sequencer seq(**store, clock, {});
  constexpr int kProjects = 4, kThreads = 8, kEach = 40;
  std::vector<std::string> ids;
  std::vector<std::shared_ptr<Sequencer::Target>> targets;
  std::vector<std::atomic<std::size_t>> applied(kProjects);
  std::vector<std::atomic<Seq>> last_applied(kProjects);
  for (int p = 0; p < kProjects; ++p) {
    ids.push_back("p" + std::to_string(p));
    targets.push_back(
        seq.add_target((*store)->log(ids.back()), {[&, p](std::span<const Event> evs) {
                                                     applied[p] += evs.size();
                                                     last_applied[p] = evs.back().seq;
                                                   },
                                                   {}}));
  }
  std::vector<std::size_t> groups;
  seq.set_batch_observer([&](std::size_t n, Micros, bool) { groups.push_back(n); });
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int p = (t + i) % kProjects;
        auto r = seq.submit_and_wait(
            targets[p], Sequencer::Isolation::shared,
            [&, t, i](Micros) -> Result<std::vector<Draft>> {
              return std::vector<Draft>{test::token_issued("lk_x", "usr_x", t * 1000 + i)};
            });
        if (!r) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(failures.load() == 0);
  std::size_t total = 0;
  for (int p = 0; p < kProjects; ++p) {
    EventLog& log = (*store)->log(ids[p]);
    BOOST_TEST(applied[p].load() == log.head().seq);  // each hook heard only its own events
    BOOST_TEST(last_applied[p].load() == log.head().seq);
    BOOST_TEST(verify_log(log).ok);
    total += log.head().seq;
  }
  BOOST_TEST(total == static_cast<std::size_t>(kThreads * kEach));
  // Groups spanned projects: fewer appends than events, and some larger than
  // what one project's share of the threads could form on its own.
  BOOST_TEST(groups.size() < total);
  // A removed target's later work is refused; the others go on.
  seq.remove_target(targets[0]);
  auto refused = seq.submit_and_wait(targets[0], Sequencer::Isolation::shared,
                                     [](Micros) -> Result<std::vector<Draft>> {
                                       return std::vector<Draft>{test::user_created("usr_1")};
                                     });
  BOOST_TEST(!refused.has_value());
  auto ok = seq.submit_and_wait(targets[1], Sequencer::Isolation::exclusive,
                                [](Micros) -> Result<std::vector<Draft>> {
                                  return std::vector<Draft>{test::user_created("usr_1")};
                                });
  BOOST_TEST(ok.has_value());
  seq.stop();
}

BOOST_AUTO_TEST_CASE(an_exclusive_producer_sees_everything_committed_before_it) {
  test::TempDir dir;
  auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
  SystemClock clock;
  std::atomic<Seq> applied{0};
  Sequencer seq(**log, clock, {[&](std::span<const Event> evs) { applied = evs.back().seq; }, {}},
                {});
  std::vector<std::pair<Seq, Seq>> seen;  // (applied when run, head when run)
  std::mutex mu;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const bool exclusive = i % 5 == 0;
        auto r = seq.submit_and_wait(
            exclusive ? Sequencer::Isolation::exclusive : Sequencer::Isolation::shared,
            [&, t, i, exclusive](Micros) -> Result<std::vector<Draft>> {
              if (exclusive) {
                std::lock_guard lock(mu);
                seen.emplace_back(applied.load(), (*log)->head().seq);
              }
              return std::vector<Draft>{test::token_issued("lk_1", "usr", t * 100 + i)};
            });
        if (!r) ++failed;  // checked after the join: Boost.Test is not thread-safe
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(failed.load() == 0);
  for (const auto& [applied_then, head_then] : seen) BOOST_TEST(applied_then == head_then);
}

BOOST_AUTO_TEST_CASE(rejections_and_empty_results_complete_without_appending) {
  test::TempDir dir;
  auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
  SystemClock clock;
  Sequencer seq(**log, clock, {}, {});
  auto rejected = seq.submit_and_wait(
      Sequencer::Isolation::exclusive,
      [](Micros) -> Result<std::vector<Draft>> { return make_error(Errc::conflict, "no"); });
  BOOST_TEST(static_cast<int>(rejected.error().code) == static_cast<int>(Errc::conflict));
  auto empty = seq.submit_and_wait(
      Sequencer::Isolation::shared,
      [](Micros) -> Result<std::vector<Draft>> { return std::vector<Draft>{}; });
  BOOST_TEST(empty->empty());
  BOOST_TEST((*log)->head().seq == 0u);
  seq.stop();
  auto after_stop = seq.submit_and_wait(
      Sequencer::Isolation::shared,
      [](Micros) -> Result<std::vector<Draft>> { return std::vector<Draft>{}; });
  BOOST_TEST(static_cast<int>(after_stop.error().code) == static_cast<int>(Errc::unavailable));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A log that refuses appends while `refuse` is set, and otherwise is the one it wraps.
class RefusingLog final : public EventLog {
 public:
  explicit RefusingLog(EventLog& inner) : inner_(inner) {}
  std::atomic<bool> refuse{false};

  Result<std::vector<Event>> append(std::span<const Draft> drafts, Micros time) override {
    if (refuse) return make_error(Errc::unavailable, "refused by the test");
    return inner_.append(drafts, time);
  }
  Result<std::vector<Event>> recover() override { return std::vector<Event>{}; }
  Head head() const override { return inner_.head(); }
  Result<Event> get(Seq seq) const override { return inner_.get(seq); }
  Status scan(Seq from, Seq to, const std::function<bool(const Event&)>& fn) const override {
    return inner_.scan(from, to, fn);
  }
  Status scan_raw(
      const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    return inner_.scan_raw(fn);
  }
  Status scan_index(Index index, std::string_view key, Seq from, Direction dir,
                    const std::function<bool(const IndexEntry&)>& fn) const override {
    return inner_.scan_index(index, key, from, dir, fn);
  }
  Result<Seq> seq_at_time(Micros t) const override { return inner_.seq_at_time(t); }
  Status put_snapshot(const Snapshot& s) override { return inner_.put_snapshot(s); }
  Result<std::optional<Snapshot>> find_snapshot(Seq at) const override {
    return inner_.find_snapshot(at);
  }
  Status refresh() override { return inner_.refresh(); }

 private:
  EventLog& inner_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(each_group_is_settled_once_before_its_completions) {
  test::TempDir dir;
  auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
  BOOST_REQUIRE(log.has_value());
  RefusingLog refusing(**log);
  SystemClock clock;
  // Written on the writer thread only, read after submit_and_wait returns.
  std::vector<std::string> calls;
  Sequencer seq(refusing, clock,
                {[&](std::span<const Event> evs) {
                   calls.push_back("committed " + std::to_string(evs.size()));
                 },
                 [&](bool durable) { calls.push_back(durable ? "settled ok" : "settled failed"); }},
                {});
  auto one = [&](bool with_event) {
    return seq.submit_and_wait(
        Sequencer::Isolation::shared, [&, with_event](Micros) -> Result<std::vector<Draft>> {
          calls.push_back("produced");
          if (!with_event) return std::vector<Draft>{};
          return std::vector<Draft>{test::token_issued("lk_000000000000000000000001", "usr_1", 1)};
        });
  };
  BOOST_TEST(one(true).has_value());
  BOOST_TEST(one(false).has_value());
  refusing.refuse = true;
  const auto failed = one(true);
  BOOST_TEST_REQUIRE(!failed.has_value());
  BOOST_TEST((failed.error().code == Errc::unavailable));
  seq.stop();
  const std::vector<std::string> want = {"produced",   "committed 1", "settled ok",    "produced",
                                         "settled ok", "produced",    "settled failed"};
  BOOST_TEST(calls == want, boost::test_tools::per_element());
  BOOST_TEST((**log).head().seq == 1u);  // the refused group left nothing
}
