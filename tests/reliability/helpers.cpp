#include "tests/reliability/helpers.h"

#include <atomic>
#include <stdexcept>

#include "base/encoding.h"
#include "events/event_log.h"
#include "keys/data_keys.h"
#include "keys/secret_store.h"
#include "tests/support/http_client.h"

namespace latchkey::test {

namespace {

nlohmann::json expect(const HttpResponse& r, long status, const std::string& what) {
  if (r.status != status)
    throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body);
  return r.body.empty() ? nlohmann::json() : r.json();
}

}  // namespace

IssuedKey new_key(const ServerProcess& server, const std::string& admin_token,
                  const std::string& collection, const std::string& principal_id) {
  const auto k = expect(post_json(server.url("/iam/" + collection + "/" + principal_id + "/keys"),
                                  nlohmann::json::object(), admin_token),
                        201, "create key");
  return IssuedKey{principal_id, k["apikey"], k["secretkey"]};
}

IssuedKey new_service_account_key(const ServerProcess& server, const std::string& admin_token,
                                  const std::string& name, const std::vector<std::string>& roles) {
  const auto sa = expect(post_json(server.url("/iam/service-accounts"),
                                   {{"name", name}, {"roles", roles}}, admin_token),
                         201, "create service account");
  return new_key(server, admin_token, "service-accounts", sa["id"]);
}

void patch_settings(const ServerProcess& server, const std::string& admin_token,
                    const nlohmann::json& values) {
  expect(patch_json(server.url("/iam/settings"), values, admin_token), 200, "PATCH settings");
}

nlohmann::json jwt_part(const std::string& token, int part) {
  std::size_t start = 0;
  for (int i = 0; i < part; ++i) start = token.find('.', start) + 1;
  const auto end = token.find('.', start);
  const auto bytes = base64url_decode(token.substr(start, end - start));
  if (!bytes) throw std::runtime_error("not base64url");
  return nlohmann::json::parse(*bytes);
}

std::string jws_signing_input(const nlohmann::json& header, const nlohmann::json& payload) {
  return base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
}

std::string jws(const nlohmann::json& header, const nlohmann::json& payload,
                const std::string& signature) {
  return jws_signing_input(header, payload) + "." + base64url_encode(signature);
}

std::vector<events::Event> read_log_if(const std::string& data_dir,
                                       const std::function<bool(const events::Event&)>& keep) {
  auto log =
      events::open_rocksdb_log(keys::SecretStore::log_dir(data_dir), events::OpenMode::read_only);
  if (!log) throw std::runtime_error("cannot open the log: " + log.error().message);
  if (auto data_keys = keys::open_data_keys(data_dir, /*read_only=*/true)) {
    (*log)->set_personal_keys(*data_keys);
  }
  std::vector<events::Event> out;
  const auto st = (*log)->scan(1, UINT64_MAX, [&](const events::Event& e) {
    if (keep(e)) out.push_back(e);
    return true;
  });
  if (!st) throw std::runtime_error("cannot scan the log: " + st.error().message);
  return out;
}

std::vector<events::Event> read_log(const std::string& data_dir) {
  return read_log_if(data_dir, [](const events::Event&) { return true; });
}

std::string request_id(const std::string& prefix) {
  static std::atomic<std::uint64_t> n{0};
  return prefix + "-" + to_hex(random_bytes(4)) + "-" + std::to_string(++n);
}

}  // namespace latchkey::test
