#pragma once
// Routes: (method, pattern) -> who may call it -> handler. Patterns are paths
// whose segments may be "{name}" placeholders. A handler is a coroutine from
// a call (the request, its path parameters, the authenticated caller) to a
// response: nothing can forget to reply, and a handler that throws is a 500
// logged with its request id, never an exception in io_context::run().
//
// match() is a plain function, tested as a table (tests/http/router_test.cpp);
// dispatch() adds authentication, the role check and the error handling.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "http/error_map.h"
#include "http/types.h"

namespace latchkey::http {

// The authenticated principal of a request, resolved once by the router.
struct Caller {
  std::string principal_id;
  std::vector<std::string> roles;
  std::string apikey;
  std::string jti;
  // The key has allowed networks or a subset of roles: it may not make or
  // change keys for itself (/iam/me/keys), which would shed those limits.
  bool limited_key = false;
  [[nodiscard]] bool has(std::string_view role) const;
};

// Who may call a route.
class Access {
 public:
  static Access anyone() { return Access(Kind::anyone, {}); }
  // Any valid bearer token, whatever its roles.
  static Access authenticated() { return Access(Kind::authenticated, {}); }
  // A valid bearer token of a principal holding one of `roles`.
  static Access any_role(std::initializer_list<std::string_view> roles);

  [[nodiscard]] bool needs_token() const { return kind_ != Kind::anyone; }
  // Status when `caller` is authenticated: ok, or forbidden naming the roles.
  [[nodiscard]] Status allows(const Caller& caller) const;

  bool operator==(const Access&) const = default;

 private:
  enum class Kind { anyone, authenticated, roles };
  Access(Kind kind, std::vector<std::string> roles) : kind_(kind), roles_(std::move(roles)) {}
  Kind kind_;
  std::vector<std::string> roles_;
};

using Params = std::map<std::string, std::string, std::less<>>;

// What a handler gets. References live until the handler's coroutine returns.
struct Call {
  const Request& req;
  const Params& params;
  // The caller, on routes whose Access needs a token; null on public routes.
  const Caller* caller = nullptr;

  // The path parameter `name` of the route's pattern.
  [[nodiscard]] const std::string& param(std::string_view name) const;
  // The caller. REQUIRES: a route whose Access needs a token.
  [[nodiscard]] const Caller& who() const { return *caller; }
};

using Handler = std::function<boost::asio::awaitable<Response>(const Call&)>;

class Router {
 public:
  // Resolves a bearer token to its caller: unauthorized when it is missing,
  // malformed, expired or revoked.
  using Authenticator = std::function<Result<Caller>(const Request&)>;
  // Told when a handler throws: the request and what was thrown (server log only).
  using FailureLog = std::function<void(const Request&, std::string_view what)>;

  // The routes' methods, patterns and access rules, without their handlers.
  // One server holds an Api per project, each with the same ~60 routes:
  // sharing this part keeps a project's router to its handlers (a few
  // hundred bytes instead of tens of KiB).
  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Access access;
  };
  using Table = std::shared_ptr<std::vector<Entry>>;

  // `like`: the table of a router built before, reused for as long as this
  // one adds the same routes in the same order (else it gets its own).
  Router(Authenticator authenticate, FailureLog on_failure, Table like = nullptr);

  void add(std::string method, std::string pattern, Access access, Handler handler);
  // This router's table, to share with the next router of the same routes.
  // The table is never changed once shared: a router that adds past it
  // copies it first.
  [[nodiscard]] Table table() const { return entries_; }

  struct Route {
    std::string method;
    std::string pattern;
  };
  struct Match {
    std::optional<std::size_t> route;  // index into routes(), when found
    Params params;
    // Without a route: unknown_route, or method_not_allowed (with `allow`).
    ProtocolError problem = ProtocolError::unknown_route;
    std::string allow;  // the methods the path has, e.g. "GET, PATCH"
  };
  // Which route serves `method` on `path`. A pattern ending in '/' matches
  // only paths that end in '/'. No side effects.
  [[nodiscard]] Match match(std::string_view method, std::string_view path) const;

  // Serves one request: match, authenticate, check the role, run the handler.
  // Sets Response::route to the pattern ("unmatched" without one) and
  // Response::principal to the caller. Never throws.
  [[nodiscard]] boost::asio::awaitable<Response> dispatch(const Request& req) const;

  [[nodiscard]] std::vector<Route> routes() const;

 private:
  Authenticator authenticate_;
  FailureLog on_failure_;
  Table entries_;  // the first handlers_.size() entries are this router's routes
  std::vector<Handler> handlers_;
};

// "/a//b/" -> {"a", "b"}.
[[nodiscard]] std::vector<std::string> split_path(std::string_view path);

}  // namespace latchkey::http
