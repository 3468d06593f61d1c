#pragma once
// One JSON object per line to stdout, stderr or a file; buffered and flushed
// by a background thread, so writing a line never waits for the disk.
// Thread-safe. What is written must never hold a secret, token or body.

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json_fwd.hpp>

namespace latchkey::http {

class JsonLog {
 public:
  // target: "stdout" | "stderr" | "off" | a file path (appended to).
  explicit JsonLog(const std::string& target);
  JsonLog(const JsonLog&) = delete;
  JsonLog& operator=(const JsonLog&) = delete;
  ~JsonLog();

  bool enabled() const { return out_ != nullptr; }
  void write(const nlohmann::json& line);
  // A line the caller built: one JSON object, without the newline.
  void write_text(std::string_view line);
  // Appends `s` to `out` as a JSON string literal (quoted and escaped; invalid
  // UTF-8 replaced), for callers that build lines by hand on hot paths.
  static void append_string(std::string& out, std::string_view s);
  // Convenience for server messages: {"time", "level", "msg", ...extra}.
  void info(const std::string& msg, const nlohmann::json& extra);
  void error(const std::string& msg, const nlohmann::json& extra);
  void flush();

 private:
  void run();
  std::FILE* out_ = nullptr;
  bool owns_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace latchkey::http
