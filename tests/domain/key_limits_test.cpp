// Keys that carry their own limits: allowed networks, a subset of the owner's
// roles, a login rate.
#include <boost/test/unit_test.hpp>

#include "tests/domain/world.h"

using namespace latchkey;
using namespace latchkey::domain;
using latchkey::test::World;

namespace {

World::Key limited_key(World& w, const std::string& owner, std::vector<std::string> cidrs,
                       std::vector<std::string> roles = {}, std::int64_t rate = 0) {
  World::Key k{keys::new_apikey(), keys::new_secretkey()};
  CreateKey c;
  c.principal_id = owner;
  c.apikey = k.apikey;
  c.secret_hash = w.pepper.hash(k.secret);
  c.allowed_cidrs = std::move(cidrs);
  c.roles = std::move(roles);
  c.rate_per_minute = rate;
  w.ok(c);
  return k;
}

std::string refusal(const Result<std::vector<events::Event>>& r) {
  return r ? std::string("accepted") : r.error().message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(key_limits)

BOOST_AUTO_TEST_CASE(limits_are_normalised_and_stored_on_the_key) {
  World w;
  const auto id = w.user("Ann", {"admin", "auditor"});
  const auto k = limited_key(w, id, {"10.1.2.3/8", "192.0.2.7", "2001:DB8::/32", "10.0.0.0/8"},
                             {"auditor"}, 30);
  const auto* key = w.views.keys.find(k.apikey);
  BOOST_TEST(key->allowed_cidrs ==
                 (std::vector<std::string>{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}),
             boost::test_tools::per_element());
  BOOST_TEST(key->roles == std::vector<std::string>{"auditor"}, boost::test_tools::per_element());
  BOOST_TEST(key->rate_per_minute == 30u);
  // A snapshot carries them.
  auto restored = projections::restore(projections::snapshot(w.views));
  BOOST_TEST_REQUIRE(restored.has_value());
  BOOST_TEST(restored->keys.find(k.apikey)->allowed_cidrs == key->allowed_cidrs,
             boost::test_tools::per_element());
  BOOST_TEST(restored->keys.find(k.apikey)->allows_source("10.9.9.9"));
  BOOST_TEST(!restored->keys.find(k.apikey)->allows_source("11.0.0.1"));
}

BOOST_AUTO_TEST_CASE(bad_limits_are_refused_and_change_nothing) {
  World w;
  const auto id = w.user("Ann", {"auditor"});
  const auto before = w.views.keys.size();
  auto cmd = [&](std::vector<std::string> cidrs, std::vector<std::string> roles,
                 std::int64_t rate) {
    CreateKey c = w.key_command(id);
    c.allowed_cidrs = std::move(cidrs);
    c.roles = std::move(roles);
    c.rate_per_minute = rate;
    return c;
  };
  BOOST_TEST(refusal(w.run(cmd({"10.0.0.0/8", "10.0.0.300/8"}, {}, 0))).find("allowed_cidrs[1]") !=
             std::string::npos);
  std::vector<std::string> many;
  for (int i = 0; i < 51; ++i) many.push_back("10.0." + std::to_string(i) + ".0/24");
  BOOST_TEST(refusal(w.run(cmd(many, {}, 0))) == "allowed_cidrs holds 51 networks; at most 50");
  many.pop_back();
  BOOST_TEST(refusal(w.run(cmd(many, {}, 0))) == "accepted");  // 50 is the limit
  BOOST_TEST(refusal(w.run(cmd({}, {"admin"}, 0))) ==
             "roles: the owner does not hold the role admin");
  BOOST_TEST(refusal(w.run(cmd({}, {"Not A Role"}, 0))) != "accepted");
  BOOST_TEST(refusal(w.run(cmd({}, {}, -1))) == "rate_per_minute must be between 0 and 100000");
  BOOST_TEST(refusal(w.run(cmd({}, {}, 100'001))) ==
             "rate_per_minute must be between 0 and 100000");
  BOOST_TEST(w.views.keys.size() == before + 1);  // only the one with 50 networks
}

BOOST_AUTO_TEST_CASE(updates_record_old_and_new_values_of_what_changed) {
  World w;
  const auto id = w.user("Ann", {"admin", "auditor"});
  const auto k = limited_key(w, id, {"10.0.0.0/8"});
  auto events = w.ok(UpdateKey{std::nullopt, id, k.apikey, std::nullopt,
                               std::vector<std::string>{"192.0.2.0/24"},
                               std::vector<std::string>{"auditor"}, 5});
  BOOST_TEST_REQUIRE(events.size() == 1u);
  BOOST_TEST(static_cast<int>(events[0].type) == static_cast<int>(events::EventType::key_updated));
  const auto& u = std::get<events::KeyUpdated>(events[0].data);
  BOOST_TEST(*u.old_allowed_cidrs == std::vector<std::string>{"10.0.0.0/8"},
             boost::test_tools::per_element());
  BOOST_TEST(*u.allowed_cidrs == std::vector<std::string>{"192.0.2.0/24"},
             boost::test_tools::per_element());
  BOOST_TEST(u.old_roles->empty());
  BOOST_TEST(*u.old_rate_per_minute == 0u);
  BOOST_TEST(*u.rate_per_minute == 5u);
  BOOST_TEST(!u.description.has_value());
  const auto* key = w.views.keys.find(k.apikey);
  BOOST_TEST(key->allows_source("192.0.2.9"));
  BOOST_TEST(!key->allows_source("10.0.0.1"));
  // The same values again: nothing to record.
  BOOST_TEST(w.ok(UpdateKey{std::nullopt, id, k.apikey, std::nullopt,
                            std::vector<std::string>{"192.0.2.0/24"}, std::nullopt, 5})
                 .empty());
  // Bad input changes nothing, even with a good field beside it.
  BOOST_TEST(refusal(w.run(UpdateKey{std::nullopt, id, k.apikey, "new description",
                                     std::vector<std::string>{"nope"}, std::nullopt,
                                     std::nullopt})) != "accepted");
  BOOST_TEST(key->description.empty());
  // Another principal's key, or a deleted one: not found.
  const auto other = w.user("Bob");
  BOOST_TEST(static_cast<int>(
                 w.run(UpdateKey{std::nullopt, other, k.apikey, "x", {}, {}, {}}).error().code) ==
             static_cast<int>(Errc::not_found));
}

BOOST_AUTO_TEST_CASE(a_use_from_outside_the_networks_fails_like_a_wrong_secret) {
  World w;
  const auto id = w.user("Ann");
  const auto k = limited_key(w, id, {"192.0.2.0/24", "2001:db8::/32"});
  BOOST_TEST(w.login(k, "192.0.2.44").outcome == LoginOutcome::issued);
  BOOST_TEST(w.login(k, "2001:db8::44").outcome == LoginOutcome::issued);
  BOOST_TEST(w.login(k, "::ffff:192.0.2.45").outcome == LoginOutcome::issued);
  const auto d = w.login(k, "198.51.100.7");
  BOOST_TEST(d.outcome == LoginOutcome::refused);
  BOOST_TEST(d.reason == "source_not_allowed");
  BOOST_TEST(d.blocked_network == "198.51.100.0/24");
  BOOST_TEST(d.notify_email == "ann@example.com");
  BOOST_REQUIRE(d.events.size() == 1u);
  BOOST_TEST(std::get<events::LoginFailed>(d.events[0].data).reason == "source_not_allowed");
  const auto d6 = w.login(k, "2001:db9::1");
  BOOST_TEST(d6.reason == "source_not_allowed");
  BOOST_TEST(d6.blocked_network == "2001:db9::/64");
  // A wrong secret from outside is a wrong secret: no email for it.
  const auto wrong = w.login(k, "198.51.100.7", keys::new_secretkey());
  BOOST_TEST(wrong.reason == "wrong_secret");
  BOOST_TEST(wrong.notify_email.empty());
  // Blocked uses count as failures: enough of them lock the key.
  for (int i = 0; i < 5; ++i) (void)w.login(k, "198.51.100.7");
  BOOST_TEST(w.login(k, "192.0.2.44").outcome == LoginOutcome::locked);
}

BOOST_AUTO_TEST_CASE(the_owner_is_told_once_per_network_and_day) {
  World w;
  const auto id = w.user("Ann");
  const auto k = limited_key(w, id, {"192.0.2.0/24"});
  auto sent = [&](const std::string& network) {
    events::EmailOutcome o{"blocked_use", k.apikey, id, "ann@example.com", "", network};
    w.commit({events::Draft{events::EventType::email_sent, o, {}}});
  };
  BOOST_TEST(w.login(k, "198.51.100.7").notify_email == "ann@example.com");
  sent("198.51.100.0/24");
  BOOST_TEST(w.login(k, "198.51.100.8").notify_email.empty());  // same network, same day
  BOOST_TEST(w.login(k, "203.0.113.1").notify_email == "ann@example.com");
  w.now += kMicrosPerDay;
  BOOST_TEST(w.login(k, "198.51.100.9").notify_email == "ann@example.com");  // a new day
  // A service account without email: nobody to tell.
  const auto sa = w.service_account();
  const auto ks = limited_key(w, sa, {"192.0.2.0/24"});
  BOOST_TEST(w.login(ks, "198.51.100.7").reason == "source_not_allowed");
  BOOST_TEST(w.login(ks, "198.51.100.7").notify_email.empty());
}

BOOST_AUTO_TEST_CASE(tokens_carry_the_key_roles_that_the_owner_still_holds) {
  World w;
  w.user("Root", {"admin"});
  const auto id = w.user("Ann", {"admin", "auditor"});
  const auto k = limited_key(w, id, {}, {"auditor"});
  BOOST_TEST(w.login(k).claims->roles == std::vector<std::string>{"auditor"},
             boost::test_tools::per_element());
  const auto all = w.key(id);
  BOOST_TEST(w.login(all).claims->roles == (std::vector<std::string>{"admin", "auditor"}),
             boost::test_tools::per_element());
  // The owner loses auditor: the key's next tokens carry no role at all.
  w.ok(UpdatePrincipal{projections::PrincipalKind::user, id, std::nullopt, std::nullopt,
                       std::vector<std::string>{"admin"}});
  BOOST_TEST(w.login(k).claims->roles.empty());
  const auto& owner = *w.views.principals.find(id);
  BOOST_TEST(effective_roles(owner, *w.views.keys.find(k.apikey)).empty());
}

BOOST_AUTO_TEST_CASE(a_key_over_its_rate_is_told_when_to_retry) {
  World w;
  const auto id = w.user("Ann");
  const auto k = limited_key(w, id, {}, {}, 3);
  for (int i = 0; i < 3; ++i) BOOST_TEST(w.login(k).outcome == LoginOutcome::issued);  // the burst
  auto d = w.login(k);
  BOOST_TEST(d.outcome == LoginOutcome::rate_limited);
  BOOST_TEST(d.retry_after_seconds == 20);  // one login every 20 s
  BOOST_REQUIRE(d.events.size() == 1u);
  BOOST_TEST(std::get<events::LoginFailed>(d.events[0].data).reason == "rate_limited");
  // More refusals in the same minute: no more events.
  w.now += 5 * kMicrosPerSecond;
  d = w.login(k);
  BOOST_TEST(d.outcome == LoginOutcome::rate_limited);
  BOOST_TEST(d.retry_after_seconds == 15);
  BOOST_TEST(d.events.empty());
  w.now += 15 * kMicrosPerSecond;
  BOOST_TEST(w.login(k).outcome == LoginOutcome::issued);
  BOOST_TEST(w.login(k).outcome == LoginOutcome::rate_limited);
  // A minute after the first report, the next refusal is reported with the count.
  w.now += 41 * kMicrosPerSecond;
  for (int i = 0; i < 3; ++i) (void)w.login(k);  // refills: 2 issued, then refused
  // Refused logins with a wrong secret are failures, not rate: they don't spend it.
  const auto wrong = w.login(k, "192.0.2.1", keys::new_secretkey());
  BOOST_TEST(wrong.reason == "wrong_secret");
}

BOOST_AUTO_TEST_CASE(a_rate_change_is_undone_with_its_group) {
  World w;
  const auto id = w.user("Ann");
  const auto k = limited_key(w, id, {}, {}, 1);
  LoginAttempt a;
  a.apikey = k.apikey;
  a.presented_hash = w.pepper.hash(k.secret);
  a.jti = keys::new_jti();
  a.source_ip = "192.0.2.1";
  auto d = decide_login(w.views, w.throttle, a, w.now);
  BOOST_TEST(d.outcome == LoginOutcome::issued);
  auto undo = w.throttle.apply(d.throttle, w.now, w.views.settings);
  BOOST_TEST(decide_login(w.views, w.throttle, a, w.now).outcome == LoginOutcome::rate_limited);
  w.throttle.undo(undo);  // the group was not committed: the login never happened
  BOOST_TEST(decide_login(w.views, w.throttle, a, w.now).outcome == LoginOutcome::issued);
}

BOOST_AUTO_TEST_SUITE_END()
