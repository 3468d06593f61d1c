#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <future>
#include <mutex>
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

// A log that refuses appends while `refuse` is set, holds each append at a
// gate while `hold` is set, and otherwise is the one it wraps.
class RefusingLog final : public EventLog {
 public:
  explicit RefusingLog(EventLog& inner) : inner_(inner) {}
  std::atomic<bool> refuse{false};

  Result<std::vector<Event>> append(std::span<const Draft> drafts, Micros time) override {
    {
      std::unique_lock lock(mu_);
      ++appends_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_; });
    }
    if (refuse) return make_error(Errc::unavailable, "refused by the test");
    return inner_.append(drafts, time);
  }
  void hold(bool on) {
    std::lock_guard lock(mu_);
    hold_ = on;
    cv_.notify_all();
  }
  // Waits (at most 10 s) until `n` appends have begun.
  bool wait_appends(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return appends_ >= n; });
  }
  int appends() {
    std::lock_guard lock(mu_);
    return appends_;
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
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int appends_ = 0;
};

// A new log behind a RefusingLog.
struct RefusingWorld {
  test::TempDir dir;
  std::unique_ptr<EventLog> log = open_log(dir);
  RefusingLog refusing{*log};
  SystemClock clock;

  static std::unique_ptr<EventLog> open_log(const test::TempDir& dir) {
    auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
    BOOST_REQUIRE(log.has_value());
    return std::move(*log);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(each_group_is_settled_once_before_its_completions) {
  RefusingWorld world;
  auto& refusing = world.refusing;
  // Written on the writer thread only, read after submit_and_wait returns.
  std::vector<std::string> calls;
  Sequencer seq(refusing, world.clock,
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
  BOOST_TEST(world.log->head().seq == 1u);  // the refused group left nothing
}

BOOST_AUTO_TEST_CASE(the_next_group_waits_for_the_one_written_and_goes_out_before_it_is_announced) {
  RefusingWorld world;
  auto& gated = world.refusing;
  std::mutex mu;  // the hooks run on the writer thread, the checks on this one
  std::vector<std::string> calls;
  const auto note = [&](std::string s) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(s));
  };
  const auto seen = [&](const std::string& s) {
    std::lock_guard lock(mu);
    return std::find(calls.begin(), calls.end(), s) != calls.end();
  };
  Sequencer seq(
      gated, world.clock,
      {[&](std::span<const Event> evs) { note("committed " + std::to_string(evs.front().seq)); },
       [&](bool durable) { note(durable ? "settled ok" : "settled failed"); },
       [&] { note("sealed"); }},
      {});
  auto submit = [&](const std::string& name) {
    auto done = std::make_shared<std::promise<Result<std::vector<Event>>>>();
    auto f = done->get_future();
    seq.submit(
        Sequencer::Isolation::shared,
        [&, name](Micros) -> Result<std::vector<Draft>> {
          note("produced " + name);
          return std::vector<Draft>{test::token_issued("lk_000000000000000000000001", "usr_1", 1)};
        },
        [&, name, done](Result<std::vector<Event>> r) {
          note("done " + name);
          done->set_value(std::move(r));
        });
    return f;
  };

  // A is held in its append. B waits in the queue meanwhile: the store takes
  // one group at a time, and the writer sleeps until A's append ends. B is
  // then produced and sent before A is announced.
  gated.hold(true);
  auto a = submit("A");
  BOOST_TEST_REQUIRE(gated.wait_appends(1));
  auto b = submit("B");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_TEST(!seen("produced B"));
  BOOST_TEST(!seen("committed 1"));
  BOOST_TEST(!seen("done A"));
  BOOST_TEST(gated.appends() == 1);  // B waits for A's append to end
  gated.hold(false);
  BOOST_TEST(a.get()->front().seq == 1u);
  BOOST_TEST(b.get()->front().seq == 2u);

  // C fails in its append: B', formed meanwhile, fails with it, unwritten.
  gated.hold(true);
  gated.refuse = true;
  auto c = submit("C");
  BOOST_TEST_REQUIRE(gated.wait_appends(3));
  auto d = submit("D");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_TEST(!seen("produced D"));
  gated.hold(false);
  const auto c_result = c.get();
  const auto d_result = d.get();
  BOOST_TEST_REQUIRE(!c_result.has_value());
  BOOST_TEST_REQUIRE(!d_result.has_value());
  BOOST_TEST((d_result.error().code == Errc::unavailable));
  BOOST_TEST(gated.appends() == 3);  // D was never written
  gated.refuse = false;
  auto e = submit("E");
  BOOST_TEST(e.get()->front().seq == 3u);  // after C and D, the log goes on from B
  seq.stop();

  const std::vector<std::string> want = {
      "produced A", "sealed",         "produced B",  "sealed",     "committed 1",    "settled ok",
      "done A",     "committed 2",    "settled ok",  "done B",     "produced C",     "sealed",
      "produced D", "settled failed", "done C",      "sealed",     "settled failed", "done D",
      "produced E", "sealed",         "committed 3", "settled ok", "done E"};
  std::lock_guard lock(mu);
  BOOST_TEST(calls == want, boost::test_tools::per_element());
  BOOST_TEST(verify_log(*world.log).ok);
}

namespace {

// A store that takes up to three groups in flight: send() only counts them;
// complete() waits at a gate, then appends to the real store, or fails (and
// fails every later group until recover(), as the interface promises).
class PipelinedStore final : public EventStore {
 public:
  explicit PipelinedStore(EventStore& inner) : inner_(inner) {}
  std::atomic<bool> refuse{false};

  struct Group final : Sent {
    std::vector<Part> parts;
    Micros time = 0;
  };
  std::size_t max_in_flight() const override { return 3; }
  std::unique_ptr<Sent> send(std::span<const Part> parts, Micros time) override {
    auto g = std::make_unique<Group>();
    g->parts.assign(parts.begin(), parts.end());
    g->time = time;
    std::lock_guard lock(mu_);
    ++sends_;
    cv_.notify_all();
    return g;
  }
  Result<std::vector<std::vector<Event>>> complete(Sent& sent) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !hold_; });
    }
    if (broken_ || refuse) {
      broken_ = true;
      return make_error(Errc::unavailable, "refused by the test");
    }
    auto& g = static_cast<Group&>(sent);
    return inner_.append(g.parts, g.time);
  }
  void hold(bool on) {
    std::lock_guard lock(mu_);
    hold_ = on;
    cv_.notify_all();
  }
  int sends() {
    std::lock_guard lock(mu_);
    return sends_;
  }
  bool wait_sends(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return sends_ >= n; });
  }

  EventLog& log(std::string_view project) override { return inner_.log(project); }
  Result<std::vector<std::vector<Event>>> append(std::span<const Part> parts,
                                                 Micros time) override {
    return inner_.append(parts, time);
  }
  Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> recover() override {
    broken_ = false;
    return inner_.recover();
  }
  Status drop(std::string_view project) override { return inner_.drop(project); }
  Result<std::vector<std::string>> projects() const override { return inner_.projects(); }
  std::optional<StorageStats> storage_stats() const override { return inner_.storage_stats(); }
  Status refresh() override { return inner_.refresh(); }

 private:
  EventStore& inner_;
  std::atomic<bool> broken_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int sends_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_store_takes_several_groups_in_flight_and_they_fail_together) {
  test::TempDir dir;
  auto inner = open_rocksdb_store(dir / "log", OpenMode::create_new);
  BOOST_REQUIRE(inner.has_value());
  PipelinedStore store(**inner);
  SystemClock clock;
  Sequencer seq(store, clock, {});
  std::mutex mu;
  std::vector<std::string> calls;
  const auto note = [&](std::string s) {
    std::lock_guard lock(mu);
    calls.push_back(std::move(s));
  };
  auto target = seq.add_target(
      store.log("p1"),
      {[&](std::span<const Event> evs) { note("committed " + std::to_string(evs.front().seq)); },
       [&](bool durable) { note(durable ? "settled ok" : "settled failed"); },
       [&] { note("sealed"); }});
  std::atomic<int> produced{0};
  auto submit = [&] {
    auto done = std::make_shared<std::promise<Result<std::vector<Event>>>>();
    auto f = done->get_future();
    seq.submit(
        target, Sequencer::Isolation::shared,
        [&](Micros) -> Result<std::vector<Draft>> {
          ++produced;
          return std::vector<Draft>{test::token_issued("lk_000000000000000000000001", "usr_1", 1)};
        },
        [done](Result<std::vector<Event>> r) { done->set_value(std::move(r)); });
    return f;
  };
  const auto wait_produced = [&](int n) {
    for (int i = 0; i < 1000 && produced.load() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return produced.load() >= n;
  };

  // Three groups go out while the first is held; the fourth waits for room,
  // unproduced, in the queue.
  store.hold(true);
  std::vector<std::future<Result<std::vector<Event>>>> first;
  for (int i = 1; i <= 3; ++i) {
    first.push_back(submit());
    BOOST_TEST_REQUIRE(store.wait_sends(i));
  }
  BOOST_TEST_REQUIRE(wait_produced(3));
  first.push_back(submit());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_TEST(produced.load() == 3);
  BOOST_TEST(store.sends() == 3);
  store.hold(false);
  for (std::size_t i = 0; i < first.size(); ++i) {
    auto r = first[i].get();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->front().seq == i + 1);  // completed in the order sent
  }

  // The oldest of three in flight fails: the two after it and the group
  // formed meanwhile fail with it, each settled in its order.
  {
    std::lock_guard lock(mu);
    calls.clear();
  }
  store.hold(true);
  store.refuse = true;
  std::vector<std::future<Result<std::vector<Event>>>> second;
  for (int i = 1; i <= 3; ++i) {
    second.push_back(submit());
    BOOST_TEST_REQUIRE(store.wait_sends(4 + i));
  }
  second.push_back(submit());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  BOOST_TEST(produced.load() == 7);
  store.hold(false);
  for (auto& f : second) BOOST_TEST(!f.get().has_value());
  store.refuse = false;
  auto after = submit().get();
  BOOST_TEST_REQUIRE(after.has_value());
  BOOST_TEST(after->front().seq == 5u);
  seq.stop();
  const std::vector<std::string> want = {
      "sealed", "sealed",         "sealed", "settled failed", "settled failed", "settled failed",
      "sealed", "settled failed", "sealed", "committed 5",    "settled ok"};
  std::lock_guard lock(mu);
  BOOST_TEST(calls == want, boost::test_tools::per_element());
  BOOST_TEST(verify_log(store.log("p1")).ok);
}
