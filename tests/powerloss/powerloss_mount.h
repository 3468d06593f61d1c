#pragma once
// powerloss_fs (tests/powerloss/powerloss_fs.cpp) in a child process: a
// backing directory served at a mount point whose power a test can cut.
// Needs root and /dev/fuse: mount() throws, saying so, without them.
//
//   test::PowerlossMount fs;           // a fresh, empty backing directory
//   ... write under fs.path(), fsync some of it ...
//   fs.cut();                          // what was not fsync'ed is gone
//   ... read fs.backing() as it is, or fs.mount() it again ...
//
// Every method throws std::runtime_error when powerloss_fs misbehaves: it
// does not mount in time, exits other than 0, leaves its mount behind, or
// writes an error on stderr.

#include <sys/types.h>

#include <optional>
#include <string>

#include "tests/support/temp_dir.h"

namespace latchkey::test {

class PowerlossMount {
 public:
  // A fresh, empty backing directory (removed at the end), mounted.
  PowerlossMount();
  // `backing` as it is (kept at the end), mounted.
  explicit PowerlossMount(std::string backing);
  // Unmounts cleanly if still mounted (never throws), then removes the
  // temporary directories.
  ~PowerlossMount();
  PowerlossMount(const PowerlossMount&) = delete;
  PowerlossMount& operator=(const PowerlossMount&) = delete;

  // The mount point, and a path under it.
  const std::string& path() const { return mount_point_; }
  std::string operator/(const std::string& name) const { return mount_point_ + "/" + name; }
  // The backing directory: the durable state, at any time.
  const std::string& backing() const { return backing_; }

  // Mounts the backing directory (again) and waits until the mount answers.
  void mount();
  // The power cut (SIGUSR1): waits until powerloss_fs has exited and the
  // mount is gone. The backing directory then holds what survived.
  void cut();
  // A clean unmount (SIGTERM): everything is made durable first.
  void unmount();
  bool mounted() const { return pid_ > 0; }
  // What powerloss_fs wrote on stderr since the last mount().
  std::string stderr_text() const;

 private:
  void stop(int sig, const char* what);
  void kill_and_detach();

  TempDir temp_;
  std::string backing_;
  std::string mount_point_;
  pid_t pid_ = -1;
  int runs_ = 0;
};

// Whether `path` is a mount point of a powerloss_fs (from /proc/self/mountinfo).
bool is_powerloss_mount(const std::string& path);

}  // namespace latchkey::test
