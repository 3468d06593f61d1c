#pragma once
// Brute-force protection state: failed logins counted per apikey and per
// source address in fixed windows (settings: lockout_window_seconds,
// lockout_threshold, lockout_source_threshold, lockout_duration_seconds).
//
// Not every failure becomes an event: per window, a subject's first
// kAlwaysRecorded failures are each recorded, then only the 2^k-th ones, each
// event saying how many attempts it stands for. A million failures from one
// address thus leave about thirty events, whatever the lockout thresholds,
// never a full disk. Counts per apikey are kept only for keys that exist, so
// a flood of made-up apikeys cannot grow memory either.
//
// The rules only read a throttle (assess_failure, assess_success and
// locked_until are const): what a login changes is a Change, returned with the
// login's decision and applied by the writer with the login's group. Not
// thread-safe: one writer owns it. In memory only: locks themselves are
// events (login.locked) and survive a restart; counts don't.

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "projections/views.h"

namespace latchkey::domain {

class LoginThrottle {
 public:
  struct Counter {
    Micros window_start = 0;
    std::uint64_t failures = 0;    // in the current window
    std::uint64_t unreported = 0;  // failures not yet covered by an event
    Micros locked_until = 0;       // end of the last lock decided for this subject
    bool operator==(const Counter&) const = default;
  };

  // A key's rate_per_minute, as a generic cell rate algorithm: a key may
  // log in `rate` times at once, then once every 60 s / rate.
  struct Rate {
    Micros tat = 0;                // theoretical arrival time of the next login
    Micros reported_until = 0;     // no rate_limited event before then
    std::uint64_t unreported = 0;  // refusals not yet covered by an event
    bool operator==(const Rate&) const = default;
  };

  // The new state of each subject a login touched. Empty: nothing changes.
  struct Change {
    struct Update {
      bool source = false;  // the address table, else the apikey table
      std::string subject;
      std::optional<Counter> counter;  // nullopt: forget the subject
    };
    std::vector<Update> updates;
    std::optional<std::pair<std::string, Rate>> rate;  // an apikey's new rate state
    [[nodiscard]] bool empty() const { return updates.empty() && !rate; }
  };

  struct RateVerdict {
    bool allowed = true;
    int retry_after_seconds = 0;  // when refused
    bool record = false;          // when refused: append a login.failed (rate_limited)
    std::uint64_t attempts = 0;   // the refusals that event stands for
    std::optional<std::pair<std::string, Rate>> change;
  };

  struct Verdict {
    bool record = false;         // append a login.failed event
    std::uint64_t attempts = 0;  // failures that event stands for
    std::optional<Micros> lock_apikey_until;
    std::optional<Micros> lock_source_until;
    std::uint64_t apikey_failures = 0;
    std::uint64_t source_failures = 0;
    Change change;  // what this failure does to the counts
  };

  // What was there before a Change, to undo it if its group is not committed.
  struct Undo {
    std::vector<Change::Update> previous;
    std::optional<std::pair<std::string, std::optional<Rate>>> rate;
  };

  static constexpr std::uint64_t kAlwaysRecorded = 10;

  // One failed attempt, against the current counts. `apikey` is the key tried
  // if it exists, else empty.
  [[nodiscard]] Verdict assess_failure(const std::string& apikey, const std::string& source,
                                       Micros now, const projections::Settings& s) const;
  // A successful login clears the apikey's count (not the address's).
  [[nodiscard]] Change assess_success(const std::string& apikey) const;
  // A login with the right secret for a key limited to `per_minute` logins
  // a minute (not 0). At most one rate_limited event a minute per key.
  [[nodiscard]] RateVerdict assess_rate(const std::string& apikey, std::uint64_t per_minute,
                                        Micros now) const;
  // The end of a lock this throttle decided on `apikey` or `source` that is
  // still running at `now` (0 if none). Its login.locked event may not be
  // committed yet (it shares a group with the attempts after it), so the
  // rules check this as well as the views' locks.
  [[nodiscard]] Micros locked_until(const std::string& apikey, const std::string& source,
                                    Micros now) const;

  // Applies a change; returns what it replaced. Also drops, now and then,
  // counts whose window is long past (memory stays bounded under a flood of
  // random addresses; dropping them changes no decision).
  Undo apply(const Change& change, Micros now, const projections::Settings& s);
  // Restores what `apply` replaced. Undo in the reverse order of apply.
  void undo(const Undo& u);

  [[nodiscard]] std::size_t tracked() const {
    return apikeys_.size() + sources_.size() + rates_.size();
  }

 private:
  static bool worth_recording(std::uint64_t failures);
  std::unordered_map<std::string, Counter>& table(bool source) {
    return source ? sources_ : apikeys_;
  }
  void put(const Change::Update& u);
  void sweep(Micros now, Micros window);

  std::unordered_map<std::string, Counter> apikeys_;
  std::unordered_map<std::string, Counter> sources_;
  std::unordered_map<std::string, Rate> rates_;
  std::uint64_t since_sweep_ = 0;
};

}  // namespace latchkey::domain
