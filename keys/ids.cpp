#include "keys/ids.h"

#include "domain/credentials.h"

namespace latchkey::keys {
namespace {

std::string random_hex(std::size_t bytes) { return to_hex(random_bytes(bytes)); }

}  // namespace

std::string new_apikey() { return "lk_" + random_hex(12); }

std::string new_secretkey() {
  std::string body = "lks_" + random_hex(32);
  return body + domain::secretkey_checksum(body);
}

std::string new_user_id() { return "usr_" + random_hex(8); }
std::string new_service_account_id() { return "sa_" + random_hex(8); }
std::string new_jti() { return to_hex(random_id_bytes(16)); }
std::string new_request_id() { return to_hex(random_id_bytes(12)); }

Pepper Pepper::generate() { return Pepper(random_bytes(32)); }

}  // namespace latchkey::keys
