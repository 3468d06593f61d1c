#include <boost/test/unit_test.hpp>

#include "events/event_log.h"
#include "events/verify.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::test::TempDir;

namespace {

std::unique_ptr<EventStore> open_store(const std::string& dir, OpenMode mode) {
  auto store = open_rocksdb_store(dir, mode);
  BOOST_REQUIRE_MESSAGE(store.has_value(), (store ? std::string() : store.error().message));
  return std::move(*store);
}

std::vector<Event> read_all(const EventLog& log) {
  std::vector<Event> out;
  BOOST_REQUIRE(log.scan(1, UINT64_MAX, [&](const Event& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

std::vector<Seq> index_seqs(const EventLog& log, Index index, const std::string& key) {
  std::vector<Seq> out;
  BOOST_REQUIRE(log.scan_index(index, key, 0, Direction::forward, [&](const IndexEntry& e) {
    out.push_back(e.seq);
    return true;
  }));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(event_store)

BOOST_AUTO_TEST_CASE(each_project_has_its_own_dense_sequence_and_chain_in_one_append) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& def = store->log(kDefaultProject);
  EventLog& acme = store->log("acme");
  EventLog& ac = store->log("ac");  // a prefix of another id: must not see acme's records
  const std::vector<Draft> d1{test::user_created("usr_0000000000000001")};
  const std::vector<Draft> a1{test::user_created("usr_0000000000000001", "Acme"),
                              test::token_issued("lk_a", "usr_0000000000000001", 1)};
  const std::vector<Draft> c1{test::user_created("usr_00000000000000c1")};
  const EventStore::Part parts[] = {{&def, d1}, {&acme, a1}, {&ac, c1}};
  auto r = store->append(parts, 1000);
  BOOST_REQUIRE(r.has_value());
  BOOST_REQUIRE(r->size() == 3u);
  BOOST_TEST((*r)[0].size() == 1u);
  BOOST_TEST((*r)[1].size() == 2u);
  BOOST_TEST((*r)[1][0].seq == 1u);
  BOOST_TEST((*r)[1][1].seq == 2u);
  BOOST_TEST((*r)[2][0].seq == 1u);
  BOOST_TEST(def.head().seq == 1u);
  BOOST_TEST(acme.head().seq == 2u);
  BOOST_TEST(ac.head().seq == 1u);
  // Each chain starts from zero on its own.
  BOOST_TEST(((*r)[1][0].prev_hash == Digest{}));
  BOOST_TEST(((*r)[2][0].prev_hash == Digest{}));

  auto again = acme.append(std::vector<Draft>{test::user_created("usr_0000000000000002")}, 2000);
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(again->front().seq == 3u);

  BOOST_TEST(read_all(def).size() == 1u);
  BOOST_TEST(read_all(acme).size() == 3u);
  BOOST_TEST(read_all(ac).size() == 1u);
  BOOST_TEST(verify_log(def).ok);
  BOOST_TEST(verify_log(acme).ok);
  BOOST_TEST(verify_log(ac).ok);
  BOOST_TEST(verify_log(acme).events == 3u);
  // Indexes and the time index are per project.
  BOOST_TEST(index_seqs(acme, Index::principal, "usr_0000000000000001") ==
             std::vector<Seq>({1, 2}));
  BOOST_TEST(index_seqs(def, Index::principal, "usr_0000000000000001") == std::vector<Seq>({1}));
  BOOST_TEST(index_seqs(ac, Index::principal, "usr_0000000000000001").empty());
  BOOST_TEST(index_seqs(def, Index::apikey, "lk_a").empty());
  BOOST_TEST(index_seqs(acme, Index::type, "token.issued") == std::vector<Seq>({2}));
  BOOST_TEST(index_seqs(ac, Index::type, "token.issued").empty());
  BOOST_TEST(*acme.seq_at_time(1500) == 2u);
  BOOST_TEST(*ac.seq_at_time(5000) == 1u);
  BOOST_TEST(*store->log("zeta").seq_at_time(5000) == 0u);
  BOOST_TEST(!acme.get(4).has_value());
  BOOST_TEST(ac.get(1)->seq == 1u);
  auto projects = store->projects();
  BOOST_REQUIRE(projects.has_value());
  BOOST_TEST(*projects == std::vector<std::string>({"ac", "acme", "default"}));
}

BOOST_AUTO_TEST_CASE(snapshots_are_per_project) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& acme = store->log("acme");
  EventLog& beta = store->log("beta");
  BOOST_REQUIRE(acme.put_snapshot(Snapshot{5, "acme-at-5"}));
  BOOST_REQUIRE(beta.put_snapshot(Snapshot{3, "beta-at-3"}));
  auto a = acme.find_snapshot(100);
  BOOST_REQUIRE(a.has_value());
  BOOST_REQUIRE(a->has_value());
  BOOST_TEST((*a)->bytes == "acme-at-5");
  BOOST_TEST((*beta.find_snapshot(100))->bytes == "beta-at-3");
  BOOST_TEST(!beta.find_snapshot(2)->has_value());
  BOOST_TEST(!store->log(kDefaultProject).find_snapshot(100)->has_value());
}

BOOST_AUTO_TEST_CASE(heads_survive_a_reopen_and_a_dropped_project_is_gone) {
  TempDir dir;
  Digest acme_head{};
  {
    auto store = open_store(dir / "log", OpenMode::create_new);
    for (int i = 0; i < 3; ++i) {
      const std::vector<Draft> a{test::token_issued("lk_a", "usr_a", i)};
      const std::vector<Draft> b{test::token_issued("lk_b", "usr_b", i)};
      const EventStore::Part parts[] = {{&store->log("acme"), a}, {&store->log("beta"), b}};
      BOOST_REQUIRE(store->append(parts, 1000 + i).has_value());
    }
    BOOST_REQUIRE(store->log("beta").put_snapshot(Snapshot{2, "beta"}));
    acme_head = store->log("acme").head().hash;
    BOOST_REQUIRE(store->drop("beta"));
    BOOST_TEST(store->log("beta").head().seq == 0u);
    const auto e = store->drop(kDefaultProject);
    BOOST_TEST(!e.has_value());
  }
  auto store = open_store(dir / "log", OpenMode::read_write);
  BOOST_TEST(store->log("acme").head().seq == 3u);
  BOOST_TEST((store->log("acme").head().hash == acme_head));
  BOOST_TEST(store->log("beta").head().seq == 0u);
  BOOST_TEST(read_all(store->log("beta")).empty());
  BOOST_TEST(index_seqs(store->log("beta"), Index::apikey, "lk_b").empty());
  BOOST_TEST(!store->log("beta").find_snapshot(100)->has_value());
  BOOST_TEST(*store->projects() == std::vector<std::string>({"acme"}));
  // A reader in another "process" sees the same logs.
  auto reader = open_store(dir / "log", OpenMode::read_only);
  BOOST_TEST(reader->log("acme").head().seq == 3u);
  BOOST_TEST(verify_log(reader->log("acme")).ok);
}

BOOST_AUTO_TEST_CASE(a_backup_through_a_reader_copies_every_project) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  const std::vector<Draft> a{test::user_created("usr_0000000000000001")};
  const std::vector<Draft> b{test::user_created("usr_0000000000000002"),
                             test::user_created("usr_0000000000000003")};
  const EventStore::Part parts[] = {{&store->log(kDefaultProject), a}, {&store->log("acme"), b}};
  BOOST_REQUIRE(store->append(parts, 1000).has_value());
  std::string how;
  // The store is open for writing here, so the backup copies through a reader.
  BOOST_REQUIRE(backup_rocksdb_log(dir / "log", dir / "copy", &how));
  BOOST_TEST(how == "copy of 3 events in 2 logs");
  auto copy = open_store(dir / "copy", OpenMode::read_write);
  BOOST_TEST(copy->log("acme").head().seq == 2u);
  BOOST_TEST((copy->log("acme").head().hash == store->log("acme").head().hash));
  BOOST_TEST(copy->log(kDefaultProject).head().seq == 1u);
  BOOST_TEST(verify_log(copy->log("acme")).ok);
}

BOOST_AUTO_TEST_SUITE_END()
