#include "domain/throttle.h"

#include <algorithm>
#include <bit>

namespace latchkey::domain {

bool LoginThrottle::worth_recording(std::uint64_t failures) {
  return failures <= kAlwaysRecorded || std::has_single_bit(failures);
}

LoginThrottle::Verdict LoginThrottle::assess_failure(const std::string& apikey,
                                                     const std::string& source, Micros now,
                                                     const projections::Settings& s) const {
  const Micros window = s.lockout_window_seconds * kMicrosPerSecond;
  auto current = [&](const std::unordered_map<std::string, Counter>& t, const std::string& k) {
    const auto it = t.find(k);
    Counter c = it == t.end() ? Counter{} : it->second;
    if (now - c.window_start >= window) {
      c.window_start = now;
      c.failures = 0;
    }
    ++c.failures;
    ++c.unreported;
    return c;
  };
  // Over the threshold and not locked (the first time, or a lock that ended
  // inside the window): lock, once per lock.
  auto lock = [&](Counter& c, std::int64_t threshold) -> std::optional<Micros> {
    if (c.failures < static_cast<std::uint64_t>(threshold) || now < c.locked_until) return {};
    c.locked_until = now + s.lockout_duration_seconds * kMicrosPerSecond;
    return c.locked_until;
  };
  Verdict v;
  Counter src = current(sources_, source);
  v.source_failures = src.failures;
  bool record = worth_recording(src.failures);
  v.lock_source_until = lock(src, s.lockout_source_threshold);
  std::optional<Counter> key;
  if (!apikey.empty()) {
    key = current(apikeys_, apikey);
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
  v.change.updates.push_back({true, source, src});
  if (key) v.change.updates.push_back({false, apikey, *key});
  return v;
}

LoginThrottle::Change LoginThrottle::assess_success(const std::string& apikey) const {
  Change c;
  if (apikeys_.count(apikey)) c.updates.push_back({false, apikey, std::nullopt});
  return c;
}

LoginThrottle::RateVerdict LoginThrottle::assess_rate(const std::string& apikey,
                                                      std::uint64_t per_minute, Micros now) const {
  constexpr Micros kMinute = 60 * kMicrosPerSecond;
  const Micros interval = std::max<Micros>(1, kMinute / static_cast<Micros>(per_minute));
  const Micros tolerance = kMinute - interval;  // the burst: `per_minute` at once
  const auto it = rates_.find(apikey);
  Rate r = it == rates_.end() ? Rate{} : it->second;
  const Micros tat = std::max(r.tat, now);
  RateVerdict v;
  if (tat - now <= tolerance) {
    r.tat = tat + interval;
    v.change = std::pair{apikey, r};
    return v;
  }
  v.allowed = false;
  const Micros wait = tat - tolerance - now;
  v.retry_after_seconds = static_cast<int>((wait + kMicrosPerSecond - 1) / kMicrosPerSecond);
  ++r.unreported;
  if (now >= r.reported_until) {
    v.record = true;
    v.attempts = r.unreported;
    r.unreported = 0;
    r.reported_until = now + kMinute;
  }
  v.change = std::pair{apikey, r};
  return v;
}

Micros LoginThrottle::locked_until(const std::string& apikey, const std::string& source,
                                   Micros now) const {
  Micros until = 0;
  if (const auto it = sources_.find(source); it != sources_.end())
    until = std::max(until, it->second.locked_until);
  if (const auto it = apikeys_.find(apikey); !apikey.empty() && it != apikeys_.end())
    until = std::max(until, it->second.locked_until);
  return until > now ? until : 0;
}

void LoginThrottle::put(const Change::Update& u) {
  auto& t = table(u.source);
  if (u.counter) {
    t[u.subject] = *u.counter;
  } else {
    t.erase(u.subject);
  }
}

LoginThrottle::Undo LoginThrottle::apply(const Change& change, Micros now,
                                         const projections::Settings& s) {
  Undo undo;
  for (const auto& u : change.updates) {
    const auto& t = table(u.source);
    const auto it = t.find(u.subject);
    undo.previous.push_back(
        {u.source, u.subject, it == t.end() ? std::nullopt : std::optional<Counter>(it->second)});
    put(u);
  }
  if (change.rate) {
    const auto it = rates_.find(change.rate->first);
    undo.rate = std::pair{change.rate->first,
                          it == rates_.end() ? std::nullopt : std::optional<Rate>(it->second)};
    rates_[change.rate->first] = change.rate->second;
  }
  if (!change.empty() && ++since_sweep_ >= 4096) {
    sweep(now, s.lockout_window_seconds * kMicrosPerSecond);
    since_sweep_ = 0;
  }
  return undo;
}

void LoginThrottle::undo(const Undo& u) {
  if (u.rate) {
    if (u.rate->second) {
      rates_[u.rate->first] = *u.rate->second;
    } else {
      rates_.erase(u.rate->first);
    }
  }
  for (auto it = u.previous.rbegin(); it != u.previous.rend(); ++it) put(*it);
}

void LoginThrottle::sweep(Micros now, Micros window) {
  // Counts of a window long past are dropped, with any unreported remainder.
  auto stale = [&](const auto& kv) {
    return now - kv.second.window_start >= window && kv.second.locked_until <= now;
  };
  std::erase_if(apikeys_, stale);
  std::erase_if(sources_, stale);
  // A key's rate state is spent once its next login is due and no report waits.
  std::erase_if(rates_, [&](const auto& kv) {
    return kv.second.tat <= now && kv.second.reported_until <= now && kv.second.unreported == 0;
  });
}

}  // namespace latchkey::domain
