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
  // Over the threshold and not locked (the first time, or a lock that ended
  // inside the window): lock, once per lock.
  auto lock = [&](Counter& c, std::int64_t threshold) -> std::optional<Micros> {
    if (c.failures < static_cast<std::uint64_t>(threshold) || now < c.locked_until) return {};
    c.locked_until = now + s.lockout_duration_seconds * kMicrosPerSecond;
    return c.locked_until;
  };
  v.lock_source_until = lock(src, s.lockout_source_threshold);
  Counter* key = nullptr;
  if (!apikey.empty()) {
    key = &apikeys_[apikey];
    bump(*key);
    v.apikey_failures = key->failures;
    record = record && worth_recording(key->failures);
    v.lock_apikey_until = lock(*key, s.lockout_threshold);
  }
  if (record) {
    // The event stands for the failures of both subjects since their last event.
    v.record = true;
    v.attempts = std::max(src.unreported, key ? key->unreported : 0);
    src.unreported = 0;
    if (key) key->unreported = 0;
  }
  return v;
}

void LoginThrottle::success(const std::string& apikey) { apikeys_.erase(apikey); }

Micros LoginThrottle::locked_until(const std::string& apikey, const std::string& source,
                                   Micros now) const {
  Micros until = 0;
  if (const auto it = sources_.find(source); it != sources_.end())
    until = std::max(until, it->second.locked_until);
  if (const auto it = apikeys_.find(apikey); !apikey.empty() && it != apikeys_.end())
    until = std::max(until, it->second.locked_until);
  return until > now ? until : 0;
}

void LoginThrottle::sweep(Micros now, Micros window) {
  // Counts of a window long past are dropped, with any unreported remainder:
  // memory stays bounded under a flood of random addresses.
  auto stale = [&](const auto& kv) {
    return now - kv.second.window_start >= window && kv.second.locked_until <= now;
  };
  std::erase_if(apikeys_, stale);
  std::erase_if(sources_, stale);
}

}  // namespace latchkey::domain
