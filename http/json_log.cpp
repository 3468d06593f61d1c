#include "http/json_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/clock.h"

namespace latchkey::http {

JsonLog::JsonLog(const std::string& target) {
  if (target == "off" || target.empty()) return;
  if (target == "stdout") {
    out_ = stdout;
  } else if (target == "stderr") {
    out_ = stderr;
  } else {
    out_ = std::fopen(target.c_str(), "a");
    owns_ = out_ != nullptr;
  }
  if (out_) {
    std::setvbuf(out_, nullptr, _IOFBF, 1 << 16);
    flusher_ = std::thread([this] { run(); });
  }
}

JsonLog::~JsonLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (flusher_.joinable()) flusher_.join();
  if (out_) std::fflush(out_);
  if (owns_) std::fclose(out_);
}

void JsonLog::run() {
  // Into a regular file, the lines are handed to the disk a megabyte at a
  // time. Left to the kernel, they pile up as dirty pages for 30 s and then
  // go out in one burst of tens of megabytes, and the event log's fdatasync,
  // which every group commit waits for, queues behind it.
  constexpr off_t kWritebackBytes = 1 << 20;
  const int fd = ::fileno(out_);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  off_t handed = regular ? ::lseek(fd, 0, SEEK_CUR) : 0;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200));
    std::fflush(out_);
    if (!regular) continue;
    const off_t end = ::lseek(fd, 0, SEEK_CUR);
    if (end < handed) handed = end;  // truncated by a log rotation
    if (end - handed < kWritebackBytes) continue;
    lock.unlock();
    ::sync_file_range(fd, handed, end - handed, SYNC_FILE_RANGE_WRITE);  // starts it, no wait
    lock.lock();
    handed = end;
  }
}

void JsonLog::write(const nlohmann::json& line) {
  if (!out_) return;
  write_text(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void JsonLog::write_text(std::string_view line) {
  if (!out_) return;
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fputc('\n', out_);
}

void JsonLog::append_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (plain) {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
  } else {
    out += nlohmann::json(std::string(s))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void JsonLog::info(const std::string& msg, const nlohmann::json& extra) {
  nlohmann::json j = {
      {"time", format_rfc3339(SystemClock().now())}, {"level", "info"}, {"msg", msg}};
  if (extra.is_object()) j.update(extra);
  write(j);
}

void JsonLog::error(const std::string& msg, const nlohmann::json& extra) {
  nlohmann::json j = {
      {"time", format_rfc3339(SystemClock().now())}, {"level", "error"}, {"msg", msg}};
  if (extra.is_object()) j.update(extra);
  write(j);
}

void JsonLog::flush() {
  if (!out_) return;
  std::lock_guard lock(mu_);
  std::fflush(out_);
}

}  // namespace latchkey::http
