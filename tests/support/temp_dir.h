#pragma once
// A temporary directory removed with everything in it when the object dies.

#include <string>
#include <vector>

namespace latchkey::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Every file under `dir` whose bytes contain `needle` (for secret scans).
std::vector<std::string> files_containing(const std::string& dir, const std::string& needle);
std::string read_file(const std::string& path);

}  // namespace latchkey::test
