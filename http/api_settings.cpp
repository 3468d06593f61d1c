// GET/PATCH /iam/settings
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"

namespace latchkey::http {

namespace {

// {"name": integer, ...}: which names exist and what range each takes is the
// rule's to say (domain::decide), so an unknown name is refused there.
Result<domain::ChangeSettings> parse_settings(const Request& req) {
  auto body = parse_body(req, BodyKinds::json_only, false);
  if (!body) return body.error();
  domain::ChangeSettings c;
  for (const auto& [name, value] : body->items()) {
    if (!value.is_number_integer() ||
        (value.is_number_unsigned() &&
         value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))) {
      return make_error(Errc::invalid_request, name + " must be an integer");
    }
    c.values.emplace_back(name, value.get<std::int64_t>());
  }
  if (c.values.empty()) return make_error(Errc::invalid_request, "no settings given");
  return c;
}

}  // namespace

void Api::add_settings_routes() {
  router_.add("GET", "/iam/settings", Access::any_role({"admin", "auditor"}),
              [this](const Call& c) { return get_settings(c); });
  router_.add("PATCH", "/iam/settings", Access::any_role({"admin"}),
              [this](const Call& c) { return change_settings(c); });
}

Api::Reply Api::get_settings(const Call&) const {
  co_return d_.views.read(
      [&](const projections::Views& v) { return json(HttpStatus::ok, settings_json(v.settings)); });
}

Api::Reply Api::change_settings(const Call& c) const {
  auto command = parse_settings(c.req);
  if (!command) co_return error(c, command.error());
  auto op = execute(d_.commands, std::move(*command), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  co_return d_.views.read(
      [&](const projections::Views& v) { return json(HttpStatus::ok, settings_json(v.settings)); });
}

}  // namespace latchkey::http
