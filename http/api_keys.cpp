// Keys: /iam/{users|service-accounts}/{id}/keys... and /iam/me/keys...
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"
#include "keys/ids.h"

namespace latchkey::http {

using projections::PrincipalKind;
using projections::Views;

namespace {

// The body of a key creation; the fresh apikey is chosen here, the secret by the caller.
Result<domain::CreateKey> parse_create_key(const Request& req) {
  auto body = parse_body(req, BodyKinds::json_only, true);
  if (!body) return body.error();
  Fields f(*body);
  domain::CreateKey c;
  c.lifetime_days = f.integer("lifetime_days");
  const auto expires = f.string("expires_at");
  c.send_email = f.boolean("send_email").value_or(false);
  c.description = f.string("description").value_or("");
  c.allowed_cidrs = f.strings("allowed_cidrs").value_or(std::vector<std::string>{});
  c.roles = f.strings("roles").value_or(std::vector<std::string>{});
  c.rate_per_minute = f.integer("rate_per_minute").value_or(0);
  if (auto st = f.finish(); !st) return st.error();
  if (expires) {
    const auto t = parse_rfc3339(*expires);
    if (!t) return make_error(Errc::invalid_request, "expires_at must be an RFC 3339 date-time");
    c.expires_at = *t;
  }
  c.apikey = keys::new_apikey();
  return c;
}

// The body of a key's PATCH: its description and limits.
Result<domain::UpdateKey> parse_update_key(const Request& req) {
  auto body = parse_body(req, BodyKinds::json_only, false);
  if (!body) return body.error();
  Fields f(*body);
  domain::UpdateKey u;
  u.description = f.string("description");
  u.allowed_cidrs = f.strings("allowed_cidrs");
  u.roles = f.strings("roles");
  u.rate_per_minute = f.integer("rate_per_minute");
  if (auto st = f.finish(); !st) return st.error();
  return u;
}

// Disable, enable and delete take no fields.
Status no_fields(const Request& req) {
  if (req.body.empty()) return {};
  auto body = parse_body(req, BodyKinds::json_only, true);
  if (!body) return body.error();
  if (!body->empty()) return make_error(Errc::invalid_request, "this request takes no fields");
  return {};
}

Error limited_key() {
  return make_error(Errc::forbidden,
                    "a key with allowed networks or a subset of roles cannot create or change keys "
                    "for itself; use an unlimited key or ask an admin");
}

}  // namespace

void Api::add_key_routes() {
  const Access admin = Access::any_role({"admin"});
  const std::pair<const char*, domain::KeyAction> actions[] = {
      {"disable", domain::KeyAction::disable}, {"enable", domain::KeyAction::enable}};
  for (const auto kind : {PrincipalKind::user, PrincipalKind::service_account}) {
    const std::string base =
        std::string(kind == PrincipalKind::user ? "/iam/users" : "/iam/service-accounts") +
        "/{id}/keys";
    router_.add("POST", base, admin,
                [this, kind](const Call& c) { return create_key(c, kind, c.param("id")); });
    router_.add("GET", base, admin,
                [this, kind](const Call& c) { return list_keys(c, kind, c.param("id")); });
    for (const auto& [verb, action] : actions) {
      router_.add("POST", base + "/{apikey}/" + verb, admin, [this, kind, action](const Call& c) {
        return change_key(c, kind, c.param("id"), action);
      });
    }
    router_.add("DELETE", base + "/{apikey}", admin, [this, kind](const Call& c) {
      return change_key(c, kind, c.param("id"), domain::KeyAction::remove);
    });
    router_.add("PATCH", base + "/{apikey}", admin,
                [this, kind](const Call& c) { return update_key(c, kind, c.param("id")); });
  }

  // A principal's own keys: any authenticated caller, for itself only.
  const Access self = Access::authenticated();
  router_.add("POST", "/iam/me/keys", self,
              [this](const Call& c) { return create_key(c, std::nullopt, c.who().principal_id); });
  router_.add("GET", "/iam/me/keys", self,
              [this](const Call& c) { return list_keys(c, std::nullopt, c.who().principal_id); });
  for (const auto& [verb, action] : actions) {
    router_.add("POST", std::string("/iam/me/keys/{apikey}/") + verb, self,
                [this, action](const Call& c) {
                  return change_key(c, std::nullopt, c.who().principal_id, action);
                });
  }
  router_.add("DELETE", "/iam/me/keys/{apikey}", self, [this](const Call& c) {
    return change_key(c, std::nullopt, c.who().principal_id, domain::KeyAction::remove);
  });
  router_.add("PATCH", "/iam/me/keys/{apikey}", self,
              [this](const Call& c) { return update_key(c, std::nullopt, c.who().principal_id); });
}

Api::Reply Api::create_key(const Call& c, std::optional<PrincipalKind> kind,
                           const std::string& principal_id) const {
  if (!kind && c.who().limited_key) co_return error(c, limited_key());
  auto command = parse_create_key(c.req);
  if (!command) co_return error(c, command.error());
  command->kind = kind;
  command->principal_id = principal_id;
  command->mail_configured = d_.mailer != nullptr;
  const std::string secret = keys::new_secretkey();
  command->secret_hash = d_.secrets.pepper().hash(secret);
  const std::string apikey = command->apikey;
  const bool send = command->send_email;
  const events::RequestContext ctx = context(c);
  auto op = execute(d_.commands, std::move(*command), ctx);
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  nlohmann::json body = d_.views.read(
      [&](const Views& v) { return key_json(*v.keys.find(apikey), v, d_.clock.now()); });
  body["secretkey"] = secret;
  // The key is durable; now the email, whose outcome goes in the response.
  if (send) {
    auto sending = send_key_email(ctx, apikey, secret);
    body["email"] = co_await std::move(sending);
  }
  Response r = json(HttpStatus::created, body);
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

Api::Reply Api::list_keys(const Call& c, std::optional<PrincipalKind> kind,
                          const std::string& principal_id) const {
  co_return d_.views.read([&](const Views& v) {
    const auto* p = v.principals.find(principal_id);
    if (!p || p->deleted() || (kind && p->kind != *kind)) {
      return error(
          c, make_error(Errc::not_found,
                        "no " + std::string(kind ? projections::kind_name(*kind) : "principal") +
                            " " + principal_id));
    }
    const Micros now = d_.clock.now();
    nlohmann::json items = nlohmann::json::array();
    for (auto pos : p->keys) {
      const auto& k = v.keys.at(pos);
      if (k.status(now) != projections::KeyStatus::deleted) items.push_back(key_json(k, v, now));
    }
    return json(HttpStatus::ok, items);
  });
}

Api::Reply Api::change_key(const Call& c, std::optional<PrincipalKind> kind,
                           const std::string& principal_id, domain::KeyAction action) const {
  if (auto st = no_fields(c.req); !st) co_return error(c, st.error());
  const std::string& apikey = c.param("apikey");
  auto op = execute(d_.commands, domain::ChangeKey{kind, principal_id, apikey, action}, context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  if (action == domain::KeyAction::remove) {
    Response r;
    r.status = HttpStatus::no_content;
    r.content_type.clear();
    co_return r;
  }
  co_return d_.views.read([&](const Views& v) {
    return json(HttpStatus::ok, key_json(*v.keys.find(apikey), v, d_.clock.now()));
  });
}

}  // namespace latchkey::http

namespace latchkey::http {

Api::Reply Api::update_key(const Call& c, std::optional<PrincipalKind> kind,
                           const std::string& principal_id) const {
  if (!kind && c.who().limited_key) co_return error(c, limited_key());
  auto command = parse_update_key(c.req);
  if (!command) co_return error(c, command.error());
  command->kind = kind;
  command->principal_id = principal_id;
  command->apikey = c.param("apikey");
  const std::string apikey = command->apikey;
  auto op = execute(d_.commands, std::move(*command), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  co_return d_.views.read([&](const Views& v) {
    return json(HttpStatus::ok, key_json(*v.keys.find(apikey), v, d_.clock.now()));
  });
}

}  // namespace latchkey::http
