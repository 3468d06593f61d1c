#include "http/api.h"

#include <mutex>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "domain/decide.h"
#include "http/error_map.h"

namespace latchkey::http {

namespace {
// The routes of the Api built last: every project's Api has the same, so
// each reuses them and keeps only its handlers (Router::Table).
std::mutex g_routes_mu;
Router::Table g_routes;  // GUARDED_BY(g_routes_mu)

Router::Table last_routes() {
  std::lock_guard lock(g_routes_mu);
  return g_routes;
}
}  // namespace

Api::Api(ApiDeps deps)
    : d_(std::move(deps)),
      router_([this](const Request& req) { return authenticate(req); },
              [this](const Request& req, std::string_view what) {
                if (d_.server_log) {
                  d_.server_log->error("request failed", {{"request_id", req.request_id},
                                                          {"route", req.method + " " + req.path},
                                                          {"detail", std::string(what)}});
                }
              },
              last_routes()) {
  add_login_routes();
  add_principal_routes();
  add_key_routes();
  add_settings_routes();
  add_audit_routes();
  add_system_routes();
  add_session_routes();
  std::lock_guard lock(g_routes_mu);
  g_routes = router_.table();
}

Result<Caller> Api::authenticate(const Request& req) const {
  bool from_cookie = false;
  const auto presented = presented_token(req, &from_cookie);
  if (!presented) {
    if (req.header("authorization"))
      return make_error(Errc::unauthorized, "the Authorization header must be 'Bearer TOKEN'");
    return make_error(Errc::unauthorized, "a bearer token is required");
  }
  const std::string_view v = *presented;
  auto claims = d_.tokens.verify(v, d_.clock.now());
  if (!claims) return claims.error();
  // The token is only as good as its key and principal are now.
  auto caller = d_.views.read([&](const projections::Views& views) -> Result<Caller> {
    if (!domain::token_stands(views, claims->apikey, claims->sub, claims->jti))
      return make_error(Errc::unauthorized, "token revoked");
    const auto& key = *views.keys.find(claims->apikey);
    const auto& p = views.principals.at(key.principal);
    // A key limited to some roles acts with those only, and never with a
    // role its owner no longer holds.
    return Caller{p.id, domain::effective_roles(p, key), claims->apikey, claims->jti,
                  !key.roles.empty() || !key.allowed_cidrs.empty()};
  });
  if (!caller) return caller;
  if (from_cookie && req.method != "GET" && req.method != "HEAD") {
    // SameSite=Strict keeps the cookie off other sites' requests; the CSRF
    // token, which only this origin's scripts can read, is the second lock.
    const auto sent = req.header("x-csrf-token");
    const std::string want = csrf_token(claims->jti);
    if (!sent || !constant_time_equal(
                     std::span(reinterpret_cast<const std::uint8_t*>(sent->data()), sent->size()),
                     std::span(reinterpret_cast<const std::uint8_t*>(want.data()), want.size())))
      return make_error(Errc::forbidden,
                        "a change made with the session cookie needs the session's X-CSRF-Token "
                        "header");
  }
  return caller;
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
