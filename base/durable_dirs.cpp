#include "base/durable_dirs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace latchkey {

namespace fs = std::filesystem;

Status sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::unavailable,
                      "cannot open " + dir + " to sync it: " + std::strerror(errno));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return make_error(Errc::unavailable, "cannot sync " + dir + ": " + std::strerror(err));
  return {};
}

Status create_directories_durably(const std::string& dir) {
  // The missing directories, deepest first.
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (p.filename().empty()) p = p.parent_path();  // "a/b/" names "a/b"
    if (fs::exists(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST) {
      return make_error(Errc::unavailable,
                        "cannot create " + it->string() + ": " + std::strerror(errno));
    }
    const fs::path parent = it->parent_path().empty() ? fs::path(".") : it->parent_path();
    if (auto st = sync_dir(parent.string()); !st) return st;
  }
  return {};
}

}  // namespace latchkey
