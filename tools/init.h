#pragma once
// `latchkey init`: a new data directory with its secret material, the
// bootstrap events of the default project with a first admin service account,
// and the platform with its first operator.

#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/signing.h"

namespace latchkey::tools {

struct InitResult {
  // The default project's first admin.
  std::string principal_id;
  std::string apikey;
  std::string secretkey;
  Micros expires_at = 0;
  // The platform's first operator.
  std::string platform_principal_id;
  std::string platform_apikey;
  std::string platform_secretkey;
  Micros platform_expires_at = 0;
};

struct InitOptions {
  std::string data_dir;
  SignAlg alg = SignAlg::es256;
  std::string admin_name = "admin";
  std::int64_t lifetime_days = 0;  // 0: default_key_lifetime_days
};

// Refuses with `exists` (and changes nothing) if the directory holds a log or
// a pepper. On any other failure, removes what it created.
Result<InitResult> init_data_dir(const InitOptions& options);

}  // namespace latchkey::tools
