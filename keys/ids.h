#pragma once
// Fresh identifiers and secrets, from OpenSSL's CSPRNG, in the formats of
// domain/credentials.h; and the pepper that keeps secrets out of the log.

#include <string>
#include <string_view>

#include "base/encoding.h"

namespace latchkey::keys {

std::string new_apikey();
std::string new_secretkey();
std::string new_user_id();
std::string new_service_account_id();
// Made on every login and request: from the buffered generator.
std::string new_jti();
std::string new_request_id();

// The server's pepper: 32 random bytes in a 0600 file beside the log.
class Pepper {
 public:
  explicit Pepper(std::string bytes) : bytes_(std::move(bytes)) {}
  static Pepper generate();
  // HMAC-SHA256(pepper, secretkey): the only form of a secret that is stored.
  [[nodiscard]] Digest hash(std::string_view secretkey) const {
    return hmac_sha256(bytes_, secretkey);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace latchkey::keys
