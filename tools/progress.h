#pragma once
// A progress bar on stderr for the long offline commands (verify, restore,
// audit over a whole log): done/total, percent, rate and time left, redrawn
// at most ten times a second on one line. Silent when stderr is not a
// terminal or when asked to be (--quiet), so scripts and logs see nothing.

#include <chrono>
#include <cstdint>
#include <string>

namespace latchkey::tools {

class Progress {
 public:
  // `unit` names what is counted ("events"). total 0: unknown (no bar).
  Progress(std::string label, std::uint64_t total, std::string unit, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(std::uint64_t done);
  void set_total(std::uint64_t total) { total_ = total; }
  // Erases the line (also done by the destructor).
  void finish();

  // Whether bars are drawn at all: stderr is a terminal and not quiet.
  static bool shown(bool quiet);

  // The line drawn for these figures (for tests): label, bar, percent,
  // done/total, rate, time left.
  static std::string render(const std::string& label, std::uint64_t done, std::uint64_t total,
                            const std::string& unit, double seconds);

 private:
  std::string label_;
  std::uint64_t total_;
  std::string unit_;
  bool on_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace latchkey::tools
