#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace latchkey::tools {

namespace {
// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) / 60 % 60);
  }
  return buf;
}
}  // namespace

Progress::Progress(std::string label, std::uint64_t total, std::string unit, bool quiet)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      on_(shown(quiet)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() { finish(); }

bool Progress::shown(bool quiet) { return !quiet && ::isatty(STDERR_FILENO) == 1; }

std::string Progress::render(const std::string& label, std::uint64_t done, std::uint64_t total,
                             const std::string& unit, double seconds) {
  std::string line = label + " ";
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  if (total > 0) {
    if (done > total) done = total;
    constexpr int kWidth = 24;
    const double frac = static_cast<double>(done) / static_cast<double>(total);
    const int full = static_cast<int>(frac * kWidth);
    line += "[" + std::string(full, '#') + std::string(kWidth - full, '-') + "] ";
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
    line += pct;
    line += "  " + grouped(done) + "/" + grouped(total) + " " + unit;
  } else {
    line += grouped(done) + " " + unit;
  }
  line += "  " + grouped(static_cast<std::uint64_t>(rate)) + "/s";
  if (total > 0 && rate > 0 && done < total) {
    line += "  " + duration(static_cast<double>(total - done) / rate) + " left";
  }
  return line;
}

void Progress::update(std::uint64_t done) {
  if (!on_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const std::string line = render(label_, done, total_, unit_, seconds);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace latchkey::tools
