#pragma once
// Each project's login rate (login_rate_per_second, set by the platform):
// a generic cell rate algorithm per project, with a burst of one second's
// worth, so one project flooding logins cannot take the writer from the
// others. In memory: a restart forgets where each project stood, which only
// ever lets a burst through. Thread-safe.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/clock.h"

namespace latchkey::http {

class ProjectRates {
 public:
  // Admits one login of `project` at `now` under `per_second` (> 0): nullopt
  // when admitted, else how long until one would be (microseconds).
  [[nodiscard]] std::optional<Micros> admit(const std::string& project, std::uint64_t per_second,
                                            Micros now);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, Micros> tat_;  // GUARDED_BY(mu_): theoretical arrival times
};

}  // namespace latchkey::http
