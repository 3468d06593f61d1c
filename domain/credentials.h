#pragma once
// Identifiers and secrets, their formats, and how secrets are kept.
//
//   apikey     lk_  + 24 hex digits (96 random bits): a public identifier
//   secretkey  lks_ + 64 hex digits (256 random bits) + 8 hex digits of checksum
//   user id    usr_ + 16 hex digits;  service account id  sa_ + 16 hex digits
//   jti        32 hex digits
//
// The prefixes and the checksum let secret scanners recognise a leaked
// secretkey without access to latchkey (regex: lks_[0-9a-f]{72}; the last 8
// digits are the first 4 bytes of SHA-256 over the rest). Only
// HMAC-SHA256(pepper, secretkey) is ever stored.

#include <string>
#include <string_view>

#include "events/encoding.h"
#include "events/error.h"

namespace latchkey::domain {

std::string new_apikey();
std::string new_secretkey();
std::string new_user_id();
std::string new_service_account_id();
std::string new_jti();
std::string new_request_id();

bool is_apikey(std::string_view s);
// Form and checksum; says nothing about whether the secret is valid for a key.
bool is_secretkey(std::string_view s);
bool is_principal_id(std::string_view s);

// The server's pepper: 32 random bytes in a 0600 file beside the log.
class Pepper {
 public:
  explicit Pepper(std::string bytes) : bytes_(std::move(bytes)) {}
  static Pepper generate();
  Digest hash(std::string_view secretkey) const { return hmac_sha256(bytes_, secretkey); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace latchkey::domain
