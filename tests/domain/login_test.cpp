#include <boost/test/unit_test.hpp>

#include "tests/domain/world.h"

using namespace latchkey;
using namespace latchkey::domain;
using namespace latchkey::keys;
using latchkey::test::World;

BOOST_AUTO_TEST_SUITE(login)

BOOST_AUTO_TEST_CASE(a_valid_key_gets_a_token_with_the_settings_lifetime) {
  World w;
  const auto id = w.user("Ann", {"auditor"});
  const auto k = w.key(id);
  auto d = w.login(k);
  BOOST_REQUIRE(d.outcome == LoginOutcome::issued);
  BOOST_TEST(d.claims->principal_id == id);
  BOOST_TEST(d.claims->apikey == k.apikey);
  BOOST_TEST(d.claims->iat == w.now / kMicrosPerSecond);
  BOOST_TEST(d.claims->exp == d.claims->iat + 3600);
  BOOST_TEST(d.claims->roles == std::vector<std::string>{"auditor"});
  // last_used_at is derived from token.issued.
  BOOST_TEST(w.views.keys.find(k.apikey)->last_used_at == w.now);
  w.ok(ChangeSettings{{{"token_lifetime_seconds", 120}}});
  auto d2 = w.login(k);
  BOOST_TEST(d2.claims->exp - d2.claims->iat == 120);
}

BOOST_AUTO_TEST_CASE(expiry_boundary_to_the_microsecond) {
  World w;
  const auto id = w.user();
  auto cmd = w.key_command(id);
  const std::string secret = new_secretkey();
  cmd.secret_hash = w.pepper.hash(secret);
  cmd.expires_at = w.now + 10 * kMicrosPerSecond;
  w.ok(cmd);
  const World::Key k{cmd.apikey, secret};
  const Micros expires = *cmd.expires_at;
  w.now = expires - 1;  // one microsecond before: still valid
  BOOST_TEST(w.login(k).outcome == LoginOutcome::issued);
  w.now = expires;  // expires exactly now: refused
  auto d = w.login(k);
  BOOST_TEST(d.outcome == LoginOutcome::refused);
  BOOST_TEST(d.reason == "expired");
  w.now = expires + 1;
  BOOST_TEST(w.login(k).reason == "expired");
  BOOST_TEST(static_cast<int>(w.views.keys.find(k.apikey)->status(expires - 1)) ==
             static_cast<int>(projections::KeyStatus::active));
  BOOST_TEST(static_cast<int>(w.views.keys.find(k.apikey)->status(expires)) ==
             static_cast<int>(projections::KeyStatus::expired));
}

BOOST_AUTO_TEST_CASE(every_failure_has_its_true_reason_and_one_outcome) {
  World w;
  w.user("Admin", {"admin"});
  const auto id = w.user();
  const auto k = w.key(id);
  // The same secret with its last checksum digit changed (never to itself).
  std::string bad_checksum = k.secret;
  bad_checksum.back() = bad_checksum.back() == '0' ? '1' : '0';
  struct Case {
    const char* what;
    World::Key key;
    std::optional<std::string> secret;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"wrong secret", k, new_secretkey(), "wrong_secret"},
      {"unknown key", World::Key{new_apikey(), k.secret}, std::nullopt, "unknown_key"},
      {"malformed apikey", World::Key{"not-a-key", k.secret}, std::nullopt, "malformed"},
      {"secret with a bad checksum", k, bad_checksum, "malformed"},
      {"empty secret", k, std::string(), "malformed"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      auto d = w.login(c.key, "198.51.100." + std::to_string(&c - cases.data()), c.secret);
      BOOST_TEST(d.outcome == LoginOutcome::refused);
      BOOST_TEST(d.reason == c.reason);
      BOOST_TEST(!d.claims.has_value());
    }
  }
  // The recorded event keeps the reason.
  World w2;
  const auto id2 = w2.user();
  const auto k2 = w2.key(id2);
  LoginAttempt a;
  a.apikey = k2.apikey;
  a.presented_hash = w2.pepper.hash(new_secretkey());
  a.source_ip = "192.0.2.9";
  auto d = w2.decide(a);
  BOOST_REQUIRE(d.events.size() == 1u);
  const auto& failed = std::get<events::LoginFailed>(d.events.front().data);
  BOOST_TEST(failed.reason == "wrong_secret");
  BOOST_TEST(failed.apikey == k2.apikey);
  BOOST_TEST(failed.principal_id == id2);
  BOOST_TEST(failed.attempts == 1u);
}

BOOST_AUTO_TEST_CASE(failed_logins_lock_the_key_and_the_address) {
  World w;
  const auto id = w.user();
  const auto k = w.key(id);
  const std::string wrong = new_secretkey();
  // lockout_threshold is 5 per key: the fifth failure locks the key.
  std::size_t locks = 0;
  for (int i = 0; i < 5; ++i) {
    auto d = w.decide([&] {
      LoginAttempt a;
      a.apikey = k.apikey;
      a.presented_hash = w.pepper.hash(wrong);
      a.jti = new_jti();
      a.source_ip = "192.0.2." + std::to_string(i);  // different addresses: the key's count decides
      return a;
    }());
    for (const auto& e : d.events) locks += e.type == events::EventType::login_locked;
    w.commit(std::move(d.events));
  }
  BOOST_TEST(locks == 1u);
  // Locked: even the right secret gets 429 with a Retry-After.
  auto locked = w.login(k, "203.0.113.1");
  BOOST_TEST(locked.outcome == LoginOutcome::locked);
  BOOST_TEST(locked.retry_after_seconds == 900);
  w.now += 899 * kMicrosPerSecond;
  BOOST_TEST(w.login(k, "203.0.113.1").retry_after_seconds == 1);
  w.now += kMicrosPerSecond;  // the lock ends
  BOOST_TEST(w.login(k, "203.0.113.1").outcome == LoginOutcome::issued);
}

BOOST_AUTO_TEST_CASE(a_flood_from_one_address_leaves_few_events_and_other_keys_work) {
  World w;
  const auto id = w.user();
  const auto good = w.key(id);
  w.ok(ChangeSettings{{{"lockout_source_threshold", 1000000}, {"lockout_threshold", 1000}}});
  std::size_t events = 0;
  std::uint64_t attempts_recorded = 0;
  const int kAttempts = 100000;
  for (int i = 0; i < kAttempts; ++i) {
    LoginAttempt a;
    a.apikey = new_apikey();  // a different random key each time
    a.presented_hash = w.pepper.hash("x");
    a.well_formed = false;
    a.source_ip = "198.51.100.66";
    auto d = w.decide(a);
    for (const auto& e : d.events) {
      ++events;
      if (const auto* f = std::get_if<events::LoginFailed>(&e.data))
        attempts_recorded += f->attempts;
    }
  }
  // Recorded: the first ten, then the 2^k-th, whatever the thresholds.
  BOOST_TEST_MESSAGE("events for " << kAttempts << " failures: " << events);
  BOOST_TEST(events <= 10u + 17u);
  BOOST_TEST(attempts_recorded <= static_cast<std::uint64_t>(kAttempts));
  BOOST_TEST(attempts_recorded >=
             65536u);  // the events account for the attempts, not just themselves
  BOOST_TEST(w.throttle.tracked() == 1u);  // the address; made-up keys are not counted
  // A legitimate key from another address still logs in.
  BOOST_TEST(w.login(good, "192.0.2.200").outcome == LoginOutcome::issued);
}

BOOST_AUTO_TEST_CASE(the_address_lock_refuses_every_key_from_it) {
  World w;
  w.ok(ChangeSettings{{{"lockout_source_threshold", 3}}});
  const auto id = w.user();
  const auto good = w.key(id);
  for (int i = 0; i < 3; ++i) {
    World::Key bogus{new_apikey(), new_secretkey()};
    w.login(bogus, "198.51.100.7");
  }
  BOOST_TEST(w.views.lockouts.locked_until(events::LockScope::source, "198.51.100.7", w.now) >
             w.now);
  BOOST_TEST(w.login(good, "198.51.100.7").outcome == LoginOutcome::locked);
  BOOST_TEST(w.login(good, "198.51.100.8").outcome == LoginOutcome::issued);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(deciding_changes_nothing_until_the_writer_applies_it) {
  World w;
  w.ok(ChangeSettings{{{"lockout_threshold", 2}}});
  const auto id = w.user();
  const auto k = w.key(id);
  LoginAttempt a;
  a.apikey = k.apikey;
  a.presented_hash = w.pepper.hash(new_secretkey());
  a.source_ip = "192.0.2.50";
  // decide_login is pure: the same attempt twice gives the same first failure.
  const auto first = decide_login(w.views, w.throttle, a, w.now);
  const auto again = decide_login(w.views, w.throttle, a, w.now);
  BOOST_TEST(w.throttle.tracked() == 0u);
  BOOST_TEST_REQUIRE(first.events.size() == 1u);
  BOOST_TEST(std::get<events::LoginFailed>(again.events.front().data).attempts == 1u);
  BOOST_TEST(!first.throttle.empty());
  // Applied, the next failure is the second, and locks the key (threshold 2).
  auto undo = w.throttle.apply(first.throttle, w.now, w.views.settings);
  BOOST_TEST(w.throttle.tracked() == 2u);  // the key and the address
  const auto second = decide_login(w.views, w.throttle, a, w.now);
  bool locks = false;
  for (const auto& e : second.events) locks = locks || e.type == events::EventType::login_locked;
  BOOST_TEST(locks);
  // Undone (the group's append failed), it is the first failure again.
  w.throttle.undo(undo);
  BOOST_TEST(w.throttle.tracked() == 0u);
  const auto after_undo = decide_login(w.views, w.throttle, a, w.now);
  for (const auto& e : after_undo.events) BOOST_TEST((e.type != events::EventType::login_locked));
}
