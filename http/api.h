#pragma once
// The HTTP API of the contract (../docs/openapi.yaml), as handlers over the
// command service and the views. Thread-safe: handlers run on any I/O thread.

#include <functional>
#include <initializer_list>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "service/command_service.h"
#include "keys/secret_store.h"
#include "events/event_log.h"
#include "http/config.h"
#include "http/mailer.h"
#include "http/metrics.h"
#include "http/router.h"
#include "keys/tokens.h"
#include "projections/live_views.h"

namespace latchkey::http {

struct ApiDeps {
  service::CommandService& commands;
  projections::LiveViews& views;
  events::EventLog& log;
  keys::SecretStore& secrets;
  keys::TokenService& tokens;
  const Clock& clock;
  Metrics& metrics;
  const Config& config;
  Mailer* mailer = nullptr;  // nullptr: no SMTP configured
  // Runs a task on an I/O thread (completions of the writer thread hop here).
  std::function<void(std::function<void()>)> post;
  // Whether the log accepted its latest append (readiness).
  std::function<bool()> writable;
  // Serves /console/ files; may be empty.
  std::function<bool(const std::string& path, Response& out)> console;
};

struct Caller {
  std::string principal_id;
  std::vector<std::string> roles;
  std::string apikey;
  std::string jti;
  bool has(std::string_view role) const;
};

class Api {
 public:
  explicit Api(ApiDeps deps);
  void handle(Request& req, Reply reply) const { router_.dispatch(req, std::move(reply)); }
  const Router& router() const { return router_; }

 private:
  // ---- helpers (api.cpp) ----
  Result<Caller> authenticate(const Request& req) const;
  // Authenticated with one of `roles` (forbidden otherwise); empty: any role.
  Result<Caller> authorize(const Request& req, std::initializer_list<std::string_view> roles) const;
  events::RequestContext context(const Request& req, const Caller* caller) const;
  // Builds the reply on an I/O thread (call from writer-thread completions).
  // A built response with status 0 means the builder replies later itself.
  void later(Reply reply, std::function<Response()> build) const;
  Response error(const Request& req, const Error& e) const;
  Response json(int status, const nlohmann::json& body) const;
  nlohmann::json principal_json(const projections::Principal& p, const projections::Views& v) const;
  nlohmann::json key_json(const projections::ApiKey& k, const projections::Views& v,
                          Micros now) const;

  // ---- routes ----
  void add_login_routes();      // api_login.cpp
  void add_principal_routes();  // api_principals.cpp
  void add_key_routes();        // api_keys.cpp
  void add_settings_routes();   // api_settings.cpp
  void add_audit_routes();      // api_audit.cpp
  void add_system_routes();     // api_system.cpp

  // Shared by /iam/{users|service-accounts}/{id}/keys and /iam/me/keys.
  void create_key(Request& req, Reply reply, const Caller& caller,
                  std::optional<projections::PrincipalKind> kind,
                  const std::string& principal_id) const;
  void list_keys(Request& req, Reply reply, std::optional<projections::PrincipalKind> kind,
                 const std::string& principal_id) const;
  void change_key(Request& req, Reply reply, const Caller& caller,
                  std::optional<projections::PrincipalKind> kind, const std::string& principal_id,
                  const std::string& apikey, domain::KeyAction action) const;
  void send_key_email(const Request& req, const events::RequestContext& ctx, const std::string& to,
                      const std::string& apikey, const std::string& secretkey, Micros expires_at,
                      std::function<void(nlohmann::json)> done) const;

  ApiDeps d_;
  Router router_;
};

}  // namespace latchkey::http
