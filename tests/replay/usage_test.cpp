// replay::usage against an oracle: logins and failed logins counted event by
// event, and the keys active at each bucket's end as the views rebuilt at that
// instant show them.
#include <boost/test/unit_test.hpp>

#include "replay/rebuild.h"
#include "replay/usage.h"
#include "tests/replay/history.h"

using namespace latchkey;
using latchkey::test::History;

namespace {

void check(const events::EventLog& log, replay::UsagePeriod period, Micros now) {
  auto u = replay::usage(log, period, now);
  BOOST_REQUIRE(u.has_value());
  const std::size_t n = period == replay::UsagePeriod::day ? 24 : 30;
  BOOST_REQUIRE(u->buckets.size() == n);
  BOOST_TEST(u->buckets.back().start <= now);
  BOOST_TEST(u->buckets.back().start + u->bucket_micros > now);
  for (const auto& b : u->buckets) {
    const Micros end = std::min(b.start + u->bucket_micros, now);
    std::uint64_t logins = 0, failed = 0;
    BOOST_REQUIRE(log.scan(1, UINT64_MAX, [&](const events::Event& e) {
      if (e.time >= b.start && e.time < b.start + u->bucket_micros && e.time <= now) {
        logins += e.type == events::EventType::token_issued;
        failed += e.type == events::EventType::login_failed;
      }
      return true;
    }));
    auto at = log.seq_at_time(end);
    BOOST_REQUIRE(at.has_value());
    auto views = replay::rebuild(log, *at);
    BOOST_REQUIRE(views.has_value());
    std::uint64_t active = 0;
    for (const auto& k : views->keys.all())
      active += k.status(end) == projections::KeyStatus::active ? 1 : 0;
    BOOST_TEST(b.logins == logins, "bucket " << b.start);
    BOOST_TEST(b.failed_logins == failed, "bucket " << b.start);
    BOOST_TEST(b.active_keys == active, "bucket " << b.start);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(usage)

BOOST_AUTO_TEST_CASE(buckets_match_the_events_and_the_views_at_each_end) {
  test::TempDir dir;
  History h(dir / "log", 5);
  std::mt19937 rng(5);
  // About 40 days of a random history: dense hours, quiet days, key
  // changes, expiries and deleted principals.
  for (int i = 0; i < 1500; ++i) {
    h.step();
    const int gap = static_cast<int>(rng() % 100);
    h.clock().advance(gap < 90 ? static_cast<Micros>(rng() % 600) * kMicrosPerSecond
                               : static_cast<Micros>(rng() % 86400) * kMicrosPerSecond);
  }
  const Micros now = h.clock().now();
  check(h.log(), replay::UsagePeriod::day, now);
  check(h.log(), replay::UsagePeriod::month, now);
  // An instant in the middle of the history, and one before it began.
  check(h.log(), replay::UsagePeriod::day, now - 10 * kMicrosPerDay);
  auto empty =
      replay::usage(h.log(), replay::UsagePeriod::month, 1'700'000'000LL * kMicrosPerSecond);
  BOOST_REQUIRE(empty.has_value());
  for (const auto& b : empty->buckets) {
    BOOST_TEST(b.logins == 0u);
    BOOST_TEST(b.active_keys == 0u);
  }
}

BOOST_AUTO_TEST_CASE(the_platform_sum_adds_bucket_by_bucket) {
  replay::Usage a, b, sum;
  a.buckets = {{0, 1, 2, 3}, {10, 4, 5, 6}};
  b.buckets = {{0, 10, 20, 30}, {10, 40, 50, 60}};
  replay::add_usage(sum, a);
  replay::add_usage(sum, b);
  BOOST_TEST(sum.buckets[0].logins == 11u);
  BOOST_TEST(sum.buckets[1].failed_logins == 55u);
  BOOST_TEST(sum.buckets[1].active_keys == 66u);
  BOOST_TEST(replay::parse_usage_period("day").has_value());
  BOOST_TEST(!replay::parse_usage_period("year").has_value());
}

BOOST_AUTO_TEST_SUITE_END()
