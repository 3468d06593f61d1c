#include <boost/test/unit_test.hpp>

#include "replay/rebuild.h"
#include "tests/replay/history.h"

using namespace latchkey;
using latchkey::test::History;

namespace {

std::string bytes_of(const projections::Views& v) { return projections::snapshot(v); }

std::string rebuilt(const events::EventLog& log, events::Seq at, bool snapshots,
                    replay::RebuildStats* stats = nullptr) {
  auto v = replay::rebuild(log, at, snapshots, stats);
  BOOST_REQUIRE(v.has_value());
  return bytes_of(*v);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(equivalence)

// For random histories (fixed seeds): the live views, the views rebuilt from
// the whole log, and the views from a snapshot plus the tail are identical,
// and so is a replay to a mid-point compared with the live views captured there.
BOOST_AUTO_TEST_CASE(live_rebuilt_and_snapshot_plus_tail_views_are_identical) {
  for (unsigned seed : {1u, 2u, 3u}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      test::TempDir dir;
      History h(dir / "log", seed);
      replay::Snapshotter snapshots(h.log(), 1'000'000, nullptr);  // taken by hand below
      std::vector<std::pair<events::Seq, std::string>> captured;
      std::mt19937 rng(seed * 7919);
      for (int i = 0; i < 3000; ++i) {
        h.step();
        if (rng() % 250 == 0) {
          captured.emplace_back(h.log().head().seq,
                                h.views().read([](const auto& v) { return bytes_of(v); }));
        }
        if (rng() % 400 == 0) BOOST_REQUIRE(snapshots.snapshot_now());
      }
      const events::Seq head = h.log().head().seq;
      BOOST_TEST_MESSAGE("seed " << seed << ": " << head << " events, " << captured.size()
                                 << " mid-points");
      BOOST_REQUIRE(head > 2000u);  // some steps only move the clock or are refused
      const std::string live = h.views().read([](const auto& v) { return bytes_of(v); });
      BOOST_TEST(live == rebuilt(h.log(), head, false));
      replay::RebuildStats stats;
      BOOST_TEST(live == rebuilt(h.log(), head, true, &stats));
      BOOST_TEST(stats.snapshot_seq > 0u);  // really from a snapshot
      BOOST_TEST(stats.applied < head);
      for (const auto& [seq, bytes] : captured) {
        BOOST_TEST_CONTEXT("mid-point " << seq) {
          BOOST_TEST(bytes == rebuilt(h.log(), seq, false));
          BOOST_TEST(bytes == rebuilt(h.log(), seq, true));
        }
      }
      // A fresh snapshot at the head, then the snapshot alone restores the live views.
      BOOST_REQUIRE(snapshots.snapshot_now());
      BOOST_TEST(live == rebuilt(h.log(), head, true, &stats));
      BOOST_TEST(stats.applied == 0u);
      h.stop();
    }
  }
}

BOOST_AUTO_TEST_CASE(a_damaged_snapshot_is_skipped_for_the_log) {
  test::TempDir dir;
  History h(dir / "log", 9);
  for (int i = 0; i < 300; ++i) h.step();
  const auto head = h.log().head().seq;
  BOOST_REQUIRE(h.log().put_snapshot(events::Snapshot{head, "not a snapshot"}));
  replay::RebuildStats stats;
  const std::string live = h.views().read([](const auto& v) { return bytes_of(v); });
  BOOST_TEST(live == rebuilt(h.log(), head, true, &stats));
  BOOST_TEST(stats.snapshot_seq == 0u);
  BOOST_TEST(!projections::restore("not a snapshot").has_value());
  h.stop();
}

BOOST_AUTO_TEST_CASE(replay_at_an_instant_is_the_state_in_force_then) {
  test::TempDir dir;
  History h(dir / "log", 4);
  std::vector<std::tuple<Micros, events::Seq, std::string>> points;
  for (int i = 0; i < 800; ++i) {
    h.step();
    if (i % 100 == 50) {
      h.clock().advance(10 * kMicrosPerSecond);  // nothing happens in the next ten seconds
      points.emplace_back(h.clock().now() - 5 * kMicrosPerSecond, h.log().head().seq,
                          h.views().read([](const auto& v) { return bytes_of(v); }));
    }
  }
  for (const auto& [t, seq, bytes] : points) {
    auto v = replay::rebuild_at_time(h.log(), t);
    BOOST_REQUIRE(v.has_value());
    BOOST_TEST(v->seq == seq);
    BOOST_TEST(bytes_of(*v) == bytes);
  }
  h.stop();
}

BOOST_AUTO_TEST_CASE(no_secret_reaches_the_disk) {
  test::TempDir dir;
  std::vector<std::string> secrets;
  {
    History h(dir / "log", 5);
    replay::Snapshotter snapshots(h.log(), 100, nullptr);
    for (int i = 0; i < 1500; ++i) h.step();
    BOOST_REQUIRE(snapshots.snapshot_now());
    secrets = h.secrets();
    h.stop();
  }
  BOOST_REQUIRE(secrets.size() > 50u);
  for (const auto& s : secrets) {
    BOOST_TEST(test::files_containing(dir.path(), s).empty());
    BOOST_TEST(test::files_containing(dir.path(), s.substr(4, 64)).empty());  // nor its random part
  }
}

// The archiver builds the state at a cut on a thread of low priority and
// stores it from its own: the two steps store what snapshot_at stores.
BOOST_AUTO_TEST_CASE(a_snapshot_built_then_stored_is_the_one_taken_at_once) {
  test::TempDir dir;
  History h(dir / "log", 5);
  for (int i = 0; i < 500; ++i) h.step();
  replay::Snapshotter snapshots(h.log(), 1'000'000, nullptr);
  const events::Seq at = h.log().head().seq - 7;
  auto built = snapshots.build_at(at);
  BOOST_REQUIRE(built.has_value());
  BOOST_TEST(built->seq == at);
  BOOST_TEST(built->bytes == rebuilt(h.log(), at, false));
  auto stored = snapshots.store_built(*built);
  BOOST_REQUIRE(stored.has_value());
  auto found = h.log().find_snapshot(at);
  BOOST_REQUIRE(found.has_value());
  BOOST_REQUIRE(found->has_value());
  BOOST_TEST((*found)->seq == at);
  BOOST_TEST(((*stored) == sha256((*found)->bytes)));
  auto at_once = snapshots.snapshot_at(at);
  BOOST_REQUIRE(at_once.has_value());
  BOOST_TEST((*at_once == *stored));
  // Built before an erasure and stored after it: built again rather than
  // stored as it was (bytes that could show erased data). Stale bytes show
  // which was stored.
  replay::Snapshotter::Built stale = *built;
  stale.bytes = "bytes from before the erasure";
  BOOST_REQUIRE(snapshots.erase_principal("usr_nobody"));
  auto again = snapshots.store_built(stale);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST((*again == *stored));
  // Without an erasure in between, what was built is stored as it is.
  auto fresh = snapshots.build_at(at);
  BOOST_REQUIRE(fresh.has_value());
  fresh->bytes = "bytes built after the erasure";
  auto as_is = snapshots.store_built(*fresh);
  BOOST_REQUIRE(as_is.has_value());
  BOOST_TEST((*as_is == sha256("bytes built after the erasure")));
  BOOST_REQUIRE(snapshots.snapshot_at(at).has_value());  // leave a readable one
  BOOST_TEST(snapshots.build_at(h.log().head().seq + 5).has_error());
}

BOOST_AUTO_TEST_SUITE_END()
