// POST /iam/login, POST /iam/introspect, GET /iam/.well-known/jwks.json
#include <nlohmann/json.hpp>

#include "domain/credentials.h"
#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "keys/ids.h"

namespace latchkey::http {

namespace {

Error locked(int retry_after_seconds) {
  Error e = make_error(Errc::too_many_requests, "too many failed logins; try again later");
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

Error over_rate(int retry_after_seconds) {
  Error e =
      make_error(Errc::too_many_requests, "this key's login rate is exceeded; try again later");
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

}  // namespace

void Api::add_login_routes() {
  router_.add("POST", "/iam/login", Access::anyone(), [this](const Call& c) { return login(c); });
  router_.add("POST", "/iam/introspect", Access::authenticated(),
              [this](const Call& c) { return introspect(c); });
  router_.add("GET", "/iam/.well-known/jwks.json", Access::anyone(), [this](const Call&) -> Reply {
    Response r = json_response(HttpStatus::ok, d_.tokens.jwks_json(d_.clock.now()));
    r.headers.emplace_back("Cache-Control", "public, max-age=60");
    co_return r;
  });
}

// parse -> (a lock refuses at once) -> decide and commit -> sign -> respond.
Api::Reply Api::login(const Call& c) const {
  auto body = parse_login_body(c.req);
  if (!body) {
    d_.metrics.login("invalid_request");
    co_return error(c, body.error());
  }
  domain::LoginAttempt a;
  a.apikey = body->apikey.size() <= 64 ? body->apikey : std::string();
  a.well_formed = domain::is_apikey(body->apikey) && domain::is_secretkey(body->secretkey);
  a.presented_hash = d_.secrets.pepper().hash(body->secretkey);  // always: timing says nothing
  a.source_ip = c.req.remote_ip;
  const Micros now = d_.clock.now();
  // A locked address or key is refused here, without queueing for the writer.
  const auto [until, kid] = d_.views.read([&](const projections::Views& v) {
    return std::pair{domain::locked_until(v, a.apikey, a.source_ip, now),
                     v.signing.active() ? v.signing.active()->kid : std::string()};
  });
  if (until > now) {
    d_.metrics.login("locked");
    co_return error(c, locked(domain::retry_after_seconds(until, now)));
  }
  a.kid = kid;
  a.jti = keys::new_jti();

  const events::RequestContext ctx = context(c);
  auto op = http::login(d_.commands, std::move(a), ctx);
  auto decision = co_await std::move(op);
  if (!decision) {
    d_.metrics.login("unavailable");
    co_return error(c, decision.error());
  }
  switch (decision->outcome) {
    case domain::LoginOutcome::locked:
      d_.metrics.login("locked");
      co_return error(c, locked(decision->retry_after_seconds));
    case domain::LoginOutcome::rate_limited:
      d_.metrics.login("rate_limited");
      co_return error(c, over_rate(decision->retry_after_seconds));
    case domain::LoginOutcome::refused: {
      d_.metrics.login("invalid_credentials");
      if (!decision->notify_email.empty() && d_.mailer) {
        notify_blocked_use(ctx, body->apikey, decision->blocked_network, decision->notify_email);
      }
      Response r = error(c, make_error(Errc::invalid_credentials, "invalid credentials"));
      r.log_note = decision->reason;  // the true reason, for the server's log only
      co_return r;
    }
    case domain::LoginOutcome::issued: break;
  }
  const events::TokenIssued& claims = *decision->claims;
  auto token = d_.tokens.issue(claims);
  if (!token) co_return error(c, token.error());
  d_.metrics.login("ok");
  // The seed's response, written directly (members in sorted order, as a
  // JSON document would print them).
  std::string out;
  out.reserve(token->size() + 128);
  out += "{\"access_token\":";
  append_json_string(out, *token);
  out += ",\"expires_at\":";
  append_json_string(out, format_rfc3339_seconds(claims.exp * kMicrosPerSecond));
  out += ",\"expires_in\":" + std::to_string(claims.exp - claims.iat);
  out += ",\"token_type\":\"Bearer\"}";
  Response r = json_response(HttpStatus::ok, std::move(out));
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Pragma", "no-cache");
  r.principal = claims.principal_id;
  co_return r;
}

Api::Reply Api::introspect(const Call& c) const {
  auto body = parse_body(c.req, BodyKinds::json_or_form, false);
  if (!body) co_return error(c, body.error());
  Fields f(*body);
  const std::string token = f.required_string("token");
  (void)f.string("token_type_hint");
  if (auto st = f.finish(); !st) co_return error(c, st.error());
  nlohmann::json out = {{"active", false}};
  if (auto claims = d_.tokens.verify(token, d_.clock.now())) {
    const bool stands = d_.views.read([&](const projections::Views& v) {
      return domain::token_stands(v, claims->apikey, claims->sub, claims->jti);
    });
    if (stands) {
      out = {{"active", true},           {"iss", claims->iss},          {"sub", claims->sub},
             {"iat", claims->iat},       {"exp", claims->exp},          {"jti", claims->jti},
             {"apikey", claims->apikey}, {"client_id", claims->apikey}, {"roles", claims->roles},
             {"token_type", "Bearer"}};
    }
  }
  Response r = json(HttpStatus::ok, out);
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

}  // namespace latchkey::http
