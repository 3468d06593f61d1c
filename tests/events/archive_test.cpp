// Archive segments and retention in the RocksDB store: what moves out of the
// live store still reads the same, verifies as one chain, and, once
// deleted, verifies from the cut that vouches for it.

#include <filesystem>
#include <fstream>

#include <boost/test/unit_test.hpp>

#include "events/event_log.h"
#include "events/verify.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::test::TempDir;
namespace fs = std::filesystem;

namespace {

LogOptions small_segments() {
  LogOptions o;
  o.archive_segment_events = 50;
  return o;
}

std::unique_ptr<EventStore> open_store(const std::string& dir, OpenMode mode) {
  auto store = open_rocksdb_store(dir, mode, small_segments());
  BOOST_REQUIRE_MESSAGE(store.has_value(), (store ? std::string() : store.error().message));
  return std::move(*store);
}

std::vector<Event> read_all(const EventLog& log, Seq from = 1) {
  std::vector<Event> out;
  BOOST_REQUIRE(log.scan(from, UINT64_MAX, [&](const Event& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

std::vector<Seq> index_seqs(const EventLog& log, Index index, const std::string& key,
                            Direction dir = Direction::forward, Seq from = 0) {
  std::vector<Seq> out;
  BOOST_REQUIRE(log.scan_index(index, key, from, dir, [&](const IndexEntry& e) {
    out.push_back(e.seq);
    return true;
  }));
  return out;
}

std::string principal(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "usr_%016x", i);
  return buf;
}

// 250 events at times 1000, 2000, ...: users, then logins by them.
void fill(EventLog& log) {
  for (int i = 0; i < 250; ++i) {
    const Draft d = i < 10
                        ? test::user_created(principal(i))
                        : test::token_issued("lk_" + std::to_string(i % 10), principal(i % 10), i);
    BOOST_REQUIRE(log.append(std::vector<Draft>{d}, 1000 * (i + 1)).has_value());
  }
}

Draft cut_event(EventType type, const EventLog& log, Seq through) {
  auto e = log.get(through);
  BOOST_REQUIRE(e.has_value());
  LogCut cut;
  cut.through = through;
  cut.through_hash = e->hash;
  return Draft{type, cut, {}};
}

// Writes the segments through `through` and moves the cut there.
void archive_through(EventLog& log, Seq through) {
  auto written = log.write_archive(through);
  BOOST_REQUIRE_MESSAGE(written.has_value(), (written ? "" : written.error().message));
  BOOST_REQUIRE(log.cut_archived());
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(dir, ec)) n += f.is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(archive)

BOOST_AUTO_TEST_CASE(archived_events_read_index_and_verify_as_before) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& log = store->log("acme");
  fill(log);
  const auto before = read_all(log);
  const auto by_principal = index_seqs(log, Index::principal, principal(3));
  const auto by_key_back = index_seqs(log, Index::apikey, "lk_3", Direction::backward);
  const auto by_type = index_seqs(log, Index::type, "token.issued");
  const auto at_time = log.seq_at_time(120'500);
  BOOST_REQUIRE(at_time.has_value());
  BOOST_TEST(*at_time == 120u);

  auto pending = log.write_archive(180);
  BOOST_REQUIRE_MESSAGE(pending.has_value(), (pending ? "" : pending.error().message));
  BOOST_TEST(*pending == 180u);
  // Written, not cut: reads are the live store's, and the chain still verifies.
  BOOST_TEST(log.history().pending_through == 180u);
  BOOST_TEST(log.history().archived_through == 0u);
  BOOST_TEST(log.history().segments == 4u);  // 50 + 50 + 50 + 30
  BOOST_REQUIRE(log.cut_archived());
  const History h = log.history();
  BOOST_TEST(h.archived_through == 180u);
  BOOST_TEST((h.archived_hash == before[179].hash));
  BOOST_TEST(h.archived_time == 180'000);

  auto check = [&](const EventLog& l) {
    const auto after = read_all(l);
    BOOST_REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      BOOST_TEST(after[i].seq == before[i].seq);
      BOOST_TEST((after[i].hash == before[i].hash));
    }
    BOOST_TEST(read_all(l, 170).size() == 81u);  // across the cut
    auto one = l.get(42);
    BOOST_REQUIRE(one.has_value());
    BOOST_TEST((one->hash == before[41].hash));
    BOOST_TEST(index_seqs(l, Index::principal, principal(3)) == by_principal);
    BOOST_TEST(index_seqs(l, Index::apikey, "lk_3", Direction::backward) == by_key_back);
    BOOST_TEST(index_seqs(l, Index::type, "token.issued") == by_type);
    // From the middle, both ways.
    const auto fwd = index_seqs(l, Index::apikey, "lk_3", Direction::forward, 150);
    BOOST_REQUIRE(!fwd.empty());
    BOOST_TEST(fwd.front() == 154u);
    const auto back = index_seqs(l, Index::apikey, "lk_3", Direction::backward, 200);
    BOOST_REQUIRE(!back.empty());
    BOOST_TEST(back.front() == 194u);
    BOOST_TEST(*l.seq_at_time(120'500) == 120u);
    BOOST_TEST(*l.seq_at_time(180'000) == 180u);
    BOOST_TEST(*l.seq_at_time(181'000) == 181u);
    BOOST_TEST(*l.seq_at_time(500) == 0u);
    const auto report = verify_log(l);
    BOOST_TEST(report.ok, report.reason);
    BOOST_TEST(report.events == 250u);
    BOOST_TEST(report.archived == 180u);
    BOOST_TEST(report.deleted == 0u);
  };
  check(log);
  // Appends go on after the cut.
  BOOST_REQUIRE(log.append(std::vector<Draft>{test::user_created(principal(99))}, 300'000));
  store.reset();
  // Reopened: the history and the segments are found again; a reader sees them too.
  auto reopened = open_store(dir / "log", OpenMode::read_write);
  BOOST_TEST(reopened->log("acme").history().archived_through == 180u);
  BOOST_TEST(reopened->log("acme").head().seq == 251u);
  auto reader = open_store(dir / "log", OpenMode::read_only);
  BOOST_TEST(reader->log("acme").history().archived_through == 180u);
  BOOST_TEST(read_all(reader->log("acme")).size() == 251u);
  BOOST_TEST(verify_log(reader->log("acme")).ok);
}

BOOST_AUTO_TEST_CASE(a_cut_that_a_crash_stopped_is_finished_by_the_next_one) {
  TempDir dir;
  {
    auto store = open_store(dir / "log", OpenMode::create_new);
    fill(store->log("acme"));
    BOOST_REQUIRE(store->log("acme").write_archive(120).has_value());
  }
  // A temporary file of a segment write that did not finish is ignored.
  { std::ofstream(dir / "archive/acme/00000000000000000121-00000000000000000170.lka.tmp") << "x"; }
  auto store = open_store(dir / "log", OpenMode::read_write);
  EventLog& log = store->log("acme");
  BOOST_TEST(log.history().pending_through == 120u);
  BOOST_TEST(log.history().archived_through == 0u);
  BOOST_TEST(read_all(log).size() == 250u);
  // The next archiving goes on from the segments already written.
  BOOST_TEST(*log.write_archive(160) == 160u);
  BOOST_REQUIRE(log.cut_archived());
  BOOST_TEST(log.history().archived_through == 160u);
  BOOST_TEST(log.history().segments == 4u);  // 1-50, 51-100, 101-120, 121-160
  BOOST_TEST(verify_log(log).ok);
  BOOST_TEST(read_all(log).size() == 250u);
}

BOOST_AUTO_TEST_CASE(deleted_history_verifies_from_the_cut_that_vouches_for_it) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& log = store->log("acme");
  fill(log);
  archive_through(log, 200);
  BOOST_REQUIRE(
      log.append(std::vector<Draft>{cut_event(EventType::log_archived, log, 200)}, 251'000));
  // Retention: the cut is recorded, then the segments through it go.
  BOOST_REQUIRE(
      log.append(std::vector<Draft>{cut_event(EventType::log_history_deleted, log, 100)}, 252'000));
  auto deleted = log.delete_archived(120);  // whole segments only: 1-50, 51-100
  BOOST_REQUIRE(deleted.has_value());
  BOOST_TEST(*deleted == 100u);
  const History h = log.history();
  BOOST_TEST(h.deleted_through == 100u);
  BOOST_TEST(h.deleted_time == 100'000);
  BOOST_TEST(h.segments == 2u);
  BOOST_TEST(files_in(dir / "archive/acme") == 2u);
  const auto report = verify_log(log);
  BOOST_TEST(report.ok, report.reason);
  BOOST_TEST(report.from_signed_cut);
  BOOST_TEST(report.deleted == 100u);
  BOOST_TEST(report.events == 252u);
  BOOST_TEST(report.cuts == 2u);
  // Reads start after the deleted history; a deleted event says so.
  const auto all = read_all(log);
  BOOST_REQUIRE(!all.empty());
  BOOST_TEST(all.front().seq == 101u);
  auto gone = log.get(7);
  BOOST_REQUIRE(!gone.has_value());
  BOOST_TEST(gone.error().message.find("deleted") != std::string::npos);
  BOOST_TEST(*log.seq_at_time(120'500) == 120u);
  BOOST_TEST(*log.seq_at_time(100'500) == 100u);
  BOOST_TEST(*log.seq_at_time(50'000) == 0u);
  store.reset();
  auto reader = open_store(dir / "log", OpenMode::read_only);
  BOOST_TEST(verify_log(reader->log("acme")).ok);
}

BOOST_AUTO_TEST_CASE(deleted_history_without_a_cut_event_does_not_verify) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& log = store->log("acme");
  fill(log);
  archive_through(log, 100);
  BOOST_REQUIRE(log.delete_archived(100).has_value());
  const auto report = verify_log(log);
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.first_bad == 101u);
  BOOST_TEST(report.reason.find("vouches") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_damaged_or_missing_segment_is_reported) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  EventLog& log = store->log("acme");
  fill(log);
  archive_through(log, 100);
  const std::string seg = dir / "archive/acme/00000000000000000051-00000000000000000100.lka";
  BOOST_REQUIRE(fs::exists(seg));
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  auto e = log.get(60);
  BOOST_REQUIRE(!e.has_value());
  BOOST_TEST((e.error().code == Errc::corruption));
  auto report = verify_log(log);
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.first_bad == 51u);
  fs::remove(seg);
  report = verify_log(log);
  BOOST_TEST(!report.ok);
  BOOST_TEST(report.first_bad == 51u);
  BOOST_TEST(report.reason.find("segment") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_dropped_project_leaves_no_archive) {
  TempDir dir;
  auto store = open_store(dir / "log", OpenMode::create_new);
  fill(store->log("acme"));
  archive_through(store->log("acme"), 100);
  BOOST_REQUIRE(store->drop("acme"));
  BOOST_TEST(!fs::exists(dir / "archive/acme"));
  BOOST_TEST(store->log("acme").history().archived_through == 0u);
  BOOST_TEST(store->log("acme").head().seq == 0u);
}

BOOST_AUTO_TEST_CASE(a_cut_gives_the_live_store_s_space_back) {
  TempDir dir;
  LogOptions o = small_segments();
  o.archive_segment_events = 10'000;
  o.sync = false;
  o.write_buffer_bytes = 64 << 10;  // many table files
  constexpr int kEvents = 20'000;
  {
    auto store = open_rocksdb_store(dir / "log", OpenMode::create_new, o);
    BOOST_REQUIRE(store.has_value());
    EventLog& log = (*store)->log("acme");
    for (int i = 0; i < kEvents; i += 100) {
      std::vector<Draft> batch;
      for (int j = i; j < i + 100; ++j) {
        batch.push_back(
            j < 10 ? test::user_created(principal(j))
                   : test::token_issued("lk_" + std::to_string(j % 10), principal(j % 10), j));
      }
      BOOST_REQUIRE(log.append(batch, 1000 * (i + 1)).has_value());
    }
  }  // closed: the memtables are flushed
  auto store = open_rocksdb_store(dir / "log", OpenMode::read_write, o);
  BOOST_REQUIRE(store.has_value());
  EventLog& log = (*store)->log("acme");
  const std::uint64_t before = (*store)->storage_stats()->live_sst_bytes;
  BOOST_TEST_REQUIRE(before > 1'000'000u);
  archive_through(log, kEvents * 9 / 10);
  // Nine tenths of the events moved to segments: the table files that held
  // them are gone or rewritten without them (indexes included).
  const std::uint64_t after = (*store)->storage_stats()->live_sst_bytes;
  BOOST_TEST(after * 4 < before, "before " << before << " B, after " << after << " B");
  BOOST_TEST(verify_log(log).ok);
  BOOST_TEST(read_all(log).size() == static_cast<std::size_t>(kEvents));
}

BOOST_AUTO_TEST_SUITE_END()
