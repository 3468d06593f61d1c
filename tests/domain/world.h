#pragma once
// Views built by running commands through the pure rules, with the time set
// by hand: decide, stamp the events as the log would, apply.

#include <boost/test/unit_test.hpp>
#include <ostream>

#include "domain/credentials.h"
#include "domain/decide.h"
#include "keys/ids.h"
#include "projections/views.h"

namespace latchkey::domain {
// For Boost.Test's messages.
inline std::ostream& operator<<(std::ostream& os, LoginOutcome o) {
  return os << (o == LoginOutcome::issued    ? "issued"
                : o == LoginOutcome::refused ? "refused"
                : o == LoginOutcome::locked  ? "locked"
                                             : "rate_limited");
}
}  // namespace latchkey::domain

namespace latchkey::test {

constexpr Micros kT0 = 1'800'000'000LL * kMicrosPerSecond;  // 2027-01-15

struct World {
  projections::Views views;
  domain::LoginThrottle throttle;
  Micros now = kT0;
  keys::Pepper pepper{std::string(32, 'p')};

  std::vector<events::Event> commit(std::vector<events::Draft> drafts) {
    std::vector<events::Event> out;
    for (auto& d : drafts) {
      events::Event e;
      e.seq = views.seq + 1;
      e.time = now;
      e.type = d.type;
      e.data = std::move(d.data);
      e.context = d.context;
      projections::apply(views, e);
      out.push_back(std::move(e));
    }
    return out;
  }

  Result<std::vector<events::Event>> run(const domain::Command& c) {
    auto drafts = domain::decide(views, c, now);
    if (!drafts) return drafts.error();
    return commit(std::move(*drafts));
  }

  std::vector<events::Event> ok(const domain::Command& c) {
    auto r = run(c);
    BOOST_REQUIRE_MESSAGE(r.has_value(), "command refused: " << (r ? "" : r.error().message));
    return *r;
  }

  std::string user(const std::string& name = "Ann", std::vector<std::string> roles = {}) {
    domain::CreatePrincipal c{projections::PrincipalKind::user, keys::new_user_id(), name,
                              "ann@example.com", std::move(roles)};
    ok(c);
    return c.id;
  }

  std::string service_account(const std::string& email = "", std::vector<std::string> roles = {}) {
    domain::CreatePrincipal c{projections::PrincipalKind::service_account,
                              keys::new_service_account_id(), "ci", email, std::move(roles)};
    ok(c);
    return c.id;
  }

  struct Key {
    std::string apikey;
    std::string secret;
  };

  domain::CreateKey key_command(const std::string& principal) {
    domain::CreateKey c;
    c.principal_id = principal;
    c.apikey = keys::new_apikey();
    return c;
  }

  Key key(const std::string& principal, std::optional<std::int64_t> days = std::nullopt) {
    Key k{keys::new_apikey(), keys::new_secretkey()};
    domain::CreateKey c;
    c.principal_id = principal;
    c.apikey = k.apikey;
    c.secret_hash = pepper.hash(k.secret);
    c.lifetime_days = days;
    ok(c);
    return k;
  }

  domain::LoginDecision login(const Key& k, const std::string& ip = "192.0.2.1",
                              std::optional<std::string> secret = std::nullopt) {
    domain::LoginAttempt a;
    a.apikey = k.apikey;
    const std::string s = secret.value_or(k.secret);
    a.presented_hash = pepper.hash(s);
    a.well_formed = domain::is_apikey(k.apikey) && domain::is_secretkey(s);
    a.jti = keys::new_jti();
    a.kid = "kid";
    a.source_ip = ip;
    auto d = decide(a);
    commit(d.events);  // a copy: the caller may look at the decision's events
    return d;
  }

  // decide_login, then what the writer does with the decision's throttle
  // change when the login's group commits.
  domain::LoginDecision decide(const domain::LoginAttempt& a) {
    auto d = domain::decide_login(views, throttle, a, now);
    (void)throttle.apply(d.throttle, now, views.settings);
    return d;
  }
};

}  // namespace latchkey::test
