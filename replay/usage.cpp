#include "replay/usage.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace latchkey::replay {

namespace {

using events::EventType;

struct KeyLife {
  Micros expires_at = 0;
  bool enabled = true;
  bool gone = false;  // deleted, or its principal deleted
};

}  // namespace

std::optional<UsagePeriod> parse_usage_period(std::string_view text) {
  if (text == "day") return UsagePeriod::day;
  if (text == "month") return UsagePeriod::month;
  return std::nullopt;
}

const char* usage_period_name(UsagePeriod p) noexcept {
  return p == UsagePeriod::day ? "day" : "month";
}

Result<Usage> usage(const events::EventLog& log, UsagePeriod period, Micros now) {
  Usage u;
  u.period = period;
  u.bucket_micros = period == UsagePeriod::day ? 3600 * kMicrosPerSecond : kMicrosPerDay;
  const std::size_t n = period == UsagePeriod::day ? 24 : 30;
  const Micros last = now - now % u.bucket_micros;
  const Micros first = last - static_cast<Micros>(n - 1) * u.bucket_micros;
  u.buckets.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    u.buckets[i].start = first + static_cast<Micros>(i) * u.bucket_micros;

  auto from = log.seq_at_time(first - 1);
  if (!from) return from.error();
  auto count = [&](EventType type, std::uint64_t UsageBucket::*field) -> Status {
    return log.scan_index(events::Index::type, events::type_name(type), *from + 1,
                          events::Direction::forward, [&](const events::IndexEntry& e) {
                            if (e.time < first) return true;
                            const auto i =
                                static_cast<std::size_t>((e.time - first) / u.bucket_micros);
                            if (i >= n) return false;
                            ++(u.buckets[i].*field);
                            return true;
                          });
  };
  if (auto st = count(EventType::token_issued, &UsageBucket::logins); !st) return st.error();
  if (auto st = count(EventType::login_failed, &UsageBucket::failed_logins); !st) return st.error();

  // Every change of a key's life, in log order.
  std::vector<events::Seq> seqs;
  for (EventType t :
       {EventType::key_created, EventType::key_disabled, EventType::key_enabled,
        EventType::key_deleted, EventType::user_deleted, EventType::service_account_deleted}) {
    auto st = log.scan_index(events::Index::type, events::type_name(t), 0,
                             events::Direction::forward, [&](const events::IndexEntry& e) {
                               if (e.time > now) return false;
                               seqs.push_back(e.seq);
                               return true;
                             });
    if (!st) return st.error();
  }
  std::sort(seqs.begin(), seqs.end());
  std::unordered_map<std::string, KeyLife> keys;
  auto active_at = [&](Micros t) {
    std::uint64_t c = 0;
    for (const auto& [id, k] : keys)
      c += k.enabled && !k.gone && (k.expires_at == 0 || k.expires_at > t);
    return c;
  };
  std::size_t next_bucket = 0;
  auto close_buckets_before = [&](Micros t) {
    // A bucket ends at its start + length (or at now for the last one).
    while (next_bucket < n) {
      const Micros end = std::min(u.buckets[next_bucket].start + u.bucket_micros, now);
      if (end >= t) break;  // the state at `end` includes the events at `end`
      u.buckets[next_bucket++].active_keys = active_at(end);
    }
  };
  for (const events::Seq s : seqs) {
    auto e = log.get(s);
    if (!e) return e.error();
    close_buckets_before(e->time);
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, events::KeyCreated>) {
            keys[d.apikey] = KeyLife{d.expires_at, true, false};
          } else if constexpr (std::is_same_v<T, events::KeyChanged>) {
            auto it = keys.find(d.apikey);
            if (it == keys.end()) return;
            if (e->type == EventType::key_disabled) it->second.enabled = false;
            if (e->type == EventType::key_enabled) it->second.enabled = true;
            if (e->type == EventType::key_deleted) it->second.gone = true;
          } else if constexpr (std::is_same_v<T, events::PrincipalDeleted>) {
            for (const auto& k : d.keys_deactivated) {
              if (auto it = keys.find(k); it != keys.end()) it->second.gone = true;
            }
          }
        },
        e->data);
  }
  while (next_bucket < n) {
    const Micros end = std::min(u.buckets[next_bucket].start + u.bucket_micros, now);
    u.buckets[next_bucket++].active_keys = active_at(end);
  }
  return u;
}

void add_usage(Usage& into, const Usage& from) {
  if (into.buckets.empty()) {
    into = from;
    return;
  }
  const std::size_t n = std::min(into.buckets.size(), from.buckets.size());
  for (std::size_t i = 0; i < n; ++i) {
    into.buckets[i].logins += from.buckets[i].logins;
    into.buckets[i].failed_logins += from.buckets[i].failed_logins;
    into.buckets[i].active_keys += from.buckets[i].active_keys;
  }
}

}  // namespace latchkey::replay
