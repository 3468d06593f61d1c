#include <boost/test/unit_test.hpp>

#include "tests/domain/world.h"

using namespace latchkey;
using namespace latchkey::domain;
using namespace latchkey::keys;
using latchkey::test::World;
using projections::KeyState;
using projections::KeyStatus;
using projections::PrincipalKind;

namespace {

// Success is not an error code: the tables below use this value (0, which no
// Errc has) for "accepted".
constexpr Errc kAccepted = Errc{};

Errc code_of(const Result<std::vector<events::Event>>& r) { return r ? kAccepted : r.error().code; }

}  // namespace

BOOST_AUTO_TEST_SUITE(principals)

BOOST_AUTO_TEST_CASE(creation_rules) {
  struct Case {
    const char* what;
    CreatePrincipal cmd;
    Errc expect;
  };
  const std::vector<Case> cases = {
      {"a user", {PrincipalKind::user, new_user_id(), "Ann", "ann@example.com", {}}, kAccepted},
      {"a user with roles",
       {PrincipalKind::user, new_user_id(), "Bo", "bo@example.com", {"admin", "auditor"}},
       kAccepted},
      {"a service account without email",
       {PrincipalKind::service_account, new_service_account_id(), "ci", "", {}},
       kAccepted},
      {"a user without email",
       {PrincipalKind::user, new_user_id(), "Ann", "", {}},
       Errc::invalid_request},
      {"an empty name",
       {PrincipalKind::user, new_user_id(), "", "a@example.com", {}},
       Errc::invalid_request},
      {"a blank name",
       {PrincipalKind::user, new_user_id(), "   ", "a@example.com", {}},
       Errc::invalid_request},
      {"a 201-byte name",
       {PrincipalKind::user, new_user_id(), std::string(201, 'n'), "a@example.com", {}},
       Errc::invalid_request},
      {"a 200-byte name",
       {PrincipalKind::user, new_user_id(), std::string(200, 'n'), "a@example.com", {}},
       kAccepted},
      {"a name with a newline",
       {PrincipalKind::user, new_user_id(), "Ann\nroot", "a@example.com", {}},
       Errc::invalid_request},
      {"an HTML name is just text",
       {PrincipalKind::user, new_user_id(), "<img src=x onerror=alert(1)>", "a@example.com", {}},
       kAccepted},
      {"an email without @",
       {PrincipalKind::user, new_user_id(), "Ann", "ann.example.com", {}},
       Errc::invalid_request},
      {"an email with two @",
       {PrincipalKind::user, new_user_id(), "Ann", "a@b@example.com", {}},
       Errc::invalid_request},
      {"an email with a space",
       {PrincipalKind::user, new_user_id(), "Ann", "ann @example.com", {}},
       Errc::invalid_request},
      {"an email with CRLF",
       {PrincipalKind::user, new_user_id(), "Ann", "ann@example.com\r\nBcc: x@y", {}},
       Errc::invalid_request},
      {"an unknown role form",
       {PrincipalKind::user, new_user_id(), "Ann", "a@example.com", {"Admin!"}},
       Errc::invalid_request},
      {"a role twice",
       {PrincipalKind::user, new_user_id(), "Ann", "a@example.com", {"admin", "admin"}},
       Errc::invalid_request},
      {"a malformed id",
       {PrincipalKind::user, "../etc", "Ann", "a@example.com", {}},
       Errc::invalid_request},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      World w;
      BOOST_TEST(static_cast<int>(code_of(w.run(c.cmd))) == static_cast<int>(c.expect));
    }
  }
}

BOOST_AUTO_TEST_CASE(an_id_is_never_reused) {
  World w;
  CreatePrincipal c{PrincipalKind::user, new_user_id(), "Ann", "ann@example.com", {}};
  w.ok(c);
  BOOST_TEST(static_cast<int>(code_of(w.run(c))) == static_cast<int>(Errc::conflict));
}

BOOST_AUTO_TEST_CASE(updates_change_only_what_differs) {
  World w;
  const auto id = w.user("Ann");
  auto same = w.ok(UpdatePrincipal{PrincipalKind::user, id, "Ann", std::nullopt, std::nullopt});
  BOOST_TEST(same.empty());  // nothing changed, nothing recorded
  auto renamed =
      w.ok(UpdatePrincipal{PrincipalKind::user, id, "Ann Lee", std::nullopt, std::nullopt});
  BOOST_REQUIRE(renamed.size() == 1u);
  BOOST_TEST(w.views.principals.find(id)->name == "Ann Lee");
  BOOST_TEST(static_cast<int>(code_of(w.run(UpdatePrincipal{PrincipalKind::user, id, std::nullopt,
                                                            std::string(""), std::nullopt}))) ==
             static_cast<int>(Errc::invalid_request));
  // The route's kind must match the principal's.
  BOOST_TEST(static_cast<int>(code_of(w.run(UpdatePrincipal{PrincipalKind::service_account, id, "x",
                                                            std::nullopt, std::nullopt}))) ==
             static_cast<int>(Errc::not_found));
}

BOOST_AUTO_TEST_CASE(deleting_a_principal_deactivates_its_keys) {
  World w;
  w.user("Admin", {"admin"});
  const auto id = w.user("Ann");
  const auto k1 = w.key(id);
  const auto k2 = w.key(id);
  auto evs = w.ok(DeletePrincipal{PrincipalKind::user, id});
  const auto& d = std::get<events::PrincipalDeleted>(evs.front().data);
  BOOST_TEST(d.keys_deactivated == (std::vector<std::string>{k1.apikey, k2.apikey}));
  BOOST_TEST(static_cast<int>(w.views.keys.find(k1.apikey)->status(w.now)) ==
             static_cast<int>(KeyStatus::deleted));
  BOOST_TEST(w.login(k1).reason == "principal_deleted");
  // Gone for every later command.
  BOOST_TEST(static_cast<int>(code_of(w.run(DeletePrincipal{PrincipalKind::user, id}))) ==
             static_cast<int>(Errc::not_found));
  BOOST_TEST(static_cast<int>(code_of(w.run(w.key_command(id)))) ==
             static_cast<int>(Errc::not_found));
}

BOOST_AUTO_TEST_CASE(the_last_admin_stays) {
  World w;
  const auto admin = w.service_account("", {"admin"});
  BOOST_TEST(static_cast<int>(code_of(w.run(DeletePrincipal{
                 PrincipalKind::service_account, admin}))) == static_cast<int>(Errc::conflict));
  BOOST_TEST(static_cast<int>(code_of(w.run(UpdatePrincipal{
                 PrincipalKind::service_account, admin, std::nullopt, std::nullopt,
                 std::vector<std::string>{}}))) == static_cast<int>(Errc::conflict));
  w.user("Second", {"admin"});
  BOOST_TEST(static_cast<int>(code_of(w.run(DeletePrincipal{
                 PrincipalKind::service_account, admin}))) == static_cast<int>(kAccepted));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(keys)

BOOST_AUTO_TEST_CASE(lifetime_rules) {
  struct Case {
    const char* what;
    std::optional<std::int64_t> days;
    std::optional<Micros> expires_offset;  // from now
    Errc expect;
    Micros expect_expiry_offset;
  };
  const Micros day = kMicrosPerDay;
  const std::vector<Case> cases = {
      {"no lifetime: default_key_lifetime_days", std::nullopt, std::nullopt, kAccepted, 90 * day},
      {"lifetime_days", 30, std::nullopt, kAccepted, 30 * day},
      {"lifetime_days at the maximum", 365, std::nullopt, kAccepted, 365 * day},
      {"lifetime_days over the maximum", 366, std::nullopt, Errc::invalid_request, 0},
      {"lifetime_days zero", 0, std::nullopt, Errc::invalid_request, 0},
      {"lifetime_days negative", -5, std::nullopt, Errc::invalid_request, 0},
      {"expires_at tomorrow", std::nullopt, day, kAccepted, day},
      {"expires_at exactly at the maximum", std::nullopt, 365 * day, kAccepted, 365 * day},
      {"expires_at one microsecond past the maximum", std::nullopt, 365 * day + 1,
       Errc::invalid_request, 0},
      {"expires_at now", std::nullopt, 0, Errc::invalid_request, 0},
      {"expires_at in the past", std::nullopt, -day, Errc::invalid_request, 0},
      {"both given", 10, day, Errc::invalid_request, 0},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      World w;
      const auto id = w.user();
      auto cmd = w.key_command(id);
      cmd.lifetime_days = c.days;
      if (c.expires_offset) cmd.expires_at = w.now + *c.expires_offset;
      auto r = w.run(cmd);
      BOOST_TEST(static_cast<int>(code_of(r)) == static_cast<int>(c.expect));
      if (r)
        BOOST_TEST(w.views.keys.find(cmd.apikey)->expires_at == w.now + c.expect_expiry_offset);
      if (!r) BOOST_TEST(w.views.keys.size() == 0u);  // refused: nothing written
    }
  }
}

BOOST_AUTO_TEST_CASE(the_default_lifetime_follows_the_settings) {
  World w;
  w.ok(ChangeSettings{{{"default_key_lifetime_days", 7}}});
  const auto id = w.user();
  const auto k = w.key(id);
  BOOST_TEST(w.views.keys.find(k.apikey)->expires_at == w.now + 7 * kMicrosPerDay);
}

BOOST_AUTO_TEST_CASE(send_email_needs_an_address_and_smtp) {
  World w;
  const auto sa = w.service_account("");
  auto cmd = w.key_command(sa);
  cmd.send_email = true;
  cmd.mail_configured = true;
  auto r = w.run(cmd);
  BOOST_TEST(static_cast<int>(code_of(r)) == static_cast<int>(Errc::invalid_request));
  BOOST_TEST(r.error().message.find("email") != std::string::npos);
  const auto user = w.user();
  auto no_smtp = w.key_command(user);
  no_smtp.send_email = true;
  no_smtp.mail_configured = false;
  auto r2 = w.run(no_smtp);
  BOOST_TEST(static_cast<int>(code_of(r2)) == static_cast<int>(Errc::invalid_request));
  BOOST_TEST(r2.error().message.find("smtp") != std::string::npos);
  BOOST_TEST(w.views.keys.size() == 0u);
  no_smtp.mail_configured = true;
  BOOST_TEST(static_cast<int>(code_of(w.run(no_smtp))) == static_cast<int>(kAccepted));
}

BOOST_AUTO_TEST_CASE(the_key_limit_is_a_conflict_and_counts_live_keys_only) {
  World w;
  w.ok(ChangeSettings{{{"max_keys_per_principal", 2}}});
  const auto id = w.user();
  const auto k1 = w.key(id);
  w.key(id, 1);
  BOOST_TEST(static_cast<int>(code_of(w.run(w.key_command(id)))) ==
             static_cast<int>(Errc::conflict));
  w.ok(ChangeKey{std::nullopt, id, k1.apikey, KeyAction::remove});  // a deleted key frees its place
  w.key(id);
  BOOST_TEST(static_cast<int>(code_of(w.run(w.key_command(id)))) ==
             static_cast<int>(Errc::conflict));
  w.now += 2 * kMicrosPerDay;  // the one-day key expired: it no longer counts
  BOOST_TEST(static_cast<int>(code_of(w.run(w.key_command(id)))) == static_cast<int>(kAccepted));
}

BOOST_AUTO_TEST_CASE(disable_enable_delete) {
  World w;
  const auto id = w.user();
  const auto other = w.user("Bo");
  const auto k = w.key(id);
  BOOST_TEST(w.ok(ChangeKey{std::nullopt, id, k.apikey, KeyAction::disable}).size() == 1u);
  BOOST_TEST(
      w.ok(ChangeKey{std::nullopt, id, k.apikey, KeyAction::disable}).empty());  // already disabled
  BOOST_TEST(static_cast<int>(w.views.keys.find(k.apikey)->status(w.now)) ==
             static_cast<int>(KeyStatus::disabled));
  BOOST_TEST(w.login(k).reason == "disabled");
  w.ok(ChangeKey{std::nullopt, id, k.apikey, KeyAction::enable});
  BOOST_TEST(w.login(k).outcome == LoginOutcome::issued);
  // Another principal's key is not found through this one.
  BOOST_TEST(static_cast<int>(
                 code_of(w.run(ChangeKey{std::nullopt, other, k.apikey, KeyAction::remove}))) ==
             static_cast<int>(Errc::not_found));
  w.ok(ChangeKey{std::nullopt, id, k.apikey, KeyAction::remove});
  BOOST_TEST(w.login(k).reason == "deleted");
  for (auto action : {KeyAction::remove, KeyAction::enable, KeyAction::disable}) {
    BOOST_TEST(static_cast<int>(code_of(w.run(ChangeKey{std::nullopt, id, k.apikey, action}))) ==
               static_cast<int>(Errc::not_found));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(changes_are_validated_and_recorded_with_old_and_new_values) {
  struct Case {
    const char* what;
    std::vector<std::pair<std::string, std::int64_t>> values;
    Errc expect;
  };
  const std::vector<Case> cases = {
      {"token lifetime", {{"token_lifetime_seconds", 600}}, kAccepted},
      {"token lifetime too short", {{"token_lifetime_seconds", 59}}, Errc::invalid_request},
      {"token lifetime too long",
       {{"token_lifetime_seconds", 7 * 86400 + 1}},
       Errc::invalid_request},
      {"unknown setting", {{"color", 1}}, Errc::invalid_request},
      {"default over max", {{"default_key_lifetime_days", 400}}, Errc::invalid_request},
      {"default and max together",
       {{"default_key_lifetime_days", 400}, {"max_key_lifetime_days", 500}},
       kAccepted},
      {"max under the default", {{"max_key_lifetime_days", 30}}, Errc::invalid_request},
      {"reminders off", {{"expiry_reminder_days", 0}}, kAccepted},
      {"zero keys", {{"max_keys_per_principal", 0}}, Errc::invalid_request},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      World w;
      const auto before = projections::snapshot(w.views);
      auto r = w.run(ChangeSettings{c.values});
      BOOST_TEST(static_cast<int>(code_of(r)) == static_cast<int>(c.expect));
      if (!r) BOOST_TEST(projections::snapshot(w.views) == before);
    }
  }
  World w;
  auto evs =
      w.ok(ChangeSettings{{{"token_lifetime_seconds", 600}, {"max_keys_per_principal", 10}}});
  const auto& changed = std::get<events::SettingsChanged>(evs.front().data);
  BOOST_REQUIRE(changed.changes.size() == 1u);  // the unchanged value is not recorded
  BOOST_TEST(changed.changes[0].name == "token_lifetime_seconds");
  BOOST_TEST(changed.changes[0].old_value == 3600);
  BOOST_TEST(changed.changes[0].new_value == 600);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(signing_keys)

BOOST_AUTO_TEST_CASE(rotation_keeps_the_old_key_published_until_its_tokens_expire) {
  World w;
  w.ok(RotateSigningKey{"k1", "ES256", "{}"});
  w.now += kMicrosPerDay;
  auto evs = w.ok(RotateSigningKey{"k2", "ES256", "{}"});
  const auto& r = std::get<events::SigningKeyRotated>(evs.front().data);
  BOOST_TEST(r.old_kid == "k1");
  BOOST_TEST(r.old_valid_until == w.now + 3600 * kMicrosPerSecond);
  BOOST_TEST(w.views.signing.active()->kid == "k2");
  BOOST_TEST(w.views.signing.published(w.now).size() == 2u);
  BOOST_TEST(w.views.signing.published(r.old_valid_until).size() == 1u);
  BOOST_TEST(static_cast<int>(code_of(w.run(RotateSigningKey{"k2", "ES256", "{}"}))) ==
             static_cast<int>(Errc::invalid_request));
}

// The lifetime may have been longer when the old key signed its tokens than
// it is at the rotation: the key stays published for the longest of them.
BOOST_AUTO_TEST_CASE(a_retired_key_stays_published_until_its_longest_lived_token_expires) {
  World w;
  w.ok(RotateSigningKey{"k1", "ES256", "{}"});
  const std::string sa = w.service_account();
  const auto key = w.key(sa);
  const std::int64_t issued = w.now / kMicrosPerSecond;
  w.commit({events::Draft{
      events::EventType::token_issued,
      events::TokenIssued{
          "0123456789abcdef0123456789abcdef", key.apikey, sa, issued, issued + 3600, "k1", {}},
      {}}});
  w.ok(ChangeSettings{{{"token_lifetime_seconds", 60}}});
  w.now += 10 * kMicrosPerSecond;
  auto evs = w.ok(RotateSigningKey{"k2", "ES256", "{}"});
  const auto& r = std::get<events::SigningKeyRotated>(evs.front().data);
  BOOST_TEST(r.old_valid_until == (issued + 3600) * kMicrosPerSecond);
  BOOST_TEST(w.views.signing.published(w.now + 3000 * kMicrosPerSecond).size() == 2u);
  // k2 signed nothing: once retired it goes after the current lifetime.
  w.now += 10 * kMicrosPerSecond;
  evs = w.ok(RotateSigningKey{"k3", "ES256", "{}"});
  BOOST_TEST(std::get<events::SigningKeyRotated>(evs.front().data).old_valid_until ==
             w.now + 60 * kMicrosPerSecond);
}

// A signed-out session's token stops standing at once; the revocation is
// kept until the token would have expired anyway, and snapshots keep it.
BOOST_AUTO_TEST_CASE(a_revoked_token_no_longer_stands_until_its_expiry) {
  World w;
  const std::string sa = w.service_account();
  const auto key = w.key(sa);
  const std::int64_t now_s = w.now / kMicrosPerSecond;
  const std::string jti(32, 'a'), other(32, 'b');
  BOOST_TEST(domain::token_stands(w.views, key.apikey, sa, jti));
  w.commit({events::Draft{events::EventType::token_revoked,
                          events::TokenRevoked{jti, key.apikey, sa, now_s + 60, "signed_out"},
                          {}}});
  BOOST_TEST(!domain::token_stands(w.views, key.apikey, sa, jti));
  BOOST_TEST(domain::token_stands(w.views, key.apikey, sa, other));
  auto restored = projections::restore(projections::snapshot(w.views));
  BOOST_REQUIRE(restored.has_value());
  BOOST_TEST(!domain::token_stands(*restored, key.apikey, sa, jti));
  BOOST_TEST(projections::snapshot(*restored) == projections::snapshot(w.views));
  // A later revocation, after the first token's exp, drops the first entry.
  w.now += 61 * kMicrosPerSecond;
  w.commit({events::Draft{events::EventType::token_revoked,
                          events::TokenRevoked{other, key.apikey, sa, now_s + 3600, "signed_out"},
                          {}}});
  BOOST_TEST(w.views.revoked_tokens.size() == 1u);
  BOOST_TEST(w.views.revoked_tokens.count(other) == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
