#pragma once
// Shared helpers of the reliability tests: admin calls over HTTP, JWT parts,
// and reading the log of a data directory the way an auditor would.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "events/event.h"
#include "tests/support/server_process.h"

namespace latchkey::test {

struct IssuedKey {
  std::string principal_id;
  std::string apikey;
  std::string secretkey;
};

// POST /iam/service-accounts then POST .../keys; throws unless both succeed.
IssuedKey new_service_account_key(const ServerProcess& server, const std::string& admin_token,
                                  const std::string& name,
                                  const std::vector<std::string>& roles = {});
// Another key for an existing principal of the given collection ("users" | "service-accounts").
IssuedKey new_key(const ServerProcess& server, const std::string& admin_token,
                  const std::string& collection, const std::string& principal_id);

// PATCH /iam/settings; throws unless 200.
void patch_settings(const ServerProcess& server, const std::string& admin_token,
                    const nlohmann::json& values);

// The decoded JSON of part 0 (header) or 1 (payload) of a compact JWS.
nlohmann::json jwt_part(const std::string& token, int part);
// header.payload.signature from JSON parts and raw signature bytes.
std::string jws(const nlohmann::json& header, const nlohmann::json& payload,
                const std::string& signature);
std::string jws_signing_input(const nlohmann::json& header, const nlohmann::json& payload);

// Every event of the log in `data_dir` (opened read-only, so the server may run).
std::vector<events::Event> read_log(const std::string& data_dir);
// Events of the log for which `keep` is true.
std::vector<events::Event> read_log_if(const std::string& data_dir,
                                       const std::function<bool(const events::Event&)>& keep);

// A fresh X-Request-Id.
std::string request_id(const std::string& prefix);

}  // namespace latchkey::test
