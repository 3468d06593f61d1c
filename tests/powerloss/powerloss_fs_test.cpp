// powerloss_fs against a real mount: what a power cut keeps and what it
// drops. Each case writes through the mount, cuts the power, and reads the
// backing directory, which then holds only what was made durable.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "tests/powerloss/powerloss_mount.h"
#include "tests/support/temp_dir.h"

using latchkey::test::PowerlossMount;
using latchkey::test::read_file;
using latchkey::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A file descriptor closed when it goes out of scope; every call checks.
class File {
 public:
  explicit File(const std::string& path, int flags = O_RDWR | O_CREAT, mode_t mode = 0644)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {
    BOOST_TEST_REQUIRE(fd_ >= 0, "open " << path << ": " << std::strerror(errno));
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }

  void pwrite(const std::string& data, off_t off) {
    BOOST_TEST_REQUIRE(::pwrite(fd_, data.data(), data.size(), off) ==
                       static_cast<ssize_t>(data.size()));
  }
  void write(const std::string& data) {
    BOOST_TEST_REQUIRE(::write(fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  }
  void truncate(off_t size) { BOOST_TEST_REQUIRE(::ftruncate(fd_, size) == 0); }
  void fsync() { BOOST_TEST_REQUIRE(::fsync(fd_) == 0, std::strerror(errno)); }
  void fdatasync() { BOOST_TEST_REQUIRE(::fdatasync(fd_) == 0, std::strerror(errno)); }
  off_t size() const {
    struct stat st {};
    BOOST_TEST_REQUIRE(::fstat(fd_, &st) == 0);
    return st.st_size;
  }
  // Everything, read from the start.
  std::string contents() const {
    std::string out(size() + 100, '\0');
    const ssize_t n = ::pread(fd_, out.data(), out.size(), 0);
    BOOST_TEST_REQUIRE(n >= 0, std::strerror(errno));
    out.resize(n);
    return out;
  }

 private:
  int fd_;
};

void fsync_dir(const std::string& path) {
  File dir(path, O_RDONLY | O_DIRECTORY);
  dir.fsync();
}

void put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// A backing directory with files in it before the mount: durable already.
struct Seeded {
  TempDir dir;
  explicit Seeded(std::initializer_list<std::pair<std::string, std::string>> files) {
    for (const auto& [name, data] : files) put(dir / name, data);
  }
};

bool exists(const std::string& path) { return fs::exists(fs::symlink_status(path)); }

}  // namespace

BOOST_AUTO_TEST_SUITE(powerloss_fs)

BOOST_AUTO_TEST_CASE(a_write_not_fsynced_is_gone_after_a_cut) {
  Seeded seed({{"f", "durable"}});
  PowerlossMount mnt(seed.dir.path());
  {
    File f(mnt / "f");
    f.pwrite(" and volatile", 7);
    BOOST_TEST(f.contents() == "durable and volatile");
    mnt.cut();
  }
  BOOST_TEST(read_file(mnt.backing() + "/f") == "durable");
}

BOOST_AUTO_TEST_CASE(fsync_makes_a_files_data_durable) {
  Seeded seed({{"f", "old"}});
  PowerlossMount mnt(seed.dir.path());
  {
    File f(mnt / "f", O_RDWR | O_TRUNC);
    f.write("new contents");
    // The backing directory holds the durable state at any time.
    BOOST_TEST(read_file(mnt.backing() + "/f") == "old");
    f.fsync();
    BOOST_TEST(read_file(mnt.backing() + "/f") == "new contents");
    f.write(", and more");
  }
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/f") == "new contents");
}

BOOST_AUTO_TEST_CASE(fdatasync_makes_a_files_data_durable) {
  Seeded seed({{"f", "12345"}});
  PowerlossMount mnt(seed.dir.path());
  {
    File f(mnt / "f");
    f.pwrite("abc", 5);
    f.fdatasync();
    f.pwrite("Z", 0);
  }
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/f") == "12345abc");
}

BOOST_AUTO_TEST_CASE(reads_and_sizes_see_writes_not_yet_durable) {
  Seeded seed({{"f", "0123456789"}});
  PowerlossMount mnt(seed.dir.path());
  File f(mnt / "f");
  f.pwrite("ab", 3);
  f.pwrite("XYZ", 10);
  BOOST_TEST(f.contents() == "012ab56789XYZ");
  BOOST_TEST(f.size() == 13);
  BOOST_TEST(fs::file_size(mnt / "f") == 13u);
  BOOST_TEST(read_file(mnt / "f") == "012ab56789XYZ");  // another open file sees it too
  File g(mnt / "new", O_RDWR | O_CREAT | O_EXCL);
  g.pwrite("x", 4096);
  BOOST_TEST(g.contents() == std::string(4096, '\0') + "x");
}

BOOST_AUTO_TEST_CASE(overwrites_extensions_and_truncations) {
  Seeded seed({{"f", "0123456789"}});
  PowerlossMount mnt(seed.dir.path());
  File f(mnt / "f");
  f.truncate(4);  // "0123"
  f.truncate(8);  // the bytes cut off come back as zeros
  f.pwrite("ab", 6);
  const std::string expected = std::string("0123") + '\0' + '\0' + "ab";
  BOOST_TEST(f.contents() == expected);
  BOOST_TEST(read_file(mnt.backing() + "/f") == "0123456789");
  f.fsync();
  BOOST_TEST(read_file(mnt.backing() + "/f") == expected);
  f.truncate(2);
  f.pwrite("Q", 12);
  BOOST_TEST(f.contents() == std::string("01") + std::string(10, '\0') + "Q");
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/f") == expected);
}

// Random writes, truncations, preallocations and syncs on a file in the mount
// and on a file in an ordinary directory: both read the same after every
// step, and after the cut the backing file is the file as of its last sync.
BOOST_AUTO_TEST_CASE(random_operations_read_like_an_ordinary_file) {
  std::mt19937 rng(20261201);
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  TempDir reference_dir;
  PowerlossMount mnt;
  std::string durable;
  {
    File ref(reference_dir / "f");
    File f(mnt / "f");
    fsync_dir(mnt.path());
    for (int step = 0; step < 400; ++step) {
      const int op = pick(0, 9);
      if (op < 6) {
        const std::string data(pick(1, 3000), static_cast<char>('a' + step % 26));
        const off_t off = pick(0, 12000);
        ref.pwrite(data, off);
        f.pwrite(data, off);
      } else if (op == 6) {
        const off_t size = pick(0, 12000);
        ref.truncate(size);
        f.truncate(size);
      } else if (op == 7) {
        const off_t off = pick(0, 12000), len = pick(1, 4000);
        BOOST_TEST_REQUIRE(::posix_fallocate(ref.fd(), off, len) == 0);
        BOOST_TEST_REQUIRE(::posix_fallocate(f.fd(), off, len) == 0);
      } else {
        (op == 8 ? f.fsync() : f.fdatasync());
        durable = ref.contents();
      }
      BOOST_TEST_REQUIRE(f.size() == ref.size(), "step " << step);
      BOOST_TEST_REQUIRE(f.contents() == ref.contents(), "step " << step);
    }
  }
  mnt.cut();
  BOOST_TEST((read_file(mnt.backing() + "/f") == durable));
}

BOOST_AUTO_TEST_CASE(a_new_file_needs_its_directory_fsynced) {
  PowerlossMount mnt;
  {
    File b(mnt / "b");
    b.write("file b");
    b.fsync();
    fsync_dir(mnt.path());
    File a(mnt / "a");  // created after the directory's fsync
    a.write("file a");
    a.fsync();  // its data, not its name
  }
  BOOST_TEST(read_file(mnt.backing() + "/b") == "file b");
  BOOST_TEST(!exists(mnt.backing() + "/a"));
  std::set<std::string> listed;
  for (const auto& e : fs::directory_iterator(mnt.path())) listed.insert(e.path().filename());
  BOOST_TEST((listed == std::set<std::string>{"a", "b"}));
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/b") == "file b");
  // Nothing but b: in particular no staging directory.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(mnt.backing())) names.push_back(e.path().filename());
  BOOST_TEST(names == std::vector<std::string>{"b"}, boost::test_tools::per_element());
}

// RocksDB's CURRENT: a temporary file written and synced, renamed over the
// old one, then the directory synced. Without that last fsync the old one
// is what a cut leaves.
BOOST_AUTO_TEST_CASE(a_rename_over_a_file_is_durable_with_its_directorys_fsync) {
  for (const bool sync_dir : {true, false}) {
    BOOST_TEST_CONTEXT("directory fsync: " << sync_dir) {
      Seeded seed({{"CURRENT", "MANIFEST-000001\n"}});
      PowerlossMount mnt(seed.dir.path());
      {
        File tmp(mnt / "000002.dbtmp", O_RDWR | O_CREAT | O_EXCL);
        tmp.write("MANIFEST-000002\n");
        tmp.fsync();
      }
      BOOST_TEST_REQUIRE(::rename((mnt / "000002.dbtmp").c_str(), (mnt / "CURRENT").c_str()) == 0);
      BOOST_TEST(read_file(mnt / "CURRENT") == "MANIFEST-000002\n");
      if (sync_dir) fsync_dir(mnt.path());
      mnt.cut();
      BOOST_TEST(read_file(mnt.backing() + "/CURRENT") ==
                 (sync_dir ? "MANIFEST-000002\n" : "MANIFEST-000001\n"));
      BOOST_TEST(!exists(mnt.backing() + "/000002.dbtmp"));
    }
  }
}

BOOST_AUTO_TEST_CASE(an_unlink_is_durable_with_its_directorys_fsync) {
  Seeded seed({{"a", "A"}, {"b", "B"}});
  PowerlossMount mnt(seed.dir.path());
  BOOST_TEST_REQUIRE(::unlink((mnt / "a").c_str()) == 0);
  fsync_dir(mnt.path());
  BOOST_TEST_REQUIRE(::unlink((mnt / "b").c_str()) == 0);
  BOOST_TEST(!exists(mnt / "b"));
  mnt.cut();
  BOOST_TEST(!exists(mnt.backing() + "/a"));
  BOOST_TEST(read_file(mnt.backing() + "/b") == "B");
}

BOOST_AUTO_TEST_CASE(a_new_directory_needs_its_parent_fsynced) {
  PowerlossMount mnt;
  for (const std::string d : {"kept", "lost"}) {
    BOOST_TEST_REQUIRE(::mkdir((mnt / d).c_str(), 0755) == 0);
    File f(mnt / (d + "/f"));
    f.write("in " + d);
    f.fsync();
    fsync_dir(mnt / d);
    if (d == "kept") fsync_dir(mnt.path());
  }
  BOOST_TEST_REQUIRE(::mkdir((mnt / "kept/sub").c_str(), 0755) == 0);  // kept is not fsync'ed again
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/kept/f") == "in kept");
  BOOST_TEST(!exists(mnt.backing() + "/kept/sub"));
  BOOST_TEST(!exists(mnt.backing() + "/lost"));
}

BOOST_AUTO_TEST_CASE(a_renamed_directory_moves_with_the_fsync_of_its_new_parent) {
  PowerlossMount mnt;
  BOOST_TEST_REQUIRE(::mkdir((mnt / "a").c_str(), 0755) == 0);
  BOOST_TEST_REQUIRE(::mkdir((mnt / "b").c_str(), 0755) == 0);
  put(mnt / "a/f", "f");
  File(mnt / "a/f").fsync();
  fsync_dir(mnt / "a");
  fsync_dir(mnt.path());
  BOOST_TEST_REQUIRE(::rename((mnt / "a").c_str(), (mnt / "b/a").c_str()) == 0);
  BOOST_TEST(read_file(mnt / "b/a/f") == "f");
  fsync_dir(mnt / "b");
  fsync_dir(mnt.path());
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/b/a/f") == "f");
  BOOST_TEST(!exists(mnt.backing() + "/a"));
}

// The fsync of the root removes `a` for good; `b`, moved out of it first,
// must not go with it.
BOOST_AUTO_TEST_CASE(a_directory_moved_out_of_a_removed_one_survives) {
  PowerlossMount mnt;
  BOOST_TEST_REQUIRE(::mkdir((mnt / "a").c_str(), 0755) == 0);
  BOOST_TEST_REQUIRE(::mkdir((mnt / "a/b").c_str(), 0755) == 0);
  put(mnt / "a/b/f", "f");
  File(mnt / "a/b/f").fsync();
  for (const std::string d : {"a/b", "a", ""}) fsync_dir(mnt / d);
  BOOST_TEST_REQUIRE(::rename((mnt / "a/b").c_str(), (mnt / "c").c_str()) == 0);
  BOOST_TEST_REQUIRE(::rmdir((mnt / "a").c_str()) == 0);
  fsync_dir(mnt.path());
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/c/f") == "f");
  BOOST_TEST(!exists(mnt.backing() + "/a"));
}

// Durable: c/d. In memory: d/c. The fsync of d has to take d out from
// under c before c can go into it.
BOOST_AUTO_TEST_CASE(two_directories_that_swapped_places) {
  PowerlossMount mnt;
  BOOST_TEST_REQUIRE(::mkdir((mnt / "c").c_str(), 0755) == 0);
  BOOST_TEST_REQUIRE(::mkdir((mnt / "c/d").c_str(), 0755) == 0);
  put(mnt / "c/d/f", "f");
  File(mnt / "c/d/f").fsync();
  for (const std::string d : {"c/d", "c", ""}) fsync_dir(mnt / d);
  BOOST_TEST_REQUIRE(::rename((mnt / "c/d").c_str(), (mnt / "d").c_str()) == 0);
  BOOST_TEST_REQUIRE(::rename((mnt / "c").c_str(), (mnt / "d/c").c_str()) == 0);
  fsync_dir(mnt / "d");
  fsync_dir(mnt.path());
  BOOST_TEST(read_file(mnt / "d/f") == "f");
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/d/f") == "f");
  BOOST_TEST(fs::is_directory(mnt.backing() + "/d/c"));
  BOOST_TEST(!exists(mnt.backing() + "/c"));
}

BOOST_AUTO_TEST_CASE(hard_links_share_their_data) {
  Seeded seed({{"a", "one"}});
  PowerlossMount mnt(seed.dir.path());
  BOOST_TEST_REQUIRE(::link((mnt / "a").c_str(), (mnt / "b").c_str()) == 0);
  BOOST_TEST_REQUIRE(::link((mnt / "a").c_str(), (mnt / "c").c_str()) == 0);
  fsync_dir(mnt.path());
  BOOST_TEST_REQUIRE(::unlink((mnt / "c").c_str()) == 0);
  {
    File b(mnt / "b");
    b.pwrite("ONE", 0);
    BOOST_TEST(read_file(mnt / "a") == "ONE");
    b.fsync();
  }
  BOOST_TEST(fs::hard_link_count(mnt / "a") == 2u);
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/a") == "ONE");
  BOOST_TEST(read_file(mnt.backing() + "/b") == "ONE");
  BOOST_TEST(read_file(mnt.backing() + "/c") == "ONE");  // its unlink was not made durable
  BOOST_TEST(fs::hard_link_count(mnt.backing() + "/a") == 3u);
}

BOOST_AUTO_TEST_CASE(fallocate_grows_or_keeps_the_size) {
  PowerlossMount mnt;
  File f(mnt / "f");
  f.write("abc");
  BOOST_TEST_REQUIRE(::fallocate(f.fd(), FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0);
  BOOST_TEST(f.size() == 3);
  BOOST_TEST_REQUIRE(::fallocate(f.fd(), 0, 0, 10) == 0);
  BOOST_TEST(f.contents() == std::string("abc") + std::string(7, '\0'));
  BOOST_TEST(::fallocate(f.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 2) == -1);
  BOOST_TEST(errno == EOPNOTSUPP);
}

BOOST_AUTO_TEST_CASE(an_open_file_without_a_name_stays_readable) {
  Seeded seed({{"f", "kept"}});
  PowerlossMount mnt(seed.dir.path());
  File f(mnt / "f");
  BOOST_TEST_REQUIRE(::unlink((mnt / "f").c_str()) == 0);
  f.pwrite("KEPT", 0);
  f.fsync();
  BOOST_TEST(f.contents() == "KEPT");
  BOOST_TEST(!exists(mnt / "f"));
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/f") == "KEPT");  // the unlink was not durable
}

BOOST_AUTO_TEST_CASE(nothing_works_after_a_cut) {
  Seeded seed({{"f", "before"}});
  PowerlossMount mnt(seed.dir.path());
  File f(mnt / "f");
  mnt.cut();
  BOOST_TEST(!latchkey::test::is_powerloss_mount(mnt.path()));
  // The connection is gone: ENOTCONN (EIO if an operation was already queued).
  auto failed = [] { return errno == ENOTCONN || errno == EIO; };
  char buf[16];
  BOOST_TEST(::pread(f.fd(), buf, sizeof buf, 0) == -1);
  BOOST_TEST(failed());
  BOOST_TEST(::pwrite(f.fd(), "after", 5, 0) == -1);
  BOOST_TEST(failed());
  BOOST_TEST(::fsync(f.fd()) == -1);
  BOOST_TEST(failed());
  BOOST_TEST(!exists(mnt / "f"));  // the mount point is an empty directory again
  BOOST_TEST(read_file(mnt.backing() + "/f") == "before");
}

// What RocksDB does with its files: a write-ahead log appended to and
// fdatasync'ed, its directory fsync'ed once after the log is created; a
// MANIFEST and CURRENT; an OPTIONS file whose directory fsync never comes.
BOOST_AUTO_TEST_CASE(a_rocksdb_like_sequence) {
  PowerlossMount mnt;
  const std::string db = mnt / "db";
  BOOST_TEST_REQUIRE(::mkdir(db.c_str(), 0755) == 0);
  fsync_dir(mnt.path());
  {
    File manifest(db + "/MANIFEST-000001", O_RDWR | O_CREAT | O_EXCL);
    manifest.write("manifest");
    manifest.fsync();
    File current(db + "/000001.dbtmp", O_RDWR | O_CREAT | O_EXCL);
    current.write("MANIFEST-000001\n");
    current.fsync();
  }
  BOOST_TEST_REQUIRE(::rename((db + "/000001.dbtmp").c_str(), (db + "/CURRENT").c_str()) == 0);
  fsync_dir(db);
  File log(db + "/000003.log", O_WRONLY | O_CREAT | O_APPEND);
  BOOST_TEST_REQUIRE(::fallocate(log.fd(), FALLOC_FL_KEEP_SIZE, 0, 64 << 10) == 0);
  log.write("record 1;");
  log.fdatasync();
  fsync_dir(db);
  log.write("record 2;");
  log.fdatasync();
  log.write("record 3;");  // not synced
  {
    File options(db + "/OPTIONS-000005", O_RDWR | O_CREAT | O_EXCL);
    options.write("options");
    options.fsync();
  }
  BOOST_TEST(read_file(db + "/000003.log") == "record 1;record 2;record 3;");
  mnt.cut();
  const std::string backed = mnt.backing() + "/db";
  BOOST_TEST(read_file(backed + "/000003.log") == "record 1;record 2;");
  BOOST_TEST(read_file(backed + "/CURRENT") == "MANIFEST-000001\n");
  BOOST_TEST(read_file(backed + "/MANIFEST-000001") == "manifest");
  BOOST_TEST(!exists(backed + "/OPTIONS-000005"));
  BOOST_TEST(!exists(backed + "/000001.dbtmp"));
}

BOOST_AUTO_TEST_CASE(a_clean_unmount_makes_everything_durable) {
  Seeded seed({{"old", "old"}, {"gone", "gone"}});
  PowerlossMount mnt(seed.dir.path());
  BOOST_TEST_REQUIRE(::mkdir((mnt / "d").c_str(), 0755) == 0);
  put(mnt / "d/f", "in d");
  put(mnt / "new", "new");
  BOOST_TEST_REQUIRE(::rename((mnt / "old").c_str(), (mnt / "d/renamed").c_str()) == 0);
  BOOST_TEST_REQUIRE(::unlink((mnt / "gone").c_str()) == 0);
  mnt.unmount();
  BOOST_TEST(read_file(mnt.backing() + "/d/f") == "in d");
  BOOST_TEST(read_file(mnt.backing() + "/new") == "new");
  BOOST_TEST(read_file(mnt.backing() + "/d/renamed") == "old");
  BOOST_TEST(!exists(mnt.backing() + "/old"));
  BOOST_TEST(!exists(mnt.backing() + "/gone"));
  BOOST_TEST(!exists(mnt.backing() + "/.powerloss-volatile"));
}

BOOST_AUTO_TEST_CASE(a_mount_after_a_cut_shows_what_survived) {
  PowerlossMount mnt;
  BOOST_TEST_REQUIRE(::mkdir((mnt / "d").c_str(), 0755) == 0);
  put(mnt / "d/f", "synced");
  File(mnt / "d/f").fsync();
  fsync_dir(mnt / "d");
  fsync_dir(mnt.path());
  put(mnt / "d/g", "not synced");
  mnt.cut();
  mnt.mount();
  BOOST_TEST(read_file(mnt / "d/f") == "synced");
  BOOST_TEST(!exists(mnt / "d/g"));
  put(mnt / "d/f", "again");  // the new mount loses power like the first
  mnt.cut();
  BOOST_TEST(read_file(mnt.backing() + "/d/f") == "synced");
}

BOOST_AUTO_TEST_SUITE_END()
