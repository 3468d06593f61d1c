#include "tests/e2e/expiry_scenario.h"

#include <boost/test/unit_test.hpp>

#include <fstream>

namespace latchkey::e2e {

namespace {

ServerProcess::Options with_config(const test::TempDir& dir) {
  const std::string config = dir / "latchkey.toml";
  std::ofstream(config) << "[tokens]\nalgorithm = \"EdDSA\"\n";
  ServerProcess::Options o;
  o.serve_args = {"--config", config};
  return o;
}

ExpiryScenario* g_scenario = nullptr;

// Stopped after the last test, with the checks of every server.
struct StopTheExpiryServer {
  void setup() {}
  void teardown() {
    BOOST_TEST_CONTEXT("the expiry scenario's server, stopped after the last test") {
      delete g_scenario;
      g_scenario = nullptr;
    }
  }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(StopTheExpiryServer);

ExpiryScenario::ExpiryScenario() : server(with_config(dir)), client(server) {
  const auto& admin = server.admin();
  hour = client.admin_token();
  k1 = jwt_part(hour, 0).at("kid");
  client.set_settings(hour, {{"token_lifetime_seconds", 60}});
  short1 = client.login(admin.apikey, admin.secretkey);

  const auto r2 = client.post_empty("/iam/signing-keys/rotate", hour);
  BOOST_REQUIRE_MESSAGE(r2.status == 201, r2.body);
  rotated_to_k2 = r2.json();
  k2 = rotated_to_k2.at("kid");
  eddsa = client.login(admin.apikey, admin.secretkey);

  const auto r3 = client.post_empty("/iam/signing-keys/rotate", eddsa);
  BOOST_REQUIRE_MESSAGE(r3.status == 201, r3.body);
  rotated_to_k3 = r3.json();
  k3 = rotated_to_k3.at("kid");
  fresh = client.login(admin.apikey, admin.secretkey);
}

ExpiryScenario& expiry_scenario() {
  if (!g_scenario) g_scenario = new ExpiryScenario;
  return *g_scenario;
}

}  // namespace latchkey::e2e
