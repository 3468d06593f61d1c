#include "http/api.h"

#include <nlohmann/json.hpp>

#include "domain/decide.h"
#include "http/error_map.h"

namespace latchkey::http {

Api::Api(ApiDeps deps)
    : d_(std::move(deps)),
      router_([this](const Request& req) { return authenticate(req); },
              [this](const Request& req, std::string_view what) {
                if (d_.server_log) {
                  d_.server_log->error("request failed", {{"request_id", req.request_id},
                                                          {"route", req.method + " " + req.path},
                                                          {"detail", std::string(what)}});
                }
              }) {
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
  auto claims = d_.tokens.verify(v, d_.clock.now());
  if (!claims) return claims.error();
  // The token is only as good as its key and principal are now.
  return d_.views.read([&](const projections::Views& views) -> Result<Caller> {
    if (!domain::token_stands(views, claims->apikey, claims->sub))
      return make_error(Errc::unauthorized, "token revoked");
    const auto& key = *views.keys.find(claims->apikey);
    const auto& p = views.principals.at(key.principal);
    // A key limited to some roles acts with those only, and never with a
    // role its owner no longer holds.
    return Caller{p.id, domain::effective_roles(p, key), claims->apikey, claims->jti,
                  !key.roles.empty() || !key.allowed_cidrs.empty()};
  });
}

events::RequestContext Api::context(const Call& c) const {
  return events::RequestContext{
      c.caller ? c.caller->principal_id : std::string(events::kAnonymousActor), c.req.request_id,
      c.req.remote_ip};
}

Response Api::error(const Call& c, const Error& e) { return error_response(e, c.req.request_id); }

Response Api::json(HttpStatus status, const nlohmann::json& body) {
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace latchkey::http
