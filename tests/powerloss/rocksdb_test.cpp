// RocksDB itself through the mount, with the options latchkey uses for its
// log: the writes it acknowledged with sync=true survive a cut, the ones it
// was not asked to sync do not, and the database opens again, both from the
// backing directory and through a new mount.
//
// RocksDB fsyncs the database directory, never the one above it: whoever
// creates the database directory must make it durable (here: mkdir, then an
// fsync of the parent), or a cut can take the whole database away.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <memory>
#include <string>

#include "tests/powerloss/powerloss_mount.h"

using latchkey::test::PowerlossMount;

namespace {

rocksdb::Options options() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_open_files = -1;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.bytes_per_sync = 1u << 20;
  return o;
}

void make_durable_dir(const std::string& parent, const std::string& name) {
  BOOST_TEST_REQUIRE(::mkdir((parent + "/" + name).c_str(), 0700) == 0);
  const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::fsync(fd) == 0);
  ::close(fd);
}

std::unique_ptr<rocksdb::DB> open(const std::string& dir) {
  rocksdb::DB* db = nullptr;
  const auto st = rocksdb::DB::Open(options(), dir, &db);
  BOOST_TEST_REQUIRE(st.ok(), "open " << dir << ": " << st.ToString());
  return std::unique_ptr<rocksdb::DB>(db);
}

void put(rocksdb::DB& db, const std::string& key, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  const auto st = db.Put(wo, key, "value of " + key);
  BOOST_TEST_REQUIRE(st.ok(), st.ToString());
}

// How many of prefix0..prefix{n-1} the database has (with the right value).
int count(rocksdb::DB& db, const std::string& prefix, int n) {
  int found = 0;
  for (int i = 0; i < n; ++i) {
    const std::string key = prefix + std::to_string(i);
    std::string value;
    if (db.Get(rocksdb::ReadOptions(), key, &value).ok() && value == "value of " + key) ++found;
  }
  return found;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(rocksdb_through_the_mount)

BOOST_AUTO_TEST_CASE(synced_writes_survive_a_cut_and_the_others_do_not) {
  PowerlossMount mnt;
  make_durable_dir(mnt.path(), "db");
  {
    auto db = open(mnt / "db");
    for (int i = 0; i < 100; ++i) put(*db, "flushed" + std::to_string(i), true);
    const auto st = db->Flush(rocksdb::FlushOptions());  // a table file and a new MANIFEST entry
    BOOST_TEST_REQUIRE(st.ok(), st.ToString());
    for (int i = 0; i < 50; ++i) put(*db, "synced" + std::to_string(i), true);
    for (int i = 0; i < 50; ++i) put(*db, "unsynced" + std::to_string(i), false);
    BOOST_TEST(count(*db, "unsynced", 50) == 50);
    mnt.cut();
    // Closing now fails (no disk any more): what matters is what is left.
  }
  {
    auto db = open(mnt.backing() + "/db");
    BOOST_TEST(count(*db, "flushed", 100) == 100);
    BOOST_TEST(count(*db, "synced", 50) == 50);
    BOOST_TEST(count(*db, "unsynced", 50) == 0);
    put(*db, "after", true);
  }
  mnt.mount();
  {
    auto db = open(mnt / "db");
    BOOST_TEST(count(*db, "synced", 50) == 50);
    BOOST_TEST(count(*db, "after", 0) == 0);
    std::string value;
    BOOST_TEST(db->Get(rocksdb::ReadOptions(), "after", &value).ok());
  }
  mnt.unmount();
}

BOOST_AUTO_TEST_SUITE_END()
