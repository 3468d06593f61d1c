#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "events/event_log.h"
#include "events/verify.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::test::TempDir;

namespace {

std::unique_ptr<EventLog> open_new(const std::string& dir) {
  auto log = open_rocksdb_log(dir, OpenMode::create_new);
  BOOST_REQUIRE(log.has_value());
  return std::move(*log);
}

std::vector<Event> read_all(const EventLog& log) {
  std::vector<Event> out;
  BOOST_REQUIRE(log.scan(1, UINT64_MAX, [&](const Event& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_log)

BOOST_AUTO_TEST_CASE(appends_read_back_in_order_with_dense_sequence_and_chain) {
  TempDir dir;
  auto log = open_new(dir / "log");
  std::vector<Draft> batch{test::user_created("usr_0000000000000001"),
                           test::user_created("usr_0000000000000002")};
  auto first = log->append(batch, 1000);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->size() == 2u);
  BOOST_TEST((*first)[0].seq == 1u);
  BOOST_TEST((*first)[1].seq == 2u);
  auto second = log->append(std::vector<Draft>{test::user_created("usr_0000000000000003")}, 2000);
  BOOST_REQUIRE(second.has_value());
  const auto all = read_all(*log);
  BOOST_REQUIRE(all.size() == 3u);
  Digest prev{};
  for (std::size_t i = 0; i < all.size(); ++i) {
    BOOST_TEST(all[i].seq == i + 1);
    BOOST_TEST((all[i].prev_hash == prev));
    prev = all[i].hash;
  }
  BOOST_TEST(std::get<PrincipalCreated>(all[2].data).id == "usr_0000000000000003");
  BOOST_TEST(log->head().seq == 3u);
  BOOST_TEST((log->head().hash == all[2].hash));
  BOOST_TEST(verify_log(*log).ok);
}

BOOST_AUTO_TEST_CASE(time_never_decreases_even_if_the_clock_does) {
  TempDir dir;
  auto log = open_new(dir / "log");
  BOOST_REQUIRE(log->append(std::vector<Draft>{test::user_created("usr_0000000000000001")}, 5000)
                    .has_value());
  auto r = log->append(std::vector<Draft>{test::user_created("usr_0000000000000002")},
                       4000);  // clock stepped back
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(r->front().time == 5000);
}

BOOST_AUTO_TEST_CASE(reopening_keeps_everything) {
  TempDir dir;
  Digest head_hash;
  {
    auto log = open_new(dir / "log");
    for (int i = 0; i < 50; ++i) {
      BOOST_REQUIRE(log->append(std::vector<Draft>{test::token_issued("lk_000000000000000000000001",
                                                                      "usr_x", i)},
                                1000 + i)
                        .has_value());
    }
    head_hash = log->head().hash;
  }
  auto reopened = open_rocksdb_log(dir / "log", OpenMode::read_write);
  BOOST_REQUIRE(reopened.has_value());
  BOOST_TEST((*reopened)->head().seq == 50u);
  BOOST_TEST(((*reopened)->head().hash == head_hash));
  BOOST_TEST((*reopened)->head().time == 1049);
  BOOST_TEST(read_all(**reopened).size() == 50u);
  // And appending continues the chain.
  auto next =
      (*reopened)->append(std::vector<Draft>{test::user_created("usr_0000000000000009")}, 9999);
  BOOST_REQUIRE(next.has_value());
  BOOST_TEST(next->front().seq == 51u);
  BOOST_TEST((next->front().prev_hash == head_hash));
}

BOOST_AUTO_TEST_CASE(open_modes_refuse_the_wrong_directory) {
  TempDir dir;
  BOOST_TEST(
      static_cast<int>(open_rocksdb_log(dir / "nothing", OpenMode::read_write).error().code) ==
      static_cast<int>(Errc::not_found));
  BOOST_TEST(
      static_cast<int>(open_rocksdb_log(dir / "nothing", OpenMode::read_only).error().code) ==
      static_cast<int>(Errc::not_found));
  { auto log = open_new(dir / "log"); }
  BOOST_TEST(static_cast<int>(open_rocksdb_log(dir / "log", OpenMode::create_new).error().code) ==
             static_cast<int>(Errc::exists));
}

BOOST_AUTO_TEST_CASE(a_reader_follows_a_writer_in_the_same_directory) {
  TempDir dir;
  auto writer = open_new(dir / "log");
  BOOST_REQUIRE(writer->append(std::vector<Draft>{test::user_created("usr_0000000000000001")}, 1)
                    .has_value());
  auto reader = open_rocksdb_log(dir / "log", OpenMode::read_only);
  BOOST_REQUIRE(reader.has_value());
  BOOST_TEST((*reader)->head().seq == 1u);
  BOOST_TEST(!(*reader)
                  ->append(std::vector<Draft>{test::user_created("usr_0000000000000002")}, 2)
                  .has_value());
  BOOST_REQUIRE(writer->append(std::vector<Draft>{test::user_created("usr_0000000000000002")}, 2)
                    .has_value());
  BOOST_REQUIRE((*reader)->refresh());
  BOOST_TEST((*reader)->head().seq == 2u);
  BOOST_TEST(verify_log(**reader).ok);
}

// Logins (actor "anonymous") are most of the log: the actor index would hold
// an entry per login that only ?actor=anonymous reads, and the log itself
// answers that query as fast. Every other actor is indexed.
BOOST_AUTO_TEST_CASE(the_actor_index_leaves_out_anonymous_callers) {
  TempDir dir;
  auto log = open_new(dir / "log");
  std::vector<Draft> drafts;
  for (int i = 0; i < 6; ++i) {
    Draft d = test::token_issued("lk_000000000000000000000001", "usr_a", i);
    if (i % 2 == 0) d.context.actor = std::string(kAnonymousActor);
    drafts.push_back(d);
  }
  BOOST_REQUIRE(log->append(drafts, 100).has_value());
  auto count = [&](Index idx, const std::string& key) {
    std::size_t n = 0;
    BOOST_REQUIRE(log->scan_index(idx, key, 0, Direction::forward, [&](const IndexEntry&) {
      ++n;
      return true;
    }));
    return n;
  };
  BOOST_TEST(count(Index::actor, "anonymous") == 0u);
  BOOST_TEST(count(Index::actor, "usr_a") == 3u);
  // The other indexes hold every login.
  BOOST_TEST(count(Index::apikey, "lk_000000000000000000000001") == 6u);
  BOOST_TEST(count(Index::principal, "usr_a") == 6u);
  BOOST_TEST(count(Index::type, "token.issued") == 6u);
  BOOST_TEST(!indexed_actor(""));
  BOOST_TEST(indexed_actor("system"));
}

BOOST_AUTO_TEST_CASE(indexes_find_events_by_principal_key_actor_and_type_both_ways) {
  TempDir dir;
  auto log = open_new(dir / "log");
  std::vector<Draft> drafts;
  for (int i = 0; i < 30; ++i) {
    drafts.push_back(test::token_issued(
        i % 3 == 0 ? "lk_000000000000000000000001" : "lk_000000000000000000000002",
        i % 2 == 0 ? "usr_a" : "usr_b", i));
  }
  drafts.push_back(test::user_created("usr_c"));
  BOOST_REQUIRE(log->append(drafts, 100).has_value());
  auto collect = [&](Index idx, const std::string& key, Seq from, Direction dir) {
    std::vector<Seq> seqs;
    BOOST_REQUIRE(log->scan_index(idx, key, from, dir, [&](const IndexEntry& e) {
      seqs.push_back(e.seq);
      return true;
    }));
    return seqs;
  };
  const auto k1 = collect(Index::apikey, "lk_000000000000000000000001", 0, Direction::forward);
  BOOST_TEST(k1.size() == 10u);
  BOOST_TEST(k1.front() == 1u);
  BOOST_TEST(k1.back() == 28u);
  const auto k1_back =
      collect(Index::apikey, "lk_000000000000000000000001", 0, Direction::backward);
  BOOST_TEST(k1_back.front() == 28u);
  BOOST_TEST(collect(Index::apikey, "lk_000000000000000000000001", 5, Direction::forward).front() ==
             7u);
  BOOST_TEST(collect(Index::principal, "usr_a", 0, Direction::forward).size() == 15u);
  BOOST_TEST(collect(Index::actor, "usr_b", 0, Direction::forward).size() == 15u);
  BOOST_TEST(collect(Index::type, "token.issued", 0, Direction::forward).size() == 30u);
  BOOST_TEST(collect(Index::type, "user.created", 0, Direction::forward) == std::vector<Seq>{31});
  // A key that is a prefix of another does not see the other's entries.
  BOOST_TEST(collect(Index::principal, "usr_", 0, Direction::forward).empty());
  BOOST_TEST(!log->scan_index(Index::type, "no.such.type", 0, Direction::forward,
                              [](auto&) { return true; }));
}

BOOST_AUTO_TEST_CASE(time_to_sequence_lookup) {
  TempDir dir;
  auto log = open_new(dir / "log");
  for (int i = 1; i <= 5; ++i) {
    std::vector<Draft> batch{test::user_created("usr_a" + std::to_string(i)),
                             test::user_created("usr_b" + std::to_string(i))};
    BOOST_REQUIRE(log->append(batch, i * 1000).has_value());  // seqs 2i-1, 2i at time 1000i
  }
  BOOST_TEST(*log->seq_at_time(999) == 0u);
  BOOST_TEST(*log->seq_at_time(1000) == 2u);
  BOOST_TEST(*log->seq_at_time(2999) == 4u);
  BOOST_TEST(*log->seq_at_time(5000) == 10u);
  BOOST_TEST(*log->seq_at_time(99999) == 10u);
}

BOOST_AUTO_TEST_CASE(snapshots_are_found_at_or_before_a_point) {
  TempDir dir;
  auto log = open_new(dir / "log");
  BOOST_REQUIRE(log->put_snapshot(Snapshot{10, "ten"}));
  BOOST_REQUIRE(log->put_snapshot(Snapshot{20, "twenty"}));
  BOOST_TEST(!log->find_snapshot(9)->has_value());
  BOOST_TEST((*log->find_snapshot(10))->bytes == "ten");
  BOOST_TEST((*log->find_snapshot(19))->bytes == "ten");
  BOOST_TEST((*log->find_snapshot(UINT64_MAX))->bytes == "twenty");
}

// put_snapshot writes a table file beside the log before ingesting it; one
// left by a crash is removed when the log is next opened for writing, and the
// log's own files and snapshots are untouched.
BOOST_AUTO_TEST_CASE(an_unfinished_snapshot_file_is_removed_on_open) {
  TempDir dir;
  const std::string log_dir = dir / "log";
  {
    auto log = open_new(log_dir);
    BOOST_REQUIRE(log->put_snapshot(Snapshot{10, "ten"}));
  }
  const std::string leftover = log_dir + "/snapshot-20.tmp";
  { std::ofstream(leftover) << "half a table file"; }
  BOOST_REQUIRE(std::filesystem::exists(leftover));
  auto log = open_rocksdb_log(log_dir, OpenMode::read_write);
  BOOST_REQUIRE(log.has_value());
  BOOST_TEST(!std::filesystem::exists(leftover));
  BOOST_TEST((*(*log)->find_snapshot(UINT64_MAX))->bytes == "ten");
  BOOST_TEST(!(*log)->find_snapshot(9)->has_value());
}

BOOST_AUTO_TEST_CASE(a_mismatched_draft_is_refused_and_changes_nothing) {
  TempDir dir;
  auto log = open_new(dir / "log");
  Draft bad{EventType::key_created, SystemInitialized{}, {}};
  auto r = log->append(std::vector<Draft>{test::user_created("usr_0000000000000001"), bad}, 1);
  BOOST_TEST(!r.has_value());
  BOOST_TEST(log->head().seq == 0u);
  BOOST_TEST(read_all(*log).empty());
}

BOOST_AUTO_TEST_CASE(backup_copies_every_record_byte_for_byte) {
  TempDir dir;
  {
    auto log = open_new(dir / "log");
    for (int i = 0; i < 20; ++i) {
      BOOST_REQUIRE(log->append(std::vector<Draft>{test::token_issued("lk_000000000000000000000001",
                                                                      "usr_a", i)},
                                i)
                        .has_value());
    }
    // While the writer holds the log: a copy through a reader.
    std::string how;
    BOOST_REQUIRE(backup_rocksdb_log(dir / "log", dir / "copy", &how));
    BOOST_TEST(how.find("copy") != std::string::npos);
  }
  std::string how;
  BOOST_REQUIRE(
      backup_rocksdb_log(dir / "log", dir / "checkpoint", &how));  // no writer: a checkpoint
  BOOST_TEST(how == "checkpoint");
  auto original = open_rocksdb_log(dir / "log", OpenMode::read_only);
  for (const char* copy : {"copy", "checkpoint"}) {
    auto c = open_rocksdb_log(dir / copy, OpenMode::read_only);
    BOOST_REQUIRE(c.has_value());
    BOOST_TEST((*c)->head().seq == 20u);
    BOOST_TEST(((*c)->head().hash == (*original)->head().hash));
    BOOST_TEST(verify_log(**c).ok);
    std::size_t n = 0;
    BOOST_REQUIRE((*c)->scan_index(Index::apikey, "lk_000000000000000000000001", 0,
                                   Direction::forward, [&](auto&) {
                                     ++n;
                                     return true;
                                   }));
    BOOST_TEST(n == 20u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
