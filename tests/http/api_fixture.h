#pragma once
// An http::Api wired as app.cpp wires it, on a fresh data directory, with no
// server and no socket: handlers are called as plain coroutines and run to
// completion on a private io_context.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "events/event_log.h"
#include "http/api.h"
#include "http/console.h"
#include "keys/secret_store.h"
#include "keys/tokens.h"
#include "projections/live_views.h"
#include "replay/rebuild.h"
#include "service/command_service.h"
#include "tests/support/temp_dir.h"
#include "tools/init.h"

namespace latchkey::test {

class ApiFixture {
 public:
  ApiFixture() {
    tools::InitOptions o;
    o.data_dir = dir_ / "data";
    auto init = tools::init_data_dir(o);
    BOOST_REQUIRE_MESSAGE(init.has_value(), "init: " << init.error().message);
    admin_ = *init;
    auto secrets = keys::SecretStore::open(o.data_dir, true);
    BOOST_REQUIRE(secrets.has_value());
    secrets_ = std::move(*secrets);
    auto log = events::open_rocksdb_log(keys::SecretStore::log_dir(o.data_dir),
                                        events::OpenMode::read_write);
    BOOST_REQUIRE(log.has_value());
    log_ = std::move(*log);
    auto views = replay::rebuild(*log_, log_->head().seq);
    BOOST_REQUIRE(views.has_value());
    views_ = std::make_unique<projections::LiveViews>(std::move(*views));
    commands_ = std::make_unique<service::CommandService>(*log_, *views_, clock_);
    tokens_ = std::make_unique<keys::TokenService>(*secrets_, *views_, config_.issuer);
    http::ApiDeps deps{*commands_,
                       *views_,
                       *log_,
                       *secrets_,
                       *tokens_,
                       clock_,
                       metrics_,
                       config_,
                       nullptr,
                       nullptr,
                       [] { return true; },
                       [](const std::string& path, http::Response& out) {
                         return http::serve_console(path, out);
                       }};
    api_ = std::make_unique<http::Api>(std::move(deps));
  }
  ~ApiFixture() {
    api_.reset();
    commands_->stop();
  }

  // Runs the API on `req` to its response.
  http::Response call(http::Request req) {
    if (req.request_id.empty()) req.request_id = "test-" + std::to_string(++requests_);
    if (req.remote_ip.empty()) req.remote_ip = "192.0.2.10";
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    req.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
    boost::asio::io_context ioc;
    auto done = boost::asio::co_spawn(ioc, api_->handle(req), boost::asio::use_future);
    ioc.run();
    return done.get();
  }

  static http::Request request(std::string method, std::string target, std::string body = {},
                               std::string token = {}) {
    http::Request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    if (!r.body.empty()) r.headers.emplace_back("content-type", "application/json");
    if (!token.empty()) r.headers.emplace_back("authorization", "Bearer " + token);
    return r;
  }

  // A token for the first admin, through the login handler.
  std::string admin_token() {
    const nlohmann::json body = {
        {"auth_mode", "apikey"}, {"apikey", admin_.apikey}, {"secretkey", admin_.secretkey}};
    const auto r = call(request("POST", "/iam/login", body.dump()));
    BOOST_REQUIRE(r.status == http::HttpStatus::ok);
    return nlohmann::json::parse(r.body).at("access_token").get<std::string>();
  }

  const tools::InitResult& admin() const { return admin_; }
  events::EventLog& log() { return *log_; }
  const http::Router& router() const { return api_->router(); }

 private:
  TempDir dir_;
  tools::InitResult admin_;
  SystemClock clock_;
  http::Metrics metrics_;
  http::Config config_;
  std::unique_ptr<keys::SecretStore> secrets_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<projections::LiveViews> views_;
  std::unique_ptr<service::CommandService> commands_;
  std::unique_ptr<keys::TokenService> tokens_;
  std::unique_ptr<http::Api> api_;
  int requests_ = 0;
};

}  // namespace latchkey::test
