// GET/PATCH /iam/settings: the names and defaults, validation, and the
// settings.changed event with old and new values.
#include <boost/test/unit_test.hpp>

#include "base/clock.h"
#include "tests/e2e/e2e.h"

using namespace latchkey;
using namespace latchkey::e2e;

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(settings_patch_validates_and_records_old_and_new_values) {
  ServerProcess server;
  Client client(server);
  const std::string admin = client.admin_token();
  const json defaults = client.settings(admin);
  const json expected = {{"default_key_lifetime_days", 90}, {"max_key_lifetime_days", 365},
                         {"token_lifetime_seconds", 3600},  {"max_keys_per_principal", 10},
                         {"lockout_threshold", 5},          {"lockout_source_threshold", 20},
                         {"lockout_window_seconds", 300},   {"lockout_duration_seconds", 900},
                         {"expiry_reminder_days", 7}};
  BOOST_TEST(defaults == expected, defaults.dump());

  const std::vector<json> bad = {
      json::object(),
      {{"no_such_setting", 1}},
      {{"token_lifetime_seconds", "600"}},
      {{"token_lifetime_seconds", 600.5}},
      {{"token_lifetime_seconds", true}},
      {{"token_lifetime_seconds", nullptr}},
      {{"token_lifetime_seconds", 59}},
      {{"token_lifetime_seconds", 7 * 86400 + 1}},
      {{"max_keys_per_principal", 0}},
      {{"max_key_lifetime_days", 30}},  // below the default of 90
      {{"default_key_lifetime_days", 400}},
      {{"default_key_lifetime_days", 30}, {"max_key_lifetime_days", 20}},
      {{"expiry_reminder_days", -1}},
      {{"lockout_threshold", 18446744073709551615ULL}},
  };
  for (const auto& b : bad) {
    BOOST_TEST_CONTEXT(b.dump()) {
      expect_error(client.patch("/iam/settings", b, admin), 400, "invalid_request");
    }
  }
  expect_error(client.call("PATCH", "/iam/settings", "{\"token_lifetime_seconds\":",
                           {"Content-Type: application/json", "Authorization: Bearer " + admin}),
               400, "invalid_request");
  expect_error(client.call("PATCH", "/iam/settings", "token_lifetime_seconds=600",
                           {"Content-Type: application/x-www-form-urlencoded",
                            "Authorization: Bearer " + admin}),
               415, "unsupported_media_type");
  // None of that changed anything, and left no event.
  BOOST_TEST(client.settings(admin) == defaults);
  BOOST_TEST(client.get("/iam/audit?type=settings.changed", admin).json().at("events").empty());

  const auto ok = client.patch(
      "/iam/settings", {{"max_key_lifetime_days", 30}, {"default_key_lifetime_days", 14}}, admin);
  BOOST_TEST_REQUIRE(ok.status == 200, ok.body);
  json now = defaults;
  now["max_key_lifetime_days"] = 30;
  now["default_key_lifetime_days"] = 14;
  BOOST_TEST(ok.json() == now);
  BOOST_TEST(client.settings(admin) == now);

  const auto audit = client.get("/iam/audit?type=settings.changed", admin);
  BOOST_TEST_REQUIRE(audit.json().at("events").size() == 1u);
  const std::string data = audit.json()["events"][0]["data"].dump();
  for (const char* part :
       {"max_key_lifetime_days", "default_key_lifetime_days", "365", "30", "90", "14"}) {
    BOOST_TEST(data.find(part) != std::string::npos, part << " not in " << data);
  }
  // The new maximum applies to keys at once.
  const auto sa = client.create_service_account(admin, "bounded");
  expect_error(client.post(sa.base + "/keys", {{"lifetime_days", 31}}, admin), 400,
               "invalid_request");
  const auto longest = client.post(sa.base + "/keys", {{"lifetime_days", 30}}, admin);
  BOOST_TEST_REQUIRE(longest.status == 201, longest.body);
  const auto created = parse_rfc3339(longest.json().at("created_at").get<std::string>());
  const auto expires = parse_rfc3339(longest.json().at("expires_at").get<std::string>());
  BOOST_TEST_REQUIRE((created && expires));
  BOOST_TEST(std::llabs(*expires - *created - 30 * kMicrosPerDay) < 5 * kMicrosPerSecond);
  // And it survives a restart (the views are rebuilt from the log).
  BOOST_TEST(server.stop() == 0);
  server.start();
  BOOST_TEST(client.settings(client.admin_token()) == now);
}

BOOST_AUTO_TEST_SUITE_END()
