#pragma once
// The formats of identifiers and secrets (pure checks; making fresh ones
// needs randomness and lives in keys/ids.h).
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

namespace latchkey::domain {

[[nodiscard]] bool is_apikey(std::string_view s);
// Form and checksum; says nothing about whether the secret is valid for a key.
[[nodiscard]] bool is_secretkey(std::string_view s);
[[nodiscard]] bool is_principal_id(std::string_view s);

// The 8 hex digits that end a secretkey whose first 68 characters are `body`.
[[nodiscard]] std::string secretkey_checksum(std::string_view body);

}  // namespace latchkey::domain
