// The console's session: POST|GET|DELETE /iam/session, and GET /iam/usage
// for its charts.
//
// A session is a login whose token the browser keeps in an HttpOnly,
// SameSite=Strict cookie that no script can read, so it survives a reload.
// Writes made with the cookie also carry X-CSRF-Token: an HMAC of the
// token's jti under the pepper, which only this origin's scripts obtain
// (GET /iam/session). Signing out appends token.revoked, so the token is
// refused from then on, wherever it was copied.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"
#include "replay/usage.h"

namespace latchkey::http {

void Api::add_session_routes() {
  router_.add("POST", "/iam/session", Access::anyone(),
              [this](const Call& c) { return create_session(c); });
  router_.add("GET", "/iam/session", Access::authenticated(),
              [this](const Call& c) { return get_session(c); });
  router_.add("DELETE", "/iam/session", Access::authenticated(),
              [this](const Call& c) { return delete_session(c); });
  router_.add("GET", "/iam/usage", Access::any_role({"admin", "auditor"}),
              [this](const Call& c) { return usage(c); });
}

std::optional<std::string_view> Api::presented_token(const Request& req, bool* from_cookie) const {
  if (from_cookie) *from_cookie = false;
  if (const auto h = req.header("authorization")) {
    std::string_view v = *h;
    if (v.size() < 7 || !(v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer "))
      return std::nullopt;
    v.remove_prefix(7);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    return v;
  }
  if (const auto h = req.header("cookie")) {
    if (auto v = cookie_value(*h, d_.session.name); v && !v->empty()) {
      if (from_cookie) *from_cookie = true;
      return v;
    }
  }
  return std::nullopt;
}

std::string Api::csrf_token(std::string_view jti) const {
  const Digest mac = d_.secrets.pepper().hash("latchkey-csrf:v1:" + std::string(jti));
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

// The login itself is POST /iam/login's, with all its rules (lockouts, rate
// limits, metrics, token.issued); only the token's way back differs.
Api::Reply Api::create_session(const Call& c) const {
  auto op = login(c);
  Response r = co_await std::move(op);
  if (r.status != HttpStatus::ok) co_return r;
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("access_token"))
    co_return error(c, make_error(Errc::internal, "the login gave no token"));
  const std::string token = body.at("access_token").get<std::string>();
  auto claims = d_.tokens.verify(token, d_.clock.now());
  if (!claims) co_return error(c, claims.error());
  Response out = json(HttpStatus::ok, {{"principal_id", claims->sub},
                                       {"csrf_token", csrf_token(claims->jti)},
                                       {"expires_in", body.at("expires_in")},
                                       {"expires_at", body.at("expires_at")}});
  out.headers.emplace_back("Set-Cookie", set_cookie(d_.session, token, body.at("expires_in")));
  out.headers.emplace_back("Cache-Control", "no-store");
  out.headers.emplace_back("Pragma", "no-cache");
  out.principal = r.principal;
  out.log_note = r.log_note;
  co_return out;
}

Api::Reply Api::get_session(const Call& c) const {
  auto claims = d_.tokens.verify(presented_token(c.req, nullptr).value_or(""), d_.clock.now());
  if (!claims) co_return error(c, claims.error());
  Response r = json(
      HttpStatus::ok,
      {{"principal_id", claims->sub},
       {"apikey", claims->apikey},
       {"csrf_token", csrf_token(claims->jti)},
       {"expires_in", std::max<std::int64_t>(0, claims->exp - d_.clock.now() / kMicrosPerSecond)},
       {"expires_at", format_rfc3339_seconds(claims->exp * kMicrosPerSecond)}});
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

// Revokes the token that authenticates the request (the cookie's, or a bearer
// token's: an API client may sign out too) and clears the cookie.
Api::Reply Api::delete_session(const Call& c) const {
  if (!c.req.body.empty())
    co_return error(c, make_error(Errc::invalid_request, "this request takes no body"));
  auto claims = d_.tokens.verify(presented_token(c.req, nullptr).value_or(""), d_.clock.now());
  if (!claims) co_return error(c, claims.error());
  std::vector<events::Draft> drafts;
  drafts.push_back(events::Draft{
      events::EventType::token_revoked,
      events::TokenRevoked{claims->jti, claims->apikey, claims->sub, claims->exp, "signed_out"},
      {}});
  auto op = record(d_.commands, std::move(drafts), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  Response r;
  r.status = HttpStatus::no_content;
  r.content_type.clear();
  r.headers.emplace_back("Set-Cookie", set_cookie(d_.session, "", 0));
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

Api::Reply Api::usage(const Call& c) const {
  const auto period = usage_period_of(c.req.query);
  if (!period) co_return error(c, period.error());
  auto u = replay::usage(d_.log, *period, d_.clock.now());
  if (!u) co_return error(c, u.error());
  co_return json(HttpStatus::ok, usage_json(*u));
}

}  // namespace latchkey::http
