#pragma once
// The filesystem that powerloss_fs serves, without FUSE. The backing
// directory always holds exactly the durable state, as a disk would after a
// power cut; the rest lives in memory:
//   - Data: each file's writes, truncations and size changes stay in its
//     Overlay until the file is fsync'ed (or fdatasync'ed); then they are
//     written to its backing file, which is fsync'ed.
//   - Names: creates, links, unlinks, renames, mkdir and rmdir change only
//     the namespace in memory. An fsync of a directory makes the backing
//     directory's entries what that directory holds in memory, at once.
// Every file has a data file in a staging directory inside the backing one
// (`.powerloss-volatile/f<ino>`); its durable names are hard links to that
// data file. A new directory's backing directory sits in the staging
// directory (`d<ino>`) until an fsync of its parent moves it into place. A
// cut removes the staging directory: what was not durable is gone, and the
// backing directory can be used as it is.
//
// Not thread-safe: the caller serialises every call. Calls return 0 or an
// errno.

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/powerloss/overlay.h"

namespace latchkey::powerloss {

struct DirEntry {
  std::string name;
  std::uint64_t ino;
  mode_t mode;
};

class VolatileFs {
 public:
  static constexpr std::uint64_t kRoot = 1;  // FUSE_ROOT_ID
  static constexpr const char* kStaging = ".powerloss-volatile";

  // Takes over `backing`: what is in it now is durable. A staging directory
  // left by a process that did not end cleanly is removed. Throws on a file
  // type other than regular files and directories.
  explicit VolatileFs(std::string backing);
  ~VolatileFs();
  VolatileFs(const VolatileFs&) = delete;
  VolatileFs& operator=(const VolatileFs&) = delete;

  // Every call that returns a node's attributes counts a kernel reference to
  // it (lookup, create, mkdir, link), until forget() gives it back.
  int lookup(std::uint64_t parent, const std::string& name, struct stat* st);
  void forget(std::uint64_t ino, std::uint64_t count);
  int getattr(std::uint64_t ino, struct stat* st);
  int truncate(std::uint64_t ino, std::uint64_t size);
  // Permissions and owners go to the data file at once (durable at once);
  // times live in memory only.
  int chmod(std::uint64_t ino, mode_t mode);
  int chown(std::uint64_t ino, std::optional<uid_t> uid, std::optional<gid_t> gid);
  int set_times(std::uint64_t ino, std::optional<timespec> atime, std::optional<timespec> mtime);

  int create(std::uint64_t parent, const std::string& name, mode_t mode, struct stat* st);
  int mkdir(std::uint64_t parent, const std::string& name, mode_t mode, struct stat* st);
  int link(std::uint64_t ino, std::uint64_t parent, const std::string& name, struct stat* st);
  int unlink(std::uint64_t parent, const std::string& name);
  int rmdir(std::uint64_t parent, const std::string& name);
  // flags: 0 or RENAME_NOREPLACE.
  int rename(std::uint64_t parent, const std::string& name, std::uint64_t new_parent,
             const std::string& new_name, unsigned flags);

  // A file stays readable while it is open, even once it has no name.
  int open(std::uint64_t ino, bool truncate);
  void release(std::uint64_t ino);
  int read(std::uint64_t ino, std::uint64_t off, std::size_t len, std::string* out);
  int write(std::uint64_t ino, std::uint64_t off, std::string_view data);
  // mode 0 grows the file; FALLOC_FL_KEEP_SIZE changes nothing one can see;
  // anything else is EOPNOTSUPP.
  int fallocate(std::uint64_t ino, int mode, std::uint64_t off, std::uint64_t len);
  int fsync(std::uint64_t ino, bool datasync);

  int list(std::uint64_t ino, std::vector<DirEntry>* out);
  int fsyncdir(std::uint64_t ino);
  int statfs(struct statvfs* out);

  // The power cut: drops everything that is not durable. Nothing may be
  // called afterwards.
  void cut();
  // A clean shutdown: makes everything durable (every file and directory
  // fsync'ed), then removes the staging directory.
  int shutdown();

 private:
  struct Node {
    std::uint64_t ino = 0;
    bool dir = false;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    timespec atime{}, mtime{}, ctime{};
    std::uint64_t lookups = 0;  // kernel references
    std::uint32_t links = 0;    // names in memory (a directory: 1, or 0 once removed)
    // Files.
    std::uint32_t opens = 0;
    int fd = -1;         // the data file, opened when first needed
    ino_t data_ino = 0;  // its inode number in the backing filesystem
    std::optional<Overlay> content;
    // Directories.
    std::map<std::string, std::uint64_t> entries;
    std::uint64_t parent = 0;  // in memory
    // Where its backing directory is: in the backing directory of `home`
    // under `home_name`, or (home 0) in the staging directory. None once
    // an fsync of its durable parent removed it.
    std::uint64_t home = 0;
    std::string home_name;
    bool has_backing = true;
  };

  Node* find(std::uint64_t ino);
  Node* find_dir(std::uint64_t ino, int* err);
  Node& new_node(bool dir, mode_t mode);
  void fill(const Node& n, struct stat* st) const;
  std::string dir_path(const Node& d) const;
  std::string data_path(std::uint64_t ino) const;
  int data_fd(Node& n);
  void scan(Node& dir, const std::string& path, std::map<ino_t, std::uint64_t>& by_ino);
  void maybe_free(std::uint64_t ino);
  bool is_within(std::uint64_t ino, std::uint64_t ancestor) const;
  Node* durable_child(std::uint64_t home, const std::string& name);
  int to_staging(Node& d);
  int drop_backing(Node& d);
  int sync_dir(Node& d);

  std::string backing_;
  std::string staging_;
  std::map<std::uint64_t, Node> nodes_;
  std::uint64_t next_ino_ = kRoot + 1;
};

}  // namespace latchkey::powerloss
