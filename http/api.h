#pragma once
// The HTTP API of the contract (../docs/openapi.yaml): a router whose handlers
// are coroutines from a call to a response, over the command service and the
// views. Thread-safe: requests are served on any I/O thread, each on its
// connection's strand.
//
// A handler reads as one straight line: parse the request (a bad one is a 400
// here), decide or read, await the commit, render.
//
// One rule for every co_await in this folder: make the awaitable first, in a
// statement of its own (`auto op = execute(...); auto r = co_await
// std::move(op);`). GCC 12 destroys the temporaries of a full expression that
// contains a co_await twice when their lifetime spans the suspension (a
// double free under ASan); a statement of their own ends them before it. The router resolves the
// caller from the route's declared Access before the handler runs, and maps
// every failure to its status through error_map.h.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "events/event_log.h"
#include "http/config.h"
#include "http/cookies.h"
#include "http/json_log.h"
#include "http/mailer.h"
#include "http/metrics.h"
#include "http/router.h"
#include "keys/secret_store.h"
#include "keys/tokens.h"
#include "projections/live_views.h"
#include "replay/queries.h"
#include "service/command_service.h"

namespace latchkey::http {

// Whether the filters of an audit query may go into its audit.read event: a
// value that is not an id of its kind (e.g. a secretkey pasted in the wrong
// box) is refused, and not quoted back.
[[nodiscard]] Status recordable(const replay::AuditFilter& filter);

struct ApiDeps {
  service::CommandService& commands;
  projections::LiveViews& views;
  events::EventLog& log;
  keys::SecretStore& secrets;
  keys::TokenService& tokens;
  const Clock& clock;
  Metrics& metrics;
  const Config& config;
  Mailer* mailer = nullptr;       // nullptr: no SMTP configured
  JsonLog* server_log = nullptr;  // where a failing handler is logged; may be null
  // Whether the log accepted its latest append (readiness); empty: always.
  std::function<bool()> writable;
  // Serves /console/ files; may be empty.
  std::function<bool(const std::string& path, Response& out)> console;
  // The console's session cookie (api_session.cpp): its name and path.
  SessionCookie session;
  // After principal.erased is committed: rewrites the snapshots that show the
  // principal's personal data and destroys its data key (blocking). Empty:
  // nothing beyond the event (test doubles).
  std::function<Status(const std::string& principal_id)> finish_erasure;
  // The project's public URL; empty: the server's (public_url_of).
  std::string public_url;
};

class Api {
 public:
  explicit Api(ApiDeps deps);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Serves one request; never throws. REQUIRES: `req` outlives the coroutine.
  [[nodiscard]] boost::asio::awaitable<Response> handle(const Request& req) const {
    return router_.dispatch(req);
  }
  [[nodiscard]] const Router& router() const { return router_; }
  // The caller of a request's bearer token, as every route of this API sees it.
  // Without an Authorization header, the session cookie's token counts, and
  // a request other than GET or HEAD also needs the session's X-CSRF-Token.
  [[nodiscard]] Result<Caller> authenticate(const Request& req) const;

 private:
  using Reply = boost::asio::awaitable<Response>;
  using PrincipalKind = projections::PrincipalKind;

  // ---- helpers (api.cpp) ----
  [[nodiscard]] events::RequestContext context(const Call& c) const;
  [[nodiscard]] static Response error(const Call& c, const Error& e);
  [[nodiscard]] static Response json(HttpStatus status, const nlohmann::json& body);

  // ---- routes ----
  void add_login_routes();      // api_login.cpp
  void add_principal_routes();  // api_principals.cpp
  void add_key_routes();        // api_keys.cpp
  void add_settings_routes();   // api_settings.cpp
  void add_audit_routes();      // api_audit.cpp
  void add_system_routes();     // api_system.cpp
  void add_session_routes();    // api_session.cpp

  // ---- handlers ----
  Reply login(const Call& c) const;
  Reply introspect(const Call& c) const;

  Reply create_principal(const Call& c, PrincipalKind kind) const;
  Reply list_principals(const Call& c, PrincipalKind kind) const;
  Reply get_principal(const Call& c, PrincipalKind kind) const;
  Reply export_principal(const Call& c, PrincipalKind kind) const;
  Reply update_principal(const Call& c, PrincipalKind kind) const;
  Reply delete_principal(const Call& c, PrincipalKind kind) const;
  Reply erase_principal(const Call& c, PrincipalKind kind) const;
  Reply me(const Call& c) const;

  // `kind` nullopt and `principal_id` the caller's: /iam/me/keys.
  Reply create_key(const Call& c, std::optional<PrincipalKind> kind,
                   const std::string& principal_id) const;
  Reply list_keys(const Call& c, std::optional<PrincipalKind> kind,
                  const std::string& principal_id) const;
  Reply change_key(const Call& c, std::optional<PrincipalKind> kind,
                   const std::string& principal_id, domain::KeyAction action) const;
  Reply update_key(const Call& c, std::optional<PrincipalKind> kind,
                   const std::string& principal_id) const;
  // After a use of a key from outside its networks: one email to the owner
  // per key, network and day (in the background; the login's reply does not
  // wait for it), recorded as email.sent or email.failed.
  void notify_blocked_use(const events::RequestContext& ctx, const std::string& apikey,
                          const std::string& network, const std::string& to) const;
  // The email that carries a new key; its outcome, as the response's "email".
  boost::asio::awaitable<nlohmann::json> send_key_email(const events::RequestContext& ctx,
                                                        const std::string& apikey,
                                                        const std::string& secretkey) const;

  Reply get_settings(const Call& c) const;
  Reply change_settings(const Call& c) const;

  Reply audit(const Call& c) const;
  Reply replay_state(const Call& c) const;
  Reply replay_diff(const Call& c) const;
  Reply key_timeline(const Call& c) const;
  // Records the read as audit.read (a failed record fails the request), then
  // returns `response`.
  Reply recorded(const Call& c, std::string route, std::string filters, std::uint64_t returned,
                 Response response) const;

  Reply rotate_signing_key(const Call& c) const;

  // The console's session (api_session.cpp): a login whose token goes into
  // an HttpOnly cookie; the session's CSRF token; sign-out (token.revoked).
  Reply create_session(const Call& c) const;
  Reply get_session(const Call& c) const;
  Reply delete_session(const Call& c) const;
  // GET /iam/usage?period=day|month: the overview's charts.
  Reply usage(const Call& c) const;
  // The token a request presents: the bearer token, else the session cookie's
  // (`from_cookie` set), else nullopt.
  [[nodiscard]] std::optional<std::string_view> presented_token(const Request& req,
                                                                bool* from_cookie) const;
  // The CSRF token of the session whose token has this jti.
  [[nodiscard]] std::string csrf_token(std::string_view jti) const;

  ApiDeps d_;
  Router router_;
  // Blocked-use emails being sent ("apikey|network"). Shared with the
  // callbacks, which the writer may run after this Api is gone.
  struct Notices {
    std::mutex mu;
    std::set<std::string> in_flight;  // GUARDED_BY(mu)
  };
  std::shared_ptr<Notices> notices_ = std::make_shared<Notices>();
};

}  // namespace latchkey::http
