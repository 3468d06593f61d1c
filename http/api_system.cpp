// /healthz, /readyz, /metrics, signing key rotation, the console's files.
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/awaitable.h"
#include "http/error_map.h"

namespace latchkey::http {

void Api::add_system_routes() {
  router_.add("GET", "/healthz", Access::anyone(), [](const Call&) -> Reply {
    co_return json(HttpStatus::ok, {{"status", "ok"}});
  });

  router_.add("GET", "/readyz", Access::anyone(), [this](const Call&) -> Reply {
    const bool ok = !d_.writable || d_.writable();
    co_return json(ok ? HttpStatus::ok : HttpStatus::service_unavailable,
                   {{"status", ok ? "ready" : "unavailable"}, {"seq", d_.views.seq()}});
  });

  router_.add("GET", "/metrics",
              d_.config.metrics_public ? Access::anyone() : Access::any_role({"admin", "auditor"}),
              [this](const Call&) -> Reply {
                Response r;
                r.content_type = "text/plain; version=0.0.4";
                r.body = d_.metrics.render();
                co_return r;
              });

  // Adds a new signing key; the old one stays published until its tokens expire.
  router_.add("POST", "/iam/signing-keys/rotate", Access::any_role({"admin"}),
              [this](const Call& c) { return rotate_signing_key(c); });

  if (d_.console) {
    auto serve = [this](const Call& c) -> Reply {
      Response r;
      if (!d_.console(c.req.path, r))
        co_return error(c, make_error(Errc::not_found, "no such console file"));
      co_return r;
    };
    // The console's relative links need the trailing slash.
    router_.add("GET", "/console", Access::anyone(), [](const Call&) -> Reply {
      Response r;
      r.status = HttpStatus::permanent_redirect;
      r.content_type.clear();
      r.headers.emplace_back("Location", "/console/");
      co_return r;
    });
    router_.add("GET", "/console/", Access::anyone(), serve);
    router_.add("GET", "/console/{file}", Access::anyone(), serve);
    router_.add("GET", "/console/{dir}/{file}", Access::anyone(), serve);
  }
}

Api::Reply Api::rotate_signing_key(const Call& c) const {
  if (!c.req.body.empty())
    co_return error(c, make_error(Errc::invalid_request, "this request takes no body"));
  const auto alg = alg_from_name(d_.config.algorithm).value_or(SignAlg::es256);
  auto key = d_.secrets.add_signing_key(alg);
  if (!key) co_return error(c, key.error());
  domain::RotateSigningKey command{(*key)->kid(), alg_name(alg), (*key)->public_key().jwk()};
  auto op = execute(d_.commands, std::move(command), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  co_return json(HttpStatus::created, {{"kid", (*key)->kid()}, {"alg", d_.config.algorithm}});
}

}  // namespace latchkey::http
