// /iam/users, /iam/service-accounts and /iam/me
#include <nlohmann/json.hpp>

#include "domain/credentials.h"
#include "keys/ids.h"
#include "http/api.h"
#include "http/body.h"
#include "http/error_map.h"

namespace latchkey::http {

using projections::PrincipalKind;
using projections::Views;

namespace {
constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 500;
}  // namespace

void Api::add_principal_routes() {
  for (const auto kind : {PrincipalKind::user, PrincipalKind::service_account}) {
    const std::string base = kind == PrincipalKind::user ? "/iam/users" : "/iam/service-accounts";

    router_.add("POST", base, [this, kind, base](Request& req, const Params&, Reply reply) {
      auto caller = authorize(req, {"admin"});
      if (!caller) return reply(error(req, caller.error()));
      auto body = parse_body(req, BodyKinds::json_only, false);
      if (!body) return reply(error(req, body.error()));
      Fields f(*body);
      domain::CreatePrincipal c;
      c.kind = kind;
      auto name = f.required_string("name");
      if (!name) return reply(error(req, name.error()));
      c.name = *name;
      auto email = f.string("email");
      if (!email) return reply(error(req, email.error()));
      c.email = email->value_or("");
      auto roles = f.strings("roles");
      if (!roles) return reply(error(req, roles.error()));
      c.roles = roles->value_or(std::vector<std::string>{});
      if (auto st = f.no_others(); !st) return reply(error(req, st.error()));
      c.id = kind == PrincipalKind::user ? keys::new_user_id() : keys::new_service_account_id();
      const std::string id = c.id;
      d_.commands.execute(
          c, context(req, &*caller),
          [this, reply, id, base, rid = req.request_id, who = caller->principal_id](auto r) {
            later(reply, [this, r = std::move(r), id, base, rid, who]() -> Response {
              if (!r) return error_response(r.error(), rid);
              Response resp = d_.views.read([&](const Views& v) {
                return json(201, principal_json(*v.principals.find(id), v));
              });
              resp.headers.emplace_back("Location", base + "/" + id);
              resp.principal = who;
              return resp;
            });
          });
    });

    router_.add("GET", base, [this, kind](Request& req, const Params&, Reply reply) {
      auto caller = authorize(req, {"admin"});
      if (!caller) return reply(error(req, caller.error()));
      auto q = parse_query(req.query);
      if (!q) return reply(error(req, q.error()));
      std::size_t limit = kDefaultLimit;
      std::int64_t after = -1;
      std::string search;
      for (const auto& [k, v] : *q) {
        if (k == "search") {
          search = v;
        } else if (k == "limit") {
          try {
            std::size_t pos = 0;
            const long long n = std::stoll(v, &pos);
            if (pos != v.size() || n < 1 || n > static_cast<long long>(kMaxLimit))
              throw std::out_of_range("limit");
            limit = static_cast<std::size_t>(n);
          } catch (...) {
            return reply(
                error(req, make_error(Errc::invalid_request,
                                      "limit must be from 1 to " + std::to_string(kMaxLimit))));
          }
        } else if (k == "cursor") {
          try {
            std::size_t pos = 0;
            const long long n = std::stoll(v, &pos);
            if (pos != v.size() || n < 0) throw std::out_of_range("cursor");
            after = n;
          } catch (...) {
            return reply(error(
                req, make_error(Errc::invalid_request, "cursor is not one this server gave")));
          }
        } else {
          return reply(
              error(req, make_error(Errc::invalid_request, "unknown query parameter '" + k + "'")));
        }
      }
      Response resp = d_.views.read([&](const Views& v) {
        const auto page = v.principals.list(kind, search, after, limit);
        nlohmann::json items = nlohmann::json::array();
        for (const auto* p : page.items) items.push_back(principal_json(*p, v));
        return json(200, {{"items", std::move(items)},
                          {"next", page.next ? nlohmann::json(std::to_string(*page.next))
                                             : nlohmann::json(nullptr)}});
      });
      resp.principal = caller->principal_id;
      reply(std::move(resp));
    });

    router_.add(
        "GET", base + "/{id}", [this, kind](Request& req, const Params& params, Reply reply) {
          auto caller = authorize(req, {"admin"});
          if (!caller) return reply(error(req, caller.error()));
          const std::string& id = params.at("id");
          Response resp = d_.views.read([&](const Views& v) {
            const auto* p = v.principals.find(id);
            if (!p || p->deleted() || p->kind != kind) {
              return error(
                  req, make_error(Errc::not_found,
                                  std::string("no ") + projections::kind_name(kind) + " " + id));
            }
            return json(200, principal_json(*p, v));
          });
          resp.principal = caller->principal_id;
          reply(std::move(resp));
        });

    router_.add("PATCH", base + "/{id}",
                [this, kind](Request& req, const Params& params, Reply reply) {
                  auto caller = authorize(req, {"admin"});
                  if (!caller) return reply(error(req, caller.error()));
                  auto body = parse_body(req, BodyKinds::json_only, false);
                  if (!body) return reply(error(req, body.error()));
                  Fields f(*body);
                  domain::UpdatePrincipal u;
                  u.kind = kind;
                  u.id = params.at("id");
                  auto name = f.string("name");
                  if (!name) return reply(error(req, name.error()));
                  auto email = f.string("email");
                  if (!email) return reply(error(req, email.error()));
                  auto roles = f.strings("roles");
                  if (!roles) return reply(error(req, roles.error()));
                  if (auto st = f.no_others(); !st) return reply(error(req, st.error()));
                  u.name = *name;
                  u.email = *email;
                  u.roles = *roles;
                  const std::string id = u.id;
                  d_.commands.execute(
                      u, context(req, &*caller),
                      [this, reply, id, rid = req.request_id, who = caller->principal_id](auto r) {
                        later(reply, [this, r = std::move(r), id, rid, who]() -> Response {
                          if (!r) return error_response(r.error(), rid);
                          Response resp = d_.views.read([&](const Views& v) {
                            return json(200, principal_json(*v.principals.find(id), v));
                          });
                          resp.principal = who;
                          return resp;
                        });
                      });
                });

    router_.add("DELETE", base + "/{id}",
                [this, kind](Request& req, const Params& params, Reply reply) {
                  auto caller = authorize(req, {"admin"});
                  if (!caller) return reply(error(req, caller.error()));
                  domain::DeletePrincipal c{kind, params.at("id")};
                  d_.commands.execute(
                      c, context(req, &*caller),
                      [this, reply, rid = req.request_id, who = caller->principal_id](auto r) {
                        later(reply, [r = std::move(r), rid, who]() -> Response {
                          if (!r) return error_response(r.error(), rid);
                          Response resp;
                          resp.status = 204;
                          resp.content_type.clear();
                          resp.principal = who;
                          return resp;
                        });
                      });
                });
  }

  router_.add("GET", "/iam/me", [this](Request& req, const Params&, Reply reply) {
    auto caller = authenticate(req);
    if (!caller) return reply(error(req, caller.error()));
    Response resp = d_.views.read([&](const Views& v) {
      nlohmann::json j = principal_json(*v.principals.find(caller->principal_id), v);
      j["apikey"] = caller->apikey;
      return json(200, j);
    });
    resp.principal = caller->principal_id;
    reply(std::move(resp));
  });
}

}  // namespace latchkey::http
