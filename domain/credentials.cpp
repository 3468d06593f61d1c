#include "domain/credentials.h"

#include <algorithm>

#include "base/encoding.h"

namespace latchkey::domain {
namespace {

bool all_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string secretkey_checksum(std::string_view body) {
  const Digest d = sha256(body);
  return to_hex(std::span<const std::uint8_t>(d.data(), 4));
}

bool is_apikey(std::string_view s) {
  return s.size() == 27 && s.starts_with("lk_") && all_hex(s.substr(3));
}

bool is_secretkey(std::string_view s) {
  if (s.size() != 4 + 72 || !s.starts_with("lks_") || !all_hex(s.substr(4))) return false;
  return secretkey_checksum(s.substr(0, 68)) == s.substr(68);
}

bool is_principal_id(std::string_view s) {
  return (s.size() == 20 && s.starts_with("usr_") && all_hex(s.substr(4))) ||
         (s.size() == 19 && s.starts_with("sa_") && all_hex(s.substr(3)));
}

}  // namespace latchkey::domain
