// POST /iam/login, POST /iam/introspect, GET /iam/.well-known/jwks.json
#include <nlohmann/json.hpp>

#include "domain/credentials.h"
#include "keys/ids.h"
#include "http/api.h"
#include "http/body.h"
#include "http/error_map.h"

namespace latchkey::http {

using projections::Views;

void Api::add_login_routes() {
  router_.add("POST", "/iam/login", [this](Request& req, const Params&, Reply reply) {
    auto fail = [&](const Error& e, const std::string& outcome) {
      d_.metrics.login(outcome);
      reply(error(req, e));
    };
    auto body = parse_body(req, BodyKinds::json_or_form, false);
    if (!body) return fail(body.error(), "invalid_request");
    Fields f(*body);
    auto mode = f.required_string("auth_mode");
    if (!mode) return fail(mode.error(), "invalid_request");
    if (*mode != "apikey")
      return fail(make_error(Errc::invalid_request, "auth_mode must be \"apikey\""),
                  "invalid_request");
    auto apikey = f.required_string("apikey");
    if (!apikey) return fail(apikey.error(), "invalid_request");
    auto secret = f.required_string("secretkey");
    if (!secret) return fail(secret.error(), "invalid_request");
    if (auto st = f.no_others(); !st) return fail(st.error(), "invalid_request");

    domain::LoginAttempt a;
    a.apikey = apikey->size() <= 64 ? *apikey : std::string();
    a.well_formed = domain::is_apikey(*apikey) && domain::is_secretkey(*secret);
    a.presented_hash = d_.secrets.pepper().hash(*secret);  // always, so timing says nothing
    a.source_ip = req.remote_ip;
    const Micros now = d_.clock.now();
    // A locked address or key is refused here without queueing for the writer.
    const auto [locked_until, kid] = d_.views.read([&](const Views& v) {
      Micros until = v.lockouts.locked_until("source", a.source_ip, now);
      if (domain::is_apikey(a.apikey))
        until = std::max(until, v.lockouts.locked_until("apikey", a.apikey, now));
      return std::pair{until, v.signing.active() ? v.signing.active()->kid : std::string()};
    });
    if (locked_until > now) {
      Error e = make_error(Errc::too_many_requests, "too many failed logins; try again later");
      e.retry_after_seconds =
          static_cast<int>((locked_until - now + kMicrosPerSecond - 1) / kMicrosPerSecond);
      return fail(e, "locked");
    }
    a.kid = kid;
    a.jti = keys::new_jti();
    d_.commands.login(
        std::move(a), context(req, nullptr),
        [this, reply, rid = req.request_id](Result<domain::LoginDecision> r) mutable {
          later(reply, [this, r = std::move(r), rid]() -> Response {
            if (!r) {
              d_.metrics.login("unavailable");
              return error_response(r.error(), rid);
            }
            if (r->outcome == Errc::too_many_requests) {
              d_.metrics.login("locked");
              Error e =
                  make_error(Errc::too_many_requests, "too many failed logins; try again later");
              e.retry_after_seconds = r->retry_after_seconds;
              return error_response(e, rid);
            }
            if (r->outcome != Errc::ok) {
              d_.metrics.login("invalid_credentials");
              Response resp =
                  error_response(make_error(Errc::invalid_credentials, "invalid credentials"), rid);
              resp.log_note = r->reason;  // the true reason, for the server's log only
              return resp;
            }
            auto token = d_.tokens.issue(*r->claims);
            if (!token) return error_response(token.error(), rid);
            d_.metrics.login("ok");
            const nlohmann::json body = {
                {"access_token", *token},
                {"token_type", "Bearer"},
                {"expires_in", r->claims->exp - r->claims->iat},
                {"expires_at", format_rfc3339_seconds(r->claims->exp * kMicrosPerSecond)}};
            Response resp = json_response(200, body.dump());
            resp.headers.emplace_back("Cache-Control", "no-store");
            resp.headers.emplace_back("Pragma", "no-cache");
            resp.principal = r->claims->principal_id;
            return resp;
          });
        });
  });

  router_.add("POST", "/iam/introspect", [this](Request& req, const Params&, Reply reply) {
    auto caller = authenticate(req);
    if (!caller) return reply(error(req, caller.error()));
    auto body = parse_body(req, BodyKinds::json_or_form, false);
    if (!body) return reply(error(req, body.error()));
    Fields f(*body);
    auto token = f.required_string("token");
    if (!token) return reply(error(req, token.error()));
    (void)f.string("token_type_hint");
    if (auto st = f.no_others(); !st) return reply(error(req, st.error()));
    const Micros now = d_.clock.now();
    nlohmann::json out = {{"active", false}};
    auto claims = d_.tokens.verify(*token, now);
    if (claims) {
      d_.views.read([&](const Views& v) {
        const auto* key = v.keys.find(claims->apikey);
        if (!key) return 0;
        const auto& p = v.principals.at(key->principal);
        if (p.id != claims->sub || p.deleted() || key->principal_deleted ||
            key->state != projections::KeyState::active) {
          return 0;
        }
        out = {{"active", true},           {"iss", claims->iss},          {"sub", claims->sub},
               {"iat", claims->iat},       {"exp", claims->exp},          {"jti", claims->jti},
               {"apikey", claims->apikey}, {"client_id", claims->apikey}, {"roles", claims->roles},
               {"token_type", "Bearer"}};
        return 0;
      });
    }
    Response resp = json(200, out);
    resp.headers.emplace_back("Cache-Control", "no-store");
    resp.principal = caller->principal_id;
    reply(std::move(resp));
  });

  router_.add("GET", "/iam/.well-known/jwks.json", [this](Request&, const Params&, Reply reply) {
    Response resp = json_response(200, d_.tokens.jwks_json(d_.clock.now()));
    resp.headers.emplace_back("Cache-Control", "public, max-age=60");
    reply(std::move(resp));
  });
}

}  // namespace latchkey::http
