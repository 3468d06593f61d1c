#include "http/api.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "http/error_map.h"
#include "replay/queries.h"

namespace latchkey::http {

using projections::ApiKey;
using projections::Principal;
using projections::Views;

bool Caller::has(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Api::Api(ApiDeps deps) : d_(std::move(deps)) {
  add_login_routes();
  add_principal_routes();
  add_key_routes();
  add_settings_routes();
  add_audit_routes();
  add_system_routes();
}

Result<Caller> Api::authenticate(const Request& req) const {
  const auto h = req.header("authorization");
  if (!h) return make_error(Errc::unauthorized, "a bearer token is required");
  std::string_view v = *h;
  if (v.size() < 7 || !(v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) {
    return make_error(Errc::unauthorized, "the Authorization header must be 'Bearer TOKEN'");
  }
  v.remove_prefix(7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  const Micros now = d_.clock.now();
  auto claims = d_.tokens.verify(v, now);
  if (!claims) return claims.error();
  // The token is only as good as its key and principal are now.
  return d_.views.read([&](const Views& views) -> Result<Caller> {
    const ApiKey* key = views.keys.find(claims->apikey);
    if (!key) return make_error(Errc::unauthorized, "token revoked");
    const Principal& p = views.principals.at(key->principal);
    if (p.id != claims->sub || p.deleted() || key->state != projections::KeyState::active ||
        key->principal_deleted) {
      return make_error(Errc::unauthorized, "token revoked");
    }
    return Caller{p.id, p.roles, claims->apikey, claims->jti};
  });
}

Result<Caller> Api::authorize(const Request& req,
                              std::initializer_list<std::string_view> roles) const {
  auto caller = authenticate(req);
  if (!caller) return caller;
  if (roles.size() == 0) return caller;
  for (auto r : roles) {
    if (caller->has(r)) return caller;
  }
  std::string need;
  for (auto r : roles) need += (need.empty() ? "" : " or ") + std::string(r);
  return make_error(Errc::forbidden, "this requires the role " + need);
}

events::RequestContext Api::context(const Request& req, const Caller* caller) const {
  return events::RequestContext{caller ? caller->principal_id : std::string("anonymous"),
                                req.request_id, req.remote_ip};
}

void Api::later(Reply reply, std::function<Response()> build) const {
  d_.post([reply = std::move(reply), build = std::move(build)] {
    Response r = build();
    if (r.status != 0) reply(std::move(r));  // 0: the builder hands the reply on itself
  });
}

Response Api::error(const Request& req, const Error& e) const {
  return error_response(e, req.request_id);
}

Response Api::json(int status, const nlohmann::json& body) const {
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

nlohmann::json Api::principal_json(const Principal& p, const Views& v) const {
  std::size_t keys = 0;
  const Micros now = d_.clock.now();
  for (auto pos : p.keys) {
    const auto s = v.keys.at(pos).status(now);
    if (s != projections::KeyStatus::deleted) ++keys;
  }
  nlohmann::json j = {
      {"id", p.id},
      {"type", projections::kind_name(p.kind)},
      {"name", p.name},
      {"email", p.email.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.email)},
      {"roles", p.roles},
      {"created_at", format_rfc3339(p.created_at)},
      {"updated_at", format_rfc3339(p.updated_at)},
      {"key_count", keys}};
  return j;
}

nlohmann::json Api::key_json(const ApiKey& k, const Views& v, Micros now) const {
  return replay::key_json(k, v, now);
}

}  // namespace latchkey::http
