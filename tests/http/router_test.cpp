// Route matching as a table, and what dispatch() adds: authentication, the
// role check, and a handler that throws becoming a logged 500.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "http/router.h"

using namespace latchkey;
using namespace latchkey::http;
namespace net = boost::asio;

namespace {

// A router with the shapes of the real one, whose handlers answer with their pattern.
Router table_router(std::vector<std::string>* failures = nullptr) {
  Router r(
      [](const Request& req) -> Result<Caller> {
        const auto h = req.header("authorization");
        if (!h) return make_error(Errc::unauthorized, "a bearer token is required");
        if (*h == "Bearer admin") return Caller{"sa_0000000000000001", {"admin"}, "lk_a", "j1"};
        if (*h == "Bearer auditor") return Caller{"sa_0000000000000002", {"auditor"}, "lk_b", "j2"};
        return make_error(Errc::unauthorized, "token revoked");
      },
      [failures](const Request& req, std::string_view what) {
        if (failures) failures->push_back(req.request_id + ": " + std::string(what));
      });
  auto answer = [](std::string pattern) {
    return [pattern](const Call& c) -> net::awaitable<Response> {
      nlohmann::json params = nlohmann::json::object();
      for (const auto& [k, v] : c.params) params[k] = v;
      Response resp;
      resp.body = nlohmann::json{{"pattern", pattern}, {"params", params}}.dump();
      co_return resp;
    };
  };
  const Access admin = Access::any_role({"admin"});
  for (const char* m : {"GET", "PATCH", "DELETE"}) r.add(m, "/iam/users/{id}", admin, answer(m));
  r.add("POST", "/iam/users", admin, answer("POST /iam/users"));
  r.add("GET", "/iam/users", admin, answer("GET /iam/users"));
  r.add("POST", "/iam/users/{id}/keys/{apikey}/disable", admin, answer("disable"));
  r.add("GET", "/iam/audit", Access::any_role({"admin", "auditor"}), answer("audit"));
  r.add("POST", "/iam/introspect", Access::authenticated(), answer("introspect"));
  r.add("POST", "/iam/login", Access::anyone(), answer("login"));
  r.add("GET", "/console/", Access::anyone(), answer("console root"));
  r.add("GET", "/console/{file}", Access::anyone(), answer("console file"));
  r.add("GET", "/boom", Access::anyone(), [](const Call&) -> net::awaitable<Response> {
    throw std::runtime_error("the handler broke");
    co_return Response{};
  });
  return r;
}

Response run(const Router& r, const std::string& method, const std::string& path,
             const std::string& auth = {}) {
  Request req;
  req.method = method;
  req.path = path;
  req.target = path;
  req.request_id = "rid-" + method + path;
  if (!auth.empty()) req.headers.emplace_back("authorization", auth);
  net::io_context ioc;
  auto f = net::co_spawn(ioc, r.dispatch(req), net::use_future);
  ioc.run();
  return f.get();
}

struct MatchRow {
  const char* method;
  const char* path;
  const char* pattern;  // nullptr: no route
  ProtocolError problem;
  const char* allow;
  std::vector<std::pair<std::string, std::string>> params;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(matching) {
  const Router r = table_router();
  const MatchRow rows[] = {
      {"GET", "/iam/users", "/iam/users", {}, "", {}},
      {"POST", "/iam/users", "/iam/users", {}, "", {}},
      {"GET", "/iam/users/usr_1", "/iam/users/{id}", {}, "", {{"id", "usr_1"}}},
      {"PATCH", "/iam/users/usr_1", "/iam/users/{id}", {}, "", {{"id", "usr_1"}}},
      {"GET", "//iam//users//usr_1", "/iam/users/{id}", {}, "", {{"id", "usr_1"}}},
      {"POST",
       "/iam/users/usr_1/keys/lk_2/disable",
       "/iam/users/{id}/keys/{apikey}/disable",
       {},
       "",
       {{"id", "usr_1"}, {"apikey", "lk_2"}}},
      {"GET", "/console/", "/console/", {}, "", {}},
      {"GET", "/console/app.js", "/console/{file}", {}, "", {{"file", "app.js"}}},
      // A pattern that ends in '/' matches only such paths, and the other way round.
      {"GET", "/console", nullptr, ProtocolError::unknown_route, "", {}},
      {"GET", "/console/app.js/", nullptr, ProtocolError::unknown_route, "", {}},
      {"GET", "/iam/nowhere", nullptr, ProtocolError::unknown_route, "", {}},
      {"GET", "/iam/users/usr_1/keys", nullptr, ProtocolError::unknown_route, "", {}},
      {"GET", "/", nullptr, ProtocolError::unknown_route, "", {}},
      {"GET", "", nullptr, ProtocolError::unknown_route, "", {}},
      // The path exists, the method does not: the methods it has, for Allow.
      {"PUT", "/iam/users", nullptr, ProtocolError::method_not_allowed, "POST, GET", {}},
      {"POST",
       "/iam/users/usr_1",
       nullptr,
       ProtocolError::method_not_allowed,
       "GET, PATCH, DELETE",
       {}},
      {"GET", "/iam/login", nullptr, ProtocolError::method_not_allowed, "POST", {}},
      {"get", "/iam/users", nullptr, ProtocolError::method_not_allowed, "POST, GET", {}},
  };
  const auto routes = r.routes();
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT(row.method << " " << row.path) {
      const auto m = r.match(row.method, row.path);
      if (!row.pattern) {
        BOOST_TEST(!m.route.has_value());
        BOOST_TEST((m.problem == row.problem));
        BOOST_TEST(m.allow == row.allow);
        continue;
      }
      BOOST_TEST_REQUIRE(m.route.has_value());
      BOOST_TEST(routes[*m.route].pattern == row.pattern);
      BOOST_TEST(routes[*m.route].method == row.method);
      BOOST_TEST(m.params.size() == row.params.size());
      for (const auto& [k, v] : row.params) {
        BOOST_TEST_REQUIRE(m.params.count(k) == 1u);
        BOOST_TEST(m.params.at(k) == v);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(access) {
  const Router r = table_router();
  struct Row {
    const char* method;
    const char* path;
    const char* auth;
    unsigned status;
    const char* error;  // nullptr: the handler ran
  };
  const Row rows[] = {
      {"GET", "/iam/users", "", 401, "unauthorized"},
      {"GET", "/iam/users", "Bearer nonsense", 401, "unauthorized"},
      {"GET", "/iam/users", "Bearer auditor", 403, "forbidden"},
      {"GET", "/iam/users", "Bearer admin", 200, nullptr},
      {"GET", "/iam/audit", "Bearer auditor", 200, nullptr},
      {"GET", "/iam/audit", "Bearer admin", 200, nullptr},
      {"POST", "/iam/introspect", "Bearer auditor", 200, nullptr},
      {"POST", "/iam/introspect", "", 401, "unauthorized"},
      {"POST", "/iam/login", "", 200, nullptr},
      {"DELETE", "/iam/login", "", 404, "not_found"},
      {"GET", "/nowhere", "Bearer admin", 404, "not_found"},
  };
  for (const auto& row : rows) {
    BOOST_TEST_CONTEXT(row.method << " " << row.path << " as '" << row.auth << "'") {
      const Response resp = run(r, row.method, row.path, row.auth);
      BOOST_TEST(code(resp.status) == row.status);
      const auto body = nlohmann::json::parse(resp.body);
      if (row.error) {
        BOOST_TEST(body.at("error").get<std::string>() == row.error);
      } else {
        BOOST_TEST(body.contains("pattern"));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(route_and_principal_are_set_for_the_access_log) {
  const Router r = table_router();
  const Response ok = run(r, "GET", "/iam/users/usr_9", "Bearer admin");
  BOOST_TEST(ok.route == "/iam/users/{id}");
  BOOST_TEST(ok.principal == "sa_0000000000000001");
  const Response none = run(r, "GET", "/nowhere");
  BOOST_TEST(none.route == "unmatched");
  const Response wrong_method = run(r, "PUT", "/iam/users");
  BOOST_TEST(wrong_method.route == "unmatched");
  bool allow = false;
  for (const auto& [k, v] : wrong_method.headers)
    allow = allow || (k == "Allow" && v == "POST, GET");
  BOOST_TEST(allow);
}

BOOST_AUTO_TEST_CASE(a_throwing_handler_is_a_logged_500) {
  std::vector<std::string> failures;
  const Router r = table_router(&failures);
  const Response resp = run(r, "GET", "/boom");
  BOOST_TEST(code(resp.status) == 500u);
  const auto body = nlohmann::json::parse(resp.body);
  BOOST_TEST(body.at("error").get<std::string>() == "internal");
  BOOST_TEST(body.at("message").get<std::string>() == "internal error");
  BOOST_TEST(resp.body.find("the handler broke") == std::string::npos);
  BOOST_TEST_REQUIRE(failures.size() == 1u);
  BOOST_TEST(failures[0] == "rid-GET/boom: the handler broke");
}

BOOST_AUTO_TEST_SUITE_END()
