#include "tests/powerloss/powerloss_mount.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"

namespace latchkey::test {

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) throw std::runtime_error("no such path: " + path);
  return buf;
}

}  // namespace

bool is_powerloss_mount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS... - FSTYPE SOURCE SUPER_OPTIONS
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, word;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> word && word != "-") {
    }
    std::string type;
    fields >> type;
    if (point == path && type == "fuse.powerloss_fs") return true;
  }
  return false;
}

PowerlossMount::PowerlossMount() {
  if (::mkdir((temp_ / "backing").c_str(), 0755) != 0 ||
      ::mkdir((temp_ / "mnt").c_str(), 0755) != 0)
    throw std::runtime_error("cannot make directories in " + temp_.path());
  backing_ = real_path(temp_ / "backing");
  mount_point_ = real_path(temp_ / "mnt");  // as /proc/self/mountinfo shows it
  mount();
}

PowerlossMount::PowerlossMount(std::string backing) {
  backing_ = real_path(backing);
  if (::mkdir((temp_ / "mnt").c_str(), 0755) != 0)
    throw std::runtime_error("cannot make directories in " + temp_.path());
  mount_point_ = real_path(temp_ / "mnt");
  mount();
}

PowerlossMount::~PowerlossMount() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!child_detail::wait_until(pid_, std::chrono::steady_clock::now() + kTimeout))
      kill_and_detach();
    pid_ = -1;
  }
  if (is_powerloss_mount(mount_point_)) ::umount2(mount_point_.c_str(), MNT_DETACH);
}

void PowerlossMount::mount() {
  if (pid_ > 0) throw std::runtime_error("powerloss_fs is already mounted");
  if (::geteuid() != 0) throw std::runtime_error("powerloss_fs tests need root (to mount FUSE)");
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    throw std::runtime_error(
        "powerloss_fs tests need /dev/fuse (modprobe fuse; in a container, pass the device)");
  }
  ++runs_;
  const std::string out = temp_ / ("out-" + std::to_string(runs_));
  // --exit-with-parent: no mount outlives a test killed by its timeout.
  pid_ = child_detail::spawn(
      {POWERLOSS_FS_BIN, "--backing", backing_, "--mount", mount_point_, "--exit-with-parent"}, {},
      out, temp_ / ("err-" + std::to_string(runs_)));
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (read_file(out).find("ready\n") == std::string::npos || !is_powerloss_mount(mount_point_)) {
    if (const auto code = child_detail::wait_until(pid_, std::chrono::steady_clock::now())) {
      pid_ = -1;
      throw std::runtime_error("powerloss_fs exited with " + std::to_string(*code) +
                               " before it was mounted: " + stderr_text());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill_and_detach();
      throw std::runtime_error("powerloss_fs did not mount in time: " + stderr_text());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  struct stat st {};
  if (::stat(mount_point_.c_str(), &st) != 0) {
    kill_and_detach();
    throw std::runtime_error("the powerloss_fs mount does not answer: " + stderr_text());
  }
}

void PowerlossMount::cut() { stop(SIGUSR1, "power cut"); }

void PowerlossMount::unmount() { stop(SIGTERM, "clean unmount"); }

void PowerlossMount::stop(int sig, const char* what) {
  if (pid_ <= 0) throw std::runtime_error(std::string(what) + ": powerloss_fs is not running");
  ::kill(pid_, sig);
  const auto code = child_detail::wait_until(pid_, std::chrono::steady_clock::now() + kTimeout);
  if (!code) {
    kill_and_detach();
    throw std::runtime_error(std::string(what) + ": powerloss_fs did not exit in time");
  }
  pid_ = -1;
  const std::string err = stderr_text();
  if (*code != 0) {
    throw std::runtime_error(std::string(what) + ": powerloss_fs exited with " +
                             std::to_string(*code) + ": " + err);
  }
  if (is_powerloss_mount(mount_point_)) {
    ::umount2(mount_point_.c_str(), MNT_DETACH);
    throw std::runtime_error(std::string(what) + ": powerloss_fs left its mount behind");
  }
  if (err.find("error") != std::string::npos || err.find("ERROR") != std::string::npos) {
    throw std::runtime_error(std::string(what) + ": powerloss_fs reported: " + err);
  }
}

void PowerlossMount::kill_and_detach() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    child_detail::wait_for(pid_);
    pid_ = -1;
  }
  if (is_powerloss_mount(mount_point_)) ::umount2(mount_point_.c_str(), MNT_DETACH);
}

std::string PowerlossMount::stderr_text() const {
  return read_file(temp_ / ("err-" + std::to_string(runs_)));
}

}  // namespace latchkey::test
