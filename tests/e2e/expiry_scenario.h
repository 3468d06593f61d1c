#pragma once
// Time passing, for the tests that need it: a server whose token lifetime is
// 60 s (the least there is), holding tokens of three signing keys, set up by
// the first test that asks for it. tests/e2e/CMakeLists.txt runs a test that
// sets it up first and the one that waits for its tokens to expire last, so
// the minute passes while the other tests run. (Run alone, the last one waits
// the whole minute.)

#include <string>

#include "tests/e2e/e2e.h"
#include "tests/support/temp_dir.h"

namespace latchkey::e2e {

struct ExpiryScenario {
  test::TempDir dir;  // the --config file: [tokens] algorithm = "EdDSA"
  ServerProcess server;
  Client client;
  // k1 is init's ES256 key; k2 and k3 come from POST /iam/signing-keys/rotate,
  // EdDSA keys as tokens.algorithm says.
  std::string k1, k2, k3;
  json rotated_to_k2, rotated_to_k3;  // the 201 bodies
  std::string hour;                   // signed by k1 while the lifetime was an hour
  std::string short1;                 // signed by k1 under the 60 s lifetime
  std::string eddsa;                  // signed by k2 (60 s)
  std::string fresh;                  // signed by k3 (60 s)
  ExpiryScenario();
};

ExpiryScenario& expiry_scenario();

}  // namespace latchkey::e2e
