#pragma once
// Benchmark data: logs of a realistic mix of events, written straight through
// the EventLog API (not through HTTP), and API keys whose secrets a load
// generator can present. Not part of the product.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "domain/credentials.h"
#include "events/event_log.h"
#include "keys/ids.h"

namespace latchkey::bench {

// The mix, after the initial population (80% of the keys): about 94%
// token.issued, 4% login.failed, 1% audit.read, and admin changes sized by
// the population (keys and principals created, renamed, disabled, enabled
// and deleted; settings changed; address lock-outs), plus a signed
// checkpoint every 10,000 events. See datagen.cpp.
// Changes whenever the generator writes a different log for the same options,
// so that a reused directory is regenerated.
constexpr int kGeneratorVersion = 2;

struct GenOptions {
  std::uint64_t events = 1'000'000;      // at least this many events in the log
  std::uint64_t keys = 20'000;           // API keys created in all (80% up front)
  std::uint64_t keys_per_principal = 5;  // at most 10 (max_keys_per_principal)
  std::uint64_t batch = 100;             // events per append (they share one time)
  std::uint64_t snapshot_every = 0;      // 0: no snapshots
  Micros start = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
  Micros span = 30 * kMicrosPerDay;      // the events are spread over this time
  std::uint64_t seed = 1;
  // Called after each append with the head's sequence number.
  std::function<void(events::Seq)> progress;
};

struct GenResult {
  events::Seq head = 0;
  std::uint64_t snapshots = 0;
  std::map<std::string, std::uint64_t> by_type;  // events per type name
};

// Appends the mix to `log` (normally empty, opened with sync off).
// Errors: whatever the log's append or snapshot writes return.
Result<GenResult> generate_log(events::EventLog& log, const GenOptions& options);

struct IssuedKey {
  std::string apikey;
  std::string secretkey;
};

// Creates `principals` users with `keys_per_principal` keys each, active for
// 90 days from `now`, as user.created and key.created events appended to
// `log` (in a data directory made by `latchkey init`, with its pepper).
// With `allowed_cidrs` > 0, each key is limited to that many networks, the
// loopback one last. Returns the keys with their secrets.
Result<std::vector<IssuedKey>> add_login_keys(events::EventLog& log, const keys::Pepper& pepper,
                                              std::uint64_t principals,
                                              std::uint64_t keys_per_principal, Micros now,
                                              std::uint64_t allowed_cidrs = 0);

}  // namespace latchkey::bench
