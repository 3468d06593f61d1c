#include "http/project_rates.h"

#include <algorithm>

namespace latchkey::http {

std::optional<Micros> ProjectRates::admit(const std::string& project, std::uint64_t per_second,
                                          Micros now) {
  constexpr Micros kBurst = 1'000'000;  // one second's worth of logins at once
  const Micros interval = std::max<Micros>(1, static_cast<Micros>(1'000'000 / per_second));
  std::lock_guard lock(mu_);
  Micros& tat = tat_[project];
  const Micros next = std::max(tat, now) + interval;
  if (next - now > kBurst + interval / 2) return next - now - kBurst;
  tat = next;
  return std::nullopt;
}

}  // namespace latchkey::http
