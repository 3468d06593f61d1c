#pragma once
// Time in latchkey: microseconds since the Unix epoch, UTC. The writer of the
// log reads the clock; rules get the time passed in and never read a clock.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace latchkey {

using Micros = std::int64_t;
constexpr Micros kMicrosPerSecond = 1'000'000;
constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe.
  virtual Micros now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Micros now() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Micros start) : now_(start) {}
  Micros now() const override { return now_.load(); }
  void set(Micros t) { now_.store(t); }
  void advance(Micros d) { now_.fetch_add(d); }

 private:
  std::atomic<Micros> now_;
};

// RFC 3339 in UTC with microseconds, e.g. "2026-11-26T20:39:47.123456Z".
std::string format_rfc3339(Micros t);
// Same, whole seconds ("2026-11-26T20:39:47Z"), for user-facing dates.
std::string format_rfc3339_seconds(Micros t);
// Parses RFC 3339 (fraction optional, 'Z' or a numeric offset). nullopt if malformed.
std::optional<Micros> parse_rfc3339(std::string_view s);

}  // namespace latchkey
