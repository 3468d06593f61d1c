#include "domain/throttle.h"

#include <bit>

namespace latchkey::domain {

bool LoginThrottle::worth_recording(std::uint64_t failures) {
  return failures <= kAlwaysRecorded || std::has_single_bit(failures);
}

LoginThrottle::Verdict LoginThrottle::failure(const std::string& apikey, const std::string& source,
                                              Micros now, const projections::Settings& s) {
  const Micros window = s.lockout_window_seconds * kMicrosPerSecond;
  if (++since_sweep_ >= 4096) {
    sweep(now, window);
    since_sweep_ = 0;
  }
  auto bump = [&](Counter& c) {
    if (now - c.window_start >= window) {
      c.window_start = now;
      c.failures = 0;
    }
    ++c.failures;
    ++c.unreported;
  };
  Verdict v;
  Counter& src = sources_[source];
  bump(src);
  v.source_failures = src.failures;
  bool record = worth_recording(src.failures);
  if (src.failures == static_cast<std::uint64_t>(s.lockout_source_threshold)) {
    v.lock_source_until = now + s.lockout_duration_seconds * kMicrosPerSecond;
  }
  if (!apikey.empty()) {
    Counter& key = apikeys_[apikey];
    bump(key);
    v.apikey_failures = key.failures;
    record = record && worth_recording(key.failures);
    if (key.failures == static_cast<std::uint64_t>(s.lockout_threshold)) {
      v.lock_apikey_until = now + s.lockout_duration_seconds * kMicrosPerSecond;
    }
  }
  if (record) {
    v.record = true;
    v.attempts = src.unreported;
    src.unreported = 0;
  }
  return v;
}

void LoginThrottle::success(const std::string& apikey) { apikeys_.erase(apikey); }

void LoginThrottle::sweep(Micros now, Micros window) {
  // Counts of a window long past are dropped, with any unreported remainder:
  // memory stays bounded under a flood of random addresses.
  auto stale = [&](const auto& kv) { return now - kv.second.window_start >= window; };
  std::erase_if(apikeys_, stale);
  std::erase_if(sources_, stale);
}

}  // namespace latchkey::domain
