#pragma once
// `latchkey init`: a new data directory with its secret material, the
// bootstrap events and a first admin service account.

#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "base/signing.h"

namespace latchkey::tools {

struct InitResult {
  std::string principal_id;
  std::string apikey;
  std::string secretkey;
  Micros expires_at = 0;
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
