// /healthz, /readyz, /metrics, signing key rotation, the console's files.
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/error_map.h"

namespace latchkey::http {

using projections::Views;

void Api::add_system_routes() {
  router_.add("GET", "/healthz", [this](Request&, const Params&, Reply reply) {
    reply(json(200, {{"status", "ok"}}));
  });

  router_.add("GET", "/readyz", [this](Request&, const Params&, Reply reply) {
    const bool ok = !d_.writable || d_.writable();
    const auto seq = d_.views.seq();
    reply(json(ok ? 200 : 503, {{"status", ok ? "ready" : "unavailable"}, {"seq", seq}}));
  });

  router_.add("GET", "/metrics", [this](Request& req, const Params&, Reply reply) {
    if (!d_.config.metrics_public) {
      auto caller = authorize(req, {"admin", "auditor"});
      if (!caller) return reply(error(req, caller.error()));
    }
    Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = d_.metrics.render();
    reply(std::move(r));
  });

  // Adds a new signing key; the old one stays published until its tokens expire.
  router_.add("POST", "/iam/signing-keys/rotate", [this](Request& req, const Params&, Reply reply) {
    auto caller = authorize(req, {"admin"});
    if (!caller) return reply(error(req, caller.error()));
    if (!req.body.empty())
      return reply(error(req, make_error(Errc::invalid_request, "this request takes no body")));
    const auto alg = alg_from_name(d_.config.algorithm).value_or(SignAlg::es256);
    auto key = d_.secrets.add_signing_key(alg);
    if (!key) return reply(error(req, key.error()));
    domain::RotateSigningKey c{(*key)->kid(), alg_name(alg), (*key)->public_key().jwk()};
    const std::string kid = c.kid;
    d_.commands.execute(c, context(req, &*caller),
                        [this, reply, kid, rid = req.request_id](auto r) {
                          later(reply, [this, r = std::move(r), kid, rid]() -> Response {
                            if (!r) return error_response(r.error(), rid);
                            return json(201, {{"kid", kid}, {"alg", d_.config.algorithm}});
                          });
                        });
  });

  if (d_.console) {
    auto serve = [this](Request& req, const Params&, Reply reply) {
      Response r;
      if (!d_.console(req.path, r))
        return reply(error(req, make_error(Errc::not_found, "no such console file")));
      reply(std::move(r));
    };
    // The console's relative links need the trailing slash.
    router_.add("GET", "/console", [](Request&, const Params&, Reply reply) {
      Response r;
      r.status = 308;
      r.content_type.clear();
      r.headers.emplace_back("Location", "/console/");
      reply(std::move(r));
    });
    router_.add("GET", "/console/", serve);
    router_.add("GET", "/console/{file}", serve);
    router_.add("GET", "/console/{dir}/{file}", serve);
  }
}

}  // namespace latchkey::http
