#include "domain/credentials.h"

#include <algorithm>

namespace latchkey::domain {
namespace {

bool all_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string checksum(std::string_view body) {
  const Digest d = sha256(body);
  return to_hex(std::span<const std::uint8_t>(d.data(), 4));
}

std::string random_hex(std::size_t bytes) { return to_hex(random_bytes(bytes)); }

}  // namespace

std::string new_apikey() { return "lk_" + random_hex(12); }

std::string new_secretkey() {
  std::string body = "lks_" + random_hex(32);
  return body + checksum(body);
}

std::string new_user_id() { return "usr_" + random_hex(8); }
std::string new_service_account_id() { return "sa_" + random_hex(8); }
// Made on every login and request: from the buffered generator.
std::string new_jti() { return to_hex(random_id_bytes(16)); }
std::string new_request_id() { return to_hex(random_id_bytes(12)); }

bool is_apikey(std::string_view s) {
  return s.size() == 27 && s.starts_with("lk_") && all_hex(s.substr(3));
}

bool is_secretkey(std::string_view s) {
  if (s.size() != 4 + 72 || !s.starts_with("lks_") || !all_hex(s.substr(4))) return false;
  return checksum(s.substr(0, 68)) == s.substr(68);
}

bool is_principal_id(std::string_view s) {
  return (s.size() == 20 && s.starts_with("usr_") && all_hex(s.substr(4))) ||
         (s.size() == 19 && s.starts_with("sa_") && all_hex(s.substr(3)));
}

Pepper Pepper::generate() { return Pepper(random_bytes(32)); }

}  // namespace latchkey::domain
