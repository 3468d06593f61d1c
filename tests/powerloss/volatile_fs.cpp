#include "tests/powerloss/volatile_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace latchkey::powerloss {

namespace {

timespec now() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

// The names in a directory (without . and ..), with lstat of each.
int read_dir(const std::string& path, std::vector<std::pair<std::string, struct stat>>* out) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return errno;
  out->clear();
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      ::closedir(d);
      return err;
    }
    out->emplace_back(name, st);
  }
  ::closedir(d);
  return 0;
}

int fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

void complain(const std::string& what, int err) {
  std::fprintf(stderr, "powerloss_fs: error: %s: %s\n", what.c_str(), std::strerror(err));
}

}  // namespace

VolatileFs::VolatileFs(std::string backing) : backing_(std::move(backing)) {
  staging_ = backing_ + "/" + kStaging;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
  if (ec) throw std::runtime_error("cannot remove " + staging_ + ": " + ec.message());
  if (::mkdir(staging_.c_str(), 0700) != 0)
    throw std::runtime_error("cannot create " + staging_ + ": " + std::strerror(errno));
  struct stat st {};
  if (::stat(backing_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw std::runtime_error(backing_ + " is not a directory");
  Node& root = nodes_[kRoot];
  root.ino = kRoot;
  root.dir = true;
  root.mode = st.st_mode;
  root.uid = st.st_uid;
  root.gid = st.st_gid;
  root.atime = st.st_atim;
  root.mtime = st.st_mtim;
  root.ctime = st.st_ctim;
  root.links = 1;
  root.parent = kRoot;
  std::map<ino_t, std::uint64_t> by_ino;
  scan(root, backing_, by_ino);
}

VolatileFs::~VolatileFs() {
  for (auto& [ino, n] : nodes_) {
    if (n.fd >= 0) ::close(n.fd);
  }
}

// What is in the backing directory at the start is durable: every directory
// becomes a node at home where it is, every file a node whose data file is a
// new hard link to it (one node for all the names of one inode).
void VolatileFs::scan(Node& dir, const std::string& path, std::map<ino_t, std::uint64_t>& by_ino) {
  std::vector<std::pair<std::string, struct stat>> present;
  if (const int err = read_dir(path, &present))
    throw std::runtime_error("cannot read " + path + ": " + std::strerror(err));
  const std::uint64_t dir_ino = dir.ino;
  for (const auto& [name, st] : present) {
    if (dir_ino == kRoot && name == kStaging) continue;
    const std::string child_path = path + "/" + name;
    if (S_ISDIR(st.st_mode)) {
      Node& c = new_node(true, st.st_mode);
      c.parent = dir_ino;
      c.home = dir_ino;
      c.home_name = name;
      c.uid = st.st_uid;
      c.gid = st.st_gid;
      c.atime = st.st_atim;
      c.mtime = st.st_mtim;
      c.ctime = st.st_ctim;
      nodes_.at(dir_ino).entries[name] = c.ino;
      scan(c, child_path, by_ino);
    } else if (S_ISREG(st.st_mode)) {
      auto known = by_ino.find(st.st_ino);
      if (known != by_ino.end()) {
        nodes_.at(known->second).links++;
        nodes_.at(dir_ino).entries[name] = known->second;
        continue;
      }
      Node& f = new_node(false, st.st_mode);
      f.uid = st.st_uid;
      f.gid = st.st_gid;
      f.atime = st.st_atim;
      f.mtime = st.st_mtim;
      f.ctime = st.st_ctim;
      f.data_ino = st.st_ino;
      f.content.emplace(st.st_size);
      if (::link(child_path.c_str(), data_path(f.ino).c_str()) != 0)
        throw std::runtime_error("cannot link " + child_path + ": " + std::strerror(errno));
      by_ino[st.st_ino] = f.ino;
      nodes_.at(dir_ino).entries[name] = f.ino;
    } else {
      throw std::runtime_error(child_path + ": only regular files and directories are supported");
    }
  }
}

VolatileFs::Node* VolatileFs::find(std::uint64_t ino) {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : &it->second;
}

// A directory that is still in the namespace (a removed one may still be
// someone's working directory: nothing can be created in it).
VolatileFs::Node* VolatileFs::find_dir(std::uint64_t ino, int* err) {
  Node* d = find(ino);
  if (d == nullptr || d->links == 0) {
    *err = ENOENT;
    return nullptr;
  }
  if (!d->dir) {
    *err = ENOTDIR;
    return nullptr;
  }
  return d;
}

VolatileFs::Node& VolatileFs::new_node(bool dir, mode_t mode) {
  const std::uint64_t ino = next_ino_++;
  Node& n = nodes_[ino];
  n.ino = ino;
  n.dir = dir;
  n.mode = mode;
  n.atime = n.mtime = n.ctime = now();
  n.links = 1;
  return n;
}

void VolatileFs::fill(const Node& n, struct stat* st) const {
  *st = {};
  st->st_ino = n.ino;
  st->st_mode = n.mode;
  st->st_uid = n.uid;
  st->st_gid = n.gid;
  st->st_atim = n.atime;
  st->st_mtim = n.mtime;
  st->st_ctim = n.ctime;
  st->st_blksize = 4096;
  if (n.dir) {
    st->st_nlink = n.links == 0 ? 0 : 2;
    for (const auto& [name, ino] : n.entries) st->st_nlink += nodes_.at(ino).dir ? 1 : 0;
    st->st_size = 4096;
  } else {
    st->st_nlink = n.links;
    st->st_size = n.content->size();
  }
  st->st_blocks = (st->st_size + 511) / 512;
}

std::string VolatileFs::dir_path(const Node& d) const {
  if (d.ino == kRoot) return backing_;
  if (d.home == 0) return staging_ + "/d" + std::to_string(d.ino);
  return dir_path(nodes_.at(d.home)) + "/" + d.home_name;
}

std::string VolatileFs::data_path(std::uint64_t ino) const {
  return staging_ + "/f" + std::to_string(ino);
}

int VolatileFs::data_fd(Node& n) {
  if (n.fd < 0) n.fd = ::open(data_path(n.ino).c_str(), O_RDWR | O_CLOEXEC);
  return n.fd < 0 ? -errno : n.fd;
}

// A node nothing refers to any more is forgotten. A file's data file goes
// with it (its durable names, if any, stay until their directory is
// fsync'ed); a directory stays while it still has a backing directory.
void VolatileFs::maybe_free(std::uint64_t ino) {
  Node* n = find(ino);
  if (n == nullptr || ino == kRoot || n->lookups > 0 || n->links > 0 || n->opens > 0) return;
  if (n->dir) {
    if (!n->has_backing) nodes_.erase(ino);
    return;
  }
  if (n->fd >= 0) ::close(n->fd);
  if (::unlink(data_path(ino).c_str()) != 0) complain("unlink " + data_path(ino), errno);
  nodes_.erase(ino);
}

int VolatileFs::lookup(std::uint64_t parent, const std::string& name, struct stat* st) {
  Node* p = find(parent);
  if (p == nullptr) return ENOENT;
  if (!p->dir) return ENOTDIR;
  auto it = p->entries.find(name);
  if (it == p->entries.end()) return ENOENT;
  Node& n = nodes_.at(it->second);
  n.lookups++;
  fill(n, st);
  return 0;
}

void VolatileFs::forget(std::uint64_t ino, std::uint64_t count) {
  Node* n = find(ino);
  if (n == nullptr) return;
  n->lookups -= std::min(n->lookups, count);
  maybe_free(ino);
}

int VolatileFs::getattr(std::uint64_t ino, struct stat* st) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  fill(*n, st);
  return 0;
}

int VolatileFs::truncate(std::uint64_t ino, std::uint64_t size) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EISDIR;
  n->content->truncate(size);
  n->mtime = n->ctime = now();
  return 0;
}

int VolatileFs::chmod(std::uint64_t ino, mode_t mode) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  const std::string path = n->dir ? dir_path(*n) : data_path(ino);
  if (n->ino != kRoot && ::chmod(path.c_str(), mode & 07777) != 0) return errno;
  n->mode = (n->mode & S_IFMT) | (mode & 07777);
  n->ctime = now();
  return 0;
}

int VolatileFs::chown(std::uint64_t ino, std::optional<uid_t> uid, std::optional<gid_t> gid) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  const std::string path = n->dir ? dir_path(*n) : data_path(ino);
  if (n->ino != kRoot && ::lchown(path.c_str(), uid.value_or(static_cast<uid_t>(-1)),
                                  gid.value_or(static_cast<gid_t>(-1))) != 0)
    return errno;
  n->uid = uid.value_or(n->uid);
  n->gid = gid.value_or(n->gid);
  n->ctime = now();
  return 0;
}

int VolatileFs::set_times(std::uint64_t ino, std::optional<timespec> atime,
                          std::optional<timespec> mtime) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  n->atime = atime.value_or(n->atime);
  n->mtime = mtime.value_or(n->mtime);
  n->ctime = now();
  return 0;
}

int VolatileFs::create(std::uint64_t parent, const std::string& name, mode_t mode,
                       struct stat* st) {
  int err = 0;
  Node* p = find_dir(parent, &err);
  if (p == nullptr) return err;
  if (parent == kRoot && name == kStaging) return EPERM;
  if (p->entries.count(name)) return EEXIST;
  Node& f = new_node(false, S_IFREG | (mode & 07777));
  const int fd =
      ::open(data_path(f.ino).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
  struct stat data {};
  if (fd < 0 || ::fstat(fd, &data) != 0) {
    err = errno;
    if (fd >= 0) ::close(fd);
    nodes_.erase(f.ino);
    return err;
  }
  f.fd = fd;
  f.data_ino = data.st_ino;
  f.content.emplace(0);
  f.lookups = 1;
  p = find(parent);
  p->entries[name] = f.ino;
  p->mtime = p->ctime = now();
  fill(f, st);
  return 0;
}

int VolatileFs::mkdir(std::uint64_t parent, const std::string& name, mode_t mode, struct stat* st) {
  int err = 0;
  Node* p = find_dir(parent, &err);
  if (p == nullptr) return err;
  if (parent == kRoot && name == kStaging) return EPERM;
  if (p->entries.count(name)) return EEXIST;
  Node& d = new_node(true, S_IFDIR | (mode & 07777));
  if (::mkdir(dir_path(d).c_str(), mode & 07777) != 0) {
    err = errno;
    nodes_.erase(d.ino);
    return err;
  }
  d.parent = parent;
  d.lookups = 1;
  p = find(parent);
  p->entries[name] = d.ino;
  p->mtime = p->ctime = now();
  fill(d, st);
  return 0;
}

int VolatileFs::link(std::uint64_t ino, std::uint64_t parent, const std::string& name,
                     struct stat* st) {
  int err = 0;
  Node* p = find_dir(parent, &err);
  if (p == nullptr) return err;
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EPERM;
  if (parent == kRoot && name == kStaging) return EPERM;
  if (p->entries.count(name)) return EEXIST;
  p->entries[name] = ino;
  p->mtime = p->ctime = now();
  n->links++;
  n->lookups++;
  n->ctime = now();
  fill(*n, st);
  return 0;
}

int VolatileFs::unlink(std::uint64_t parent, const std::string& name) {
  int err = 0;
  Node* p = find_dir(parent, &err);
  if (p == nullptr) return err;
  auto it = p->entries.find(name);
  if (it == p->entries.end()) return ENOENT;
  Node& n = nodes_.at(it->second);
  if (n.dir) return EISDIR;
  p->entries.erase(it);
  p->mtime = p->ctime = now();
  n.links--;
  n.ctime = now();
  maybe_free(n.ino);
  return 0;
}

int VolatileFs::rmdir(std::uint64_t parent, const std::string& name) {
  int err = 0;
  Node* p = find_dir(parent, &err);
  if (p == nullptr) return err;
  auto it = p->entries.find(name);
  if (it == p->entries.end()) return ENOENT;
  Node& d = nodes_.at(it->second);
  if (!d.dir) return ENOTDIR;
  if (!d.entries.empty()) return ENOTEMPTY;
  p->entries.erase(it);
  p->mtime = p->ctime = now();
  d.links = 0;
  maybe_free(d.ino);
  return 0;
}

// Whether directory `ino` is `ancestor` or lies below it in memory.
bool VolatileFs::is_within(std::uint64_t ino, std::uint64_t ancestor) const {
  for (;;) {
    if (ino == ancestor) return true;
    if (ino == kRoot) return false;
    ino = nodes_.at(ino).parent;
  }
}

int VolatileFs::rename(std::uint64_t parent, const std::string& name, std::uint64_t new_parent,
                       const std::string& new_name, unsigned flags) {
  if (flags & ~RENAME_NOREPLACE) return EINVAL;
  int err = 0;
  Node* from = find_dir(parent, &err);
  Node* to = from ? find_dir(new_parent, &err) : nullptr;
  if (to == nullptr) return err;
  auto it = from->entries.find(name);
  if (it == from->entries.end()) return ENOENT;
  if (new_parent == kRoot && new_name == kStaging) return EPERM;
  const std::uint64_t ino = it->second;
  Node& n = nodes_.at(ino);
  if (n.dir && is_within(new_parent, ino)) return EINVAL;
  std::uint64_t replaced = 0;
  if (auto old = to->entries.find(new_name); old != to->entries.end()) {
    if (flags & RENAME_NOREPLACE) return EEXIST;
    if (old->second == ino) return 0;  // two names of one file: nothing happens
    Node& o = nodes_.at(old->second);
    if (n.dir && !o.dir) return ENOTDIR;
    if (!n.dir && o.dir) return EISDIR;
    if (o.dir && !o.entries.empty()) return ENOTEMPTY;
    replaced = o.ino;
  }
  from->entries.erase(it);
  to->entries[new_name] = ino;
  if (n.dir) n.parent = new_parent;
  from->mtime = from->ctime = to->mtime = to->ctime = n.ctime = now();
  if (replaced != 0) {
    Node& o = nodes_.at(replaced);
    o.links = o.dir ? 0 : o.links - 1;
    maybe_free(replaced);
  }
  return 0;
}

int VolatileFs::open(std::uint64_t ino, bool truncate) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EISDIR;
  n->opens++;
  if (truncate) {
    n->content->truncate(0);
    n->mtime = n->ctime = now();
  }
  return 0;
}

void VolatileFs::release(std::uint64_t ino) {
  Node* n = find(ino);
  if (n == nullptr || n->opens == 0) return;
  n->opens--;
  maybe_free(ino);
}

int VolatileFs::read(std::uint64_t ino, std::uint64_t off, std::size_t len, std::string* out) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EISDIR;
  const int fd = data_fd(*n);
  if (fd < 0) return -fd;
  n->atime = now();
  return n->content->read(fd, off, len, out);
}

int VolatileFs::write(std::uint64_t ino, std::uint64_t off, std::string_view data) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EISDIR;
  n->content->write(off, data);
  n->mtime = n->ctime = now();
  return 0;
}

int VolatileFs::fallocate(std::uint64_t ino, int mode, std::uint64_t off, std::uint64_t len) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return EISDIR;
  if (mode == FALLOC_FL_KEEP_SIZE) return 0;
  if (mode != 0) return EOPNOTSUPP;
  if (off + len > n->content->size()) {
    n->content->truncate(off + len);
    n->mtime = n->ctime = now();
  }
  return 0;
}

int VolatileFs::fsync(std::uint64_t ino, bool datasync) {
  Node* n = find(ino);
  if (n == nullptr) return ENOENT;
  if (n->dir) return fsyncdir(ino);
  const int fd = data_fd(*n);
  if (fd < 0) return -fd;
  return n->content->flush(fd, datasync);
}

int VolatileFs::list(std::uint64_t ino, std::vector<DirEntry>* out) {
  Node* d = find(ino);
  if (d == nullptr) return ENOENT;
  if (!d->dir) return ENOTDIR;
  out->clear();
  out->push_back({".", d->ino, d->mode});
  out->push_back({"..", d->parent, S_IFDIR});
  for (const auto& [name, child] : d->entries) out->push_back({name, child, nodes_.at(child).mode});
  return 0;
}

int VolatileFs::statfs(struct statvfs* out) {
  return ::statvfs(backing_.c_str(), out) == 0 ? 0 : errno;
}

// The directory whose backing directory is `name` in the backing directory of
// `home`, if any.
VolatileFs::Node* VolatileFs::durable_child(std::uint64_t home, const std::string& name) {
  for (auto& [ino, n] : nodes_) {
    if (n.dir && n.has_backing && n.home == home && n.home_name == name) return &n;
  }
  return nullptr;
}

// Moves a directory's backing directory out of the durable tree, to the
// staging directory (it is no longer durable where it was).
int VolatileFs::to_staging(Node& d) {
  const std::string from = dir_path(d);
  d.home = 0;
  d.home_name.clear();
  if (::rename(from.c_str(), dir_path(d).c_str()) != 0) return errno;
  return 0;
}

// Removes a directory's backing directory with everything in it, except the
// backing directories of directories still in memory, which go to staging.
int VolatileFs::drop_backing(Node& d) {
  const std::string path = dir_path(d);
  std::vector<std::pair<std::string, struct stat>> present;
  if (const int err = read_dir(path, &present)) return err;
  for (const auto& [name, st] : present) {
    const std::string child = path + "/" + name;
    if (!S_ISDIR(st.st_mode)) {
      if (::unlink(child.c_str()) != 0) return errno;
      continue;
    }
    Node* c = durable_child(d.ino, name);
    if (c == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(child, ec);
      if (ec) return ec.value();
    } else if (const int err = c->links > 0 ? to_staging(*c) : drop_backing(*c)) {
      return err;
    }
  }
  if (::rmdir(path.c_str()) != 0) return errno;
  d.has_backing = false;
  maybe_free(d.ino);
  return 0;
}

// The fsync of a directory: its backing directory gets exactly the entries
// it has in memory (files as hard links to their data files, directories by
// moving their backing directories here), then it is fsync'ed.
int VolatileFs::sync_dir(Node& d) {
  const std::uint64_t dir_ino = d.ino;
  std::string path = dir_path(d);
  std::vector<std::pair<std::string, struct stat>> present;
  if (const int err = read_dir(path, &present)) return err;
  std::set<std::string> kept;
  // Whatever is not what memory has under that name goes.
  for (const auto& [name, st] : present) {
    if (dir_ino == kRoot && name == kStaging) continue;
    const Node& self = nodes_.at(dir_ino);
    auto want = self.entries.find(name);
    const Node* wanted = want == self.entries.end() ? nullptr : &nodes_.at(want->second);
    const std::string child = path + "/" + name;
    if (S_ISDIR(st.st_mode)) {
      Node* held = durable_child(dir_ino, name);
      if (held != nullptr && held == wanted) {
        kept.insert(name);
        continue;
      }
      int err = 0;
      if (held == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(child, ec);
        err = ec.value();
      } else {
        err = held->links > 0 ? to_staging(*held) : drop_backing(*held);
      }
      if (err != 0) return err;
    } else {
      if (wanted != nullptr && !wanted->dir && wanted->data_ino == st.st_ino) {
        kept.insert(name);
        continue;
      }
      if (::unlink(child.c_str()) != 0) return errno;
    }
  }
  // Then whatever is missing comes.
  const auto entries = nodes_.at(dir_ino).entries;
  for (const auto& [name, ino] : entries) {
    if (kept.count(name)) continue;
    Node& c = nodes_.at(ino);
    if (c.dir) {
      // A directory whose backing directory holds this one's (moved in
      // memory from below it): this one goes to staging first.
      const std::string from = dir_path(c);
      if (path.rfind(from + "/", 0) == 0) {
        if (const int err = to_staging(nodes_.at(dir_ino))) return err;
        path = dir_path(nodes_.at(dir_ino));
      }
      if (::rename(dir_path(c).c_str(), (path + "/" + name).c_str()) != 0) return errno;
      c.home = dir_ino;
      c.home_name = name;
    } else if (::link(data_path(ino).c_str(), (path + "/" + name).c_str()) != 0) {
      return errno;
    }
  }
  return fsync_path(path);
}

int VolatileFs::fsyncdir(std::uint64_t ino) {
  Node* d = find(ino);
  if (d == nullptr) return ENOENT;
  if (!d->dir) return ENOTDIR;
  if (d->links == 0) return 0;  // removed: nothing of it can become durable
  return sync_dir(*d);
}

void VolatileFs::cut() {
  for (auto& [ino, n] : nodes_) {
    if (n.fd >= 0) ::close(n.fd);
    n.fd = -1;
  }
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
  if (ec) complain("remove " + staging_, ec.value());
}

int VolatileFs::shutdown() {
  std::vector<std::uint64_t> files, dirs;
  for (const auto& [ino, n] : nodes_) {
    if (n.links == 0) continue;
    (n.dir ? dirs : files).push_back(ino);
  }
  for (const std::uint64_t ino : files) {
    if (const int err = fsync(ino, false)) {
      complain("fsync " + data_path(ino), err);
      return err;
    }
  }
  for (const std::uint64_t ino : dirs) {
    Node* d = find(ino);
    if (d == nullptr || d->links == 0) continue;
    if (const int err = sync_dir(*d)) {
      complain("fsync of directory " + dir_path(*d), err);
      return err;
    }
  }
  cut();  // what is left in staging is not in the namespace any more
  return 0;
}

}  // namespace latchkey::powerloss
