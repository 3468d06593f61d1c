#include "base/clock.h"

#include <cctype>
#include <chrono>
#include <cstdio>

namespace latchkey {
namespace {

namespace chr = std::chrono;

std::string format(Micros t, bool fraction) {
  const chr::sys_time<chr::microseconds> tp{chr::microseconds(t)};
  const auto day = chr::floor<chr::days>(tp);
  const chr::year_month_day ymd{day};
  const chr::hh_mm_ss<chr::microseconds> time{tp - day};
  char buf[64];
  const int n = std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", int(ymd.year()), unsigned(ymd.month()),
      unsigned(ymd.day()), static_cast<int>(time.hours().count()),
      static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
  std::string out(buf, static_cast<std::size_t>(n));
  if (fraction) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(time.subseconds().count()));
    out += buf;
  }
  out.push_back('Z');
  return out;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_rfc3339(Micros t) { return format(t, true); }
std::string format_rfc3339_seconds(Micros t) { return format(t, false); }

std::optional<Micros> parse_rfc3339(std::string_view s) {
  int year, mon, day, hh, mm, ss;
  if (s.size() < 20) return std::nullopt;
  if (!digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, mon) || s[7] != '-' ||
      !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(s, 11, 2, hh) || s[13] != ':' || !digits(s, 14, 2, mm) || s[16] != ':' ||
      !digits(s, 17, 2, ss))
    return std::nullopt;
  const chr::year_month_day date{chr::year(year), chr::month(static_cast<unsigned>(mon)),
                                 chr::day(static_cast<unsigned>(day))};
  if (!date.ok() || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::size_t pos = 19;
  Micros frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    Micros scale = 100000;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (n < 6) {
        frac += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
  }
  if (pos >= s.size()) return std::nullopt;
  std::int64_t offset = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    const int sign = s[pos] == '-' ? -1 : 1;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = sign * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days = chr::sys_days(date).time_since_epoch().count();
  const std::int64_t secs = days * 86400 + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss) - offset;
  return secs * kMicrosPerSecond + frac;
}

}  // namespace latchkey
