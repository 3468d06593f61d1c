// GET/PATCH /iam/settings
#include <nlohmann/json.hpp>

#include "domain/decide.h"
#include "http/api.h"
#include "http/body.h"
#include "http/error_map.h"

namespace latchkey::http {

using projections::Views;

namespace {
nlohmann::json settings_json(const projections::Settings& s) {
  nlohmann::json j = nlohmann::json::object();
  s.each([&](const char* name, const std::int64_t& v) { j[name] = v; });
  return j;
}
}  // namespace

void Api::add_settings_routes() {
  router_.add("GET", "/iam/settings", [this](Request& req, const Params&, Reply reply) {
    auto caller = authorize(req, {"admin", "auditor"});
    if (!caller) return reply(error(req, caller.error()));
    Response resp =
        d_.views.read([&](const Views& v) { return json(200, settings_json(v.settings)); });
    resp.principal = caller->principal_id;
    reply(std::move(resp));
  });

  router_.add("PATCH", "/iam/settings", [this](Request& req, const Params&, Reply reply) {
    auto caller = authorize(req, {"admin"});
    if (!caller) return reply(error(req, caller.error()));
    auto body = parse_body(req, BodyKinds::json_only, false);
    if (!body) return reply(error(req, body.error()));
    domain::ChangeSettings c;
    for (const auto& [name, value] : body->items()) {
      if (!value.is_number_integer() ||
          (value.is_number_unsigned() &&
           value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))) {
        return reply(error(req, make_error(Errc::invalid_request, name + " must be an integer")));
      }
      c.values.emplace_back(name, value.get<std::int64_t>());
    }
    if (c.values.empty())
      return reply(error(req, make_error(Errc::invalid_request, "no settings given")));
    d_.commands.execute(c, context(req, &*caller),
                        [this, reply, rid = req.request_id, who = caller->principal_id](auto r) {
                          later(reply, [this, r = std::move(r), rid, who]() -> Response {
                            if (!r) return error_response(r.error(), rid);
                            Response resp = d_.views.read([&](const Views& v) {
                              return json(200, settings_json(v.settings));
                            });
                            resp.principal = who;
                            return resp;
                          });
                        });
  });
}

}  // namespace latchkey::http
