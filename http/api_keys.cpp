// Keys: /iam/{users|service-accounts}/{id}/keys... and /iam/me/keys...
#include <nlohmann/json.hpp>

#include "domain/credentials.h"
#include "keys/ids.h"
#include "http/api.h"
#include "http/body.h"
#include "http/error_map.h"

namespace latchkey::http {

using projections::PrincipalKind;
using projections::Views;

void Api::create_key(Request& req, Reply reply, const Caller& caller,
                     std::optional<PrincipalKind> kind, const std::string& principal_id) const {
  auto body = parse_body(req, BodyKinds::json_only, true);
  if (!body) return reply(error(req, body.error()));
  Fields f(*body);
  domain::CreateKey c;
  c.kind = kind;
  c.principal_id = principal_id;
  auto lifetime = f.integer("lifetime_days");
  if (!lifetime) return reply(error(req, lifetime.error()));
  c.lifetime_days = *lifetime;
  auto expires = f.string("expires_at");
  if (!expires) return reply(error(req, expires.error()));
  if (*expires) {
    const auto t = parse_rfc3339(**expires);
    if (!t)
      return reply(error(
          req, make_error(Errc::invalid_request, "expires_at must be an RFC 3339 date-time")));
    c.expires_at = *t;
  }
  auto send_email = f.boolean("send_email");
  if (!send_email) return reply(error(req, send_email.error()));
  c.send_email = send_email->value_or(false);
  auto description = f.string("description");
  if (!description) return reply(error(req, description.error()));
  c.description = description->value_or("");
  if (auto st = f.no_others(); !st) return reply(error(req, st.error()));
  c.mail_configured = d_.mailer != nullptr;

  c.apikey = keys::new_apikey();
  std::string secret = keys::new_secretkey();
  c.secret_hash = d_.secrets.pepper().hash(secret);
  const std::string apikey = c.apikey;
  const bool send = c.send_email;
  const events::RequestContext ctx = context(req, &caller);
  d_.commands.execute(
      std::move(c), ctx, [this, reply, apikey, secret, send, ctx, req](auto r) mutable {
        later(reply, [this, r = std::move(r), reply, apikey, secret, send, ctx, req]() -> Response {
          if (!r) return error_response(r.error(), ctx.request_id);
          const Micros now = d_.clock.now();
          std::string to;
          Micros expires_at = 0;
          nlohmann::json body = d_.views.read([&](const Views& v) {
            const auto* k = v.keys.find(apikey);
            nlohmann::json j = key_json(*k, v, now);
            to = v.principals.at(k->principal).email;
            expires_at = k->expires_at;
            return j;
          });
          body["secretkey"] = secret;
          if (!send) {
            Response resp = json(201, body);
            resp.headers.emplace_back("Cache-Control", "no-store");
            resp.principal = ctx.actor;
            return resp;
          }
          // The key is durable; now the email. Its outcome goes in the response.
          send_key_email(req, ctx, to, apikey, secret, expires_at,
                         [this, reply, body, ctx](nlohmann::json email) mutable {
                           body["email"] = std::move(email);
                           Response resp = json(201, body);
                           resp.headers.emplace_back("Cache-Control", "no-store");
                           resp.principal = ctx.actor;
                           reply(std::move(resp));
                         });
          Response deferred;
          deferred.status = 0;  // replied by the email completion
          return deferred;
        });
      });
}

void Api::list_keys(Request& req, Reply reply, std::optional<PrincipalKind> kind,
                    const std::string& principal_id) const {
  const Micros now = d_.clock.now();
  Response resp = d_.views.read([&](const Views& v) {
    const auto* p = v.principals.find(principal_id);
    if (!p || p->deleted() || (kind && p->kind != *kind)) {
      return error(
          req, make_error(Errc::not_found,
                          "no " + std::string(kind ? projections::kind_name(*kind) : "principal") +
                              " " + principal_id));
    }
    nlohmann::json items = nlohmann::json::array();
    for (auto pos : p->keys) {
      const auto& k = v.keys.at(pos);
      if (k.status(now) == projections::KeyStatus::deleted) continue;
      items.push_back(key_json(k, v, now));
    }
    return json(200, items);
  });
  reply(std::move(resp));
}

void Api::change_key(Request& req, Reply reply, const Caller& caller,
                     std::optional<PrincipalKind> kind, const std::string& principal_id,
                     const std::string& apikey, domain::KeyAction action) const {
  if (!req.body.empty()) {
    auto body = parse_body(req, BodyKinds::json_only, true);
    if (!body) return reply(error(req, body.error()));
    if (!body->empty())
      return reply(error(req, make_error(Errc::invalid_request, "this request takes no fields")));
  }
  domain::ChangeKey c{kind, principal_id, apikey, action};
  d_.commands.execute(
      c, context(req, &caller),
      [this, reply, apikey, action, rid = req.request_id, who = caller.principal_id](auto r) {
        later(reply, [this, r = std::move(r), apikey, action, rid, who]() -> Response {
          if (!r) return error_response(r.error(), rid);
          Response resp;
          if (action == domain::KeyAction::remove) {
            resp.status = 204;
            resp.content_type.clear();
          } else {
            const Micros now = d_.clock.now();
            resp = d_.views.read(
                [&](const Views& v) { return json(200, key_json(*v.keys.find(apikey), v, now)); });
          }
          resp.principal = who;
          return resp;
        });
      });
}

void Api::add_key_routes() {
  for (const auto kind : {PrincipalKind::user, PrincipalKind::service_account}) {
    const std::string base =
        std::string(kind == PrincipalKind::user ? "/iam/users" : "/iam/service-accounts") +
        "/{id}/keys";
    router_.add("POST", base, [this, kind](Request& req, const Params& p, Reply reply) {
      auto caller = authorize(req, {"admin"});
      if (!caller) return reply(error(req, caller.error()));
      create_key(req, std::move(reply), *caller, kind, p.at("id"));
    });
    router_.add("GET", base, [this, kind](Request& req, const Params& p, Reply reply) {
      auto caller = authorize(req, {"admin"});
      if (!caller) return reply(error(req, caller.error()));
      list_keys(req, std::move(reply), kind, p.at("id"));
    });
    for (const auto& [verb, action] : {std::pair{"disable", domain::KeyAction::disable},
                                       std::pair{"enable", domain::KeyAction::enable}}) {
      router_.add("POST", base + "/{apikey}/" + verb,
                  [this, kind, action = action](Request& req, const Params& p, Reply reply) {
                    auto caller = authorize(req, {"admin"});
                    if (!caller) return reply(error(req, caller.error()));
                    change_key(req, std::move(reply), *caller, kind, p.at("id"), p.at("apikey"),
                               action);
                  });
    }
    router_.add("DELETE", base + "/{apikey}",
                [this, kind](Request& req, const Params& p, Reply reply) {
                  auto caller = authorize(req, {"admin"});
                  if (!caller) return reply(error(req, caller.error()));
                  change_key(req, std::move(reply), *caller, kind, p.at("id"), p.at("apikey"),
                             domain::KeyAction::remove);
                });
  }

  // A principal's own keys: any authenticated caller, for itself only.
  router_.add("POST", "/iam/me/keys", [this](Request& req, const Params&, Reply reply) {
    auto caller = authenticate(req);
    if (!caller) return reply(error(req, caller.error()));
    create_key(req, std::move(reply), *caller, std::nullopt, caller->principal_id);
  });
  router_.add("GET", "/iam/me/keys", [this](Request& req, const Params&, Reply reply) {
    auto caller = authenticate(req);
    if (!caller) return reply(error(req, caller.error()));
    list_keys(req, std::move(reply), std::nullopt, caller->principal_id);
  });
  for (const auto& [verb, action] : {std::pair{"disable", domain::KeyAction::disable},
                                     std::pair{"enable", domain::KeyAction::enable}}) {
    router_.add("POST", std::string("/iam/me/keys/{apikey}/") + verb,
                [this, action = action](Request& req, const Params& p, Reply reply) {
                  auto caller = authenticate(req);
                  if (!caller) return reply(error(req, caller.error()));
                  change_key(req, std::move(reply), *caller, std::nullopt, caller->principal_id,
                             p.at("apikey"), action);
                });
  }
  router_.add("DELETE", "/iam/me/keys/{apikey}",
              [this](Request& req, const Params& p, Reply reply) {
                auto caller = authenticate(req);
                if (!caller) return reply(error(req, caller.error()));
                change_key(req, std::move(reply), *caller, std::nullopt, caller->principal_id,
                           p.at("apikey"), domain::KeyAction::remove);
              });
}

}  // namespace latchkey::http
