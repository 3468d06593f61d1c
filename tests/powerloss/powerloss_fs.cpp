// powerloss_fs: a FUSE filesystem for tests that can lose power.
//
//   powerloss_fs --backing DIR --mount MNT [--exit-with-parent]
//
// Serves a view of DIR at MNT in which nothing is durable until it is
// fsync'ed: a file's data (writes, truncations, its size) when the file is
// fsync'ed or fdatasync'ed, a name (create, link, unlink, rename, mkdir,
// rmdir) when its directory is fsync'ed (volatile_fs.h). DIR always holds
// exactly the durable state.
//
// Prints "ready" on stdout once mounted. Then:
//   SIGUSR1           the power cut: every later operation fails, what was not
//                     durable is dropped, MNT is unmounted and the process
//                     exits 0. DIR is what a disk would hold after the cut.
//   SIGTERM, SIGINT,  a clean shutdown, as a machine's: everything is made
//   SIGHUP, umount    durable first, then the same. Exits 0 (1 if that fails).
// An operation in progress when a signal comes finishes first, so every
// fsync is atomic. Runs in the foreground, single-threaded (a second thread
// only waits for the signals), and the kernel caches no data (direct I/O, no
// writeback cache) and no attributes or names. --exit-with-parent: SIGTERM
// when the process that started it dies (a test killed by its timeout), so
// that no mount outlives its test.

#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/powerloss/volatile_fs.h"

using latchkey::powerloss::DirEntry;
using latchkey::powerloss::VolatileFs;

namespace {

struct State {
  std::mutex mu;
  bool stopped = false;  // a cut or a shutdown has begun: everything fails with EIO
  std::unique_ptr<VolatileFs> fs;
  std::string mount;
};
State g;

// Every operation runs under the lock, and none after the power is off.
#define GUARD_OR(reply)                   \
  std::lock_guard<std::mutex> lock(g.mu); \
  if (g.stopped) {                        \
    reply;                                \
    return;                               \
  }
#define GUARD GUARD_OR(fuse_reply_err(req, EIO))

void reply_entry(fuse_req_t req, int err, const struct stat& st) {
  if (err != 0) {
    fuse_reply_err(req, err);
    return;
  }
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.generation = 1;  // inode numbers are never reused
  e.attr = st;
  e.attr_timeout = 0;
  e.entry_timeout = 0;
  if (fuse_reply_entry(req, &e) != 0) g.fs->forget(st.st_ino, 1);
}

void op_init(void*, fuse_conn_info* conn) {
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GUARD;
  struct stat st {};
  reply_entry(req, g.fs->lookup(parent, name, &st), st);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  GUARD_OR(fuse_reply_none(req));
  g.fs->forget(ino, nlookup);
  fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  GUARD_OR(fuse_reply_none(req));
  for (size_t i = 0; i < count; ++i) g.fs->forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  GUARD;
  struct stat st {};
  if (const int err = g.fs->getattr(ino, &st)) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_attr(req, &st, 0);
  }
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  GUARD;
  int err = 0;
  if (to_set & FUSE_SET_ATTR_MODE) err = g.fs->chmod(ino, attr->st_mode);
  if (!err && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
    err = g.fs->chown(
        ino, to_set & FUSE_SET_ATTR_UID ? std::optional<uid_t>(attr->st_uid) : std::nullopt,
        to_set & FUSE_SET_ATTR_GID ? std::optional<gid_t>(attr->st_gid) : std::nullopt);
  }
  if (!err && (to_set & FUSE_SET_ATTR_SIZE)) err = g.fs->truncate(ino, attr->st_size);
  if (!err && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                         FUSE_SET_ATTR_MTIME_NOW))) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    std::optional<timespec> atime, mtime;
    if (to_set & FUSE_SET_ATTR_ATIME) atime = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) atime = now;
    if (to_set & FUSE_SET_ATTR_MTIME) mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) mtime = now;
    err = g.fs->set_times(ino, atime, mtime);
  }
  struct stat st {};
  if (!err) err = g.fs->getattr(ino, &st);
  if (err) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_attr(req, &st, 0);
  }
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  GUARD;
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM);  // only regular files and directories
    return;
  }
  struct stat st {};
  reply_entry(req, g.fs->create(parent, name, mode, &st), st);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  GUARD;
  struct stat st {};
  reply_entry(req, g.fs->mkdir(parent, name, mode, &st), st);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name) {
  GUARD;
  struct stat st {};
  reply_entry(req, g.fs->link(ino, parent, name, &st), st);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GUARD;
  fuse_reply_err(req, g.fs->unlink(parent, name));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GUARD;
  fuse_reply_err(req, g.fs->rmdir(parent, name));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
               const char* new_name, unsigned flags) {
  GUARD;
  fuse_reply_err(req, g.fs->rename(parent, name, new_parent, new_name, flags));
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  GUARD;
  if (const int err = g.fs->open(ino, fi->flags & O_TRUNC)) {
    fuse_reply_err(req, err);
    return;
  }
  fi->direct_io = 1;  // no page cache: every read and write comes here
  fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) != 0) g.fs->release(ino);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  GUARD;
  struct stat st {};
  int err = g.fs->create(parent, name, mode, &st);
  bool truncate = false;
  if (err == EEXIST && !(fi->flags & O_EXCL)) {  // created meanwhile: opened as it is
    err = g.fs->lookup(parent, name, &st);
    truncate = fi->flags & O_TRUNC;
  }
  if (!err) err = g.fs->open(st.st_ino, truncate);
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  g.fs->getattr(st.st_ino, &st);
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_entry_param e{};
  e.ino = st.st_ino;
  e.generation = 1;
  e.attr = st;
  if (fuse_reply_create(req, &e, fi) != 0) {
    g.fs->release(st.st_ino);
    g.fs->forget(st.st_ino, 1);
  }
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  GUARD;
  std::string out;
  if (const int err = g.fs->read(ino, off, size, &out)) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_buf(req, out.data(), out.size());
  }
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info*) {
  GUARD;
  if (const int err = g.fs->write(ino, off, std::string_view(buf, size))) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_write(req, size);
  }
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  GUARD;
  fuse_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  GUARD;
  g.fs->release(ino);
  fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) {
  GUARD;
  fuse_reply_err(req, g.fs->fsync(ino, datasync != 0));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info*) {
  GUARD;
  fuse_reply_err(req, g.fs->fallocate(ino, mode, off, len));
}

// A directory is listed as it was when it was opened.
void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  GUARD;
  auto entries = std::make_unique<std::vector<DirEntry>>();
  if (const int err = g.fs->list(ino, entries.get())) {
    fuse_reply_err(req, err);
    return;
  }
  fi->fh = reinterpret_cast<uint64_t>(entries.get());
  if (fuse_reply_open(req, fi) == 0) entries.release();
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  GUARD;
  const auto& entries = *reinterpret_cast<std::vector<DirEntry>*>(fi->fh);
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = off; i < entries.size(); ++i) {
    struct stat st {};
    st.st_ino = entries[i].ino;
    st.st_mode = entries[i].mode;
    const size_t n = fuse_add_direntry(req, buf.data() + used, size - used, entries[i].name.c_str(),
                                       &st, static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  // Frees the listing even after a cut.
  delete reinterpret_cast<std::vector<DirEntry>*>(fi->fh);
  GUARD;
  fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  GUARD;
  fuse_reply_err(req, g.fs->fsyncdir(ino));
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  GUARD;
  struct statvfs st {};
  if (const int err = g.fs->statfs(&st)) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_statfs(req, &st);
  }
}

// The end, by a signal or by an unmount: under the lock, so it waits for
// the operation in progress, and only once.
int finish(bool power_cut) {
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.stopped) return -1;
  g.stopped = true;
  if (power_cut) {
    g.fs->cut();
    std::fprintf(stderr, "powerloss_fs: power cut: everything not fsync'ed is gone\n");
    return 0;
  }
  return g.fs->shutdown() == 0 ? 0 : 1;
}

// Waits for the signals (blocked in every thread) and ends the process:
// nothing is answered after the lock is released but EIO, the mount is
// detached, and exiting closes /dev/fuse, which aborts the connection for
// any file still open on it.
void* signal_thread(void* arg) {
  const sigset_t* set = static_cast<const sigset_t*>(arg);
  int sig = 0;
  while (sigwait(set, &sig) != 0) {
  }
  const int code = finish(sig == SIGUSR1);
  if (code < 0) return nullptr;  // an unmount got there first; main() exits
  if (::umount2(g.mount.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    std::fprintf(stderr, "powerloss_fs: error: umount %s: %s\n", g.mount.c_str(),
                 std::strerror(errno));
  }
  std::fflush(stderr);
  ::_exit(code);
}

int usage() {
  std::fprintf(stderr, "usage: powerloss_fs --backing DIR --mount MNT [--exit-with-parent]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backing, mount;
  bool exit_with_parent = false;
  const pid_t parent = ::getppid();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--backing" && i + 1 < argc) {
      backing = argv[++i];
    } else if (arg == "--mount" && i + 1 < argc) {
      mount = argv[++i];
    } else if (arg == "--exit-with-parent") {
      exit_with_parent = true;
    } else if (arg != "--foreground") {  // always in the foreground
      return usage();
    }
  }
  if (backing.empty() || mount.empty()) return usage();
  char resolved[PATH_MAX];
  if (::realpath(backing.c_str(), resolved) == nullptr) {
    std::fprintf(stderr, "powerloss_fs: error: %s: %s\n", backing.c_str(), std::strerror(errno));
    return 1;
  }
  backing = resolved;
  if (::realpath(mount.c_str(), resolved) == nullptr) {
    std::fprintf(stderr, "powerloss_fs: error: %s: %s\n", mount.c_str(), std::strerror(errno));
    return 1;
  }
  g.mount = resolved;
  if ((g.mount + "/").rfind(backing + "/", 0) == 0 ||
      (backing + "/").rfind(g.mount + "/", 0) == 0) {
    std::fprintf(stderr, "powerloss_fs: error: the backing directory and the mount point nest\n");
    return 1;
  }
  try {
    g.fs = std::make_unique<VolatileFs>(backing);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "powerloss_fs: error: %s\n", e.what());
    return 1;
  }

  sigset_t set;
  sigemptyset(&set);
  for (const int s : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (exit_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) return 1;  // it died before that
  }
  pthread_t waiter;
  if (pthread_create(&waiter, nullptr, signal_thread, &set) != 0) return 1;

  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.link = op_link;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.rename = op_rename;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.fallocate = op_fallocate;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.statfs = op_statfs;

  std::vector<std::string> args{argv[0], "-o", "fsname=powerloss_fs,subtype=powerloss_fs"};
  std::vector<char*> arg_ptrs;
  for (auto& a : args) arg_ptrs.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof(ops), nullptr);
  if (se == nullptr) return 1;
  if (fuse_session_mount(se, g.mount.c_str()) != 0) {
    fuse_session_destroy(se);
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  fuse_session_loop(se);
  // Unmounted from outside (a signal ends the process in signal_thread).
  int code = finish(false);
  if (code < 0) {
    for (;;) ::pause();  // signal_thread is ending the process
  }
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  std::fflush(stderr);
  ::_exit(code);
}
