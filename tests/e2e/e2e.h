#pragma once
// Helpers for the end-to-end tests: a real `latchkey serve` (ServerProcess)
// spoken to over loopback HTTP. Every call made through `Client` checks that
// the response carries an X-Request-Id and that its body, if any, is JSON
// labelled application/json, so the whole suite checks both on every response
// it sees.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.h"
#include "tests/support/server_process.h"

namespace latchkey::e2e {

using nlohmann::json;
using test::HttpResponse;
using test::ServerProcess;

struct Key {
  std::string apikey;
  std::string secretkey;
  json body;  // the 201 body
};

struct Principal {
  std::string id;
  std::string base;  // "/iam/users/ID" or "/iam/service-accounts/ID"
};

// Talks to one server. Every call checks what the contract promises of every
// response: an X-Request-Id, and a JSON body saying application/json
// (but for /metrics, the console and NDJSON streams).
class Client {
 public:
  explicit Client(const ServerProcess& server, std::string ca_file = {})
      : server_(server), ca_file_(std::move(ca_file)) {}

  std::string url(const std::string& path) const { return server_.url(path); }

  // A request; `headers` are "Name: value". Checks X-Request-Id is present.
  HttpResponse call(const std::string& method, const std::string& path, const std::string& body,
                    std::vector<std::string> headers) const;
  HttpResponse get(const std::string& path, const std::string& token) const;
  HttpResponse post(const std::string& path, const json& body, const std::string& token) const;
  HttpResponse post_empty(const std::string& path, const std::string& token) const;
  HttpResponse patch(const std::string& path, const json& body, const std::string& token) const;
  HttpResponse del(const std::string& path, const std::string& token) const;
  HttpResponse post_form(const std::string& path, const std::string& form,
                         const std::string& token) const;

  HttpResponse login_raw(const std::string& apikey, const std::string& secretkey) const;
  // A token, or a failed test (BOOST_REQUIRE) if the login is not a 200.
  std::string login(const std::string& apikey, const std::string& secretkey) const;
  std::string login(const Key& k) const { return login(k.apikey, k.secretkey); }
  std::string admin_token() const;

  // Admin helpers: they BOOST_REQUIRE the expected status.
  Principal create_user(const std::string& token, const std::string& name, const std::string& email,
                        const std::vector<std::string>& roles = {}) const;
  Principal create_service_account(const std::string& token, const std::string& name,
                                   const std::vector<std::string>& roles = {},
                                   const std::string& email = {}) const;
  Key create_key(const std::string& token, const Principal& p,
                 const json& body = json::object()) const;
  json settings(const std::string& token) const;
  void set_settings(const std::string& token, const json& values) const;
  // POST /iam/introspect; BOOST_REQUIRE 200; returns the body.
  json introspect(const std::string& caller_token, const std::string& token) const;

 private:
  const ServerProcess& server_;
  std::string ca_file_;
};

// Checks an error response: status, JSON {error, message, request_id} with
// `code`, and request_id equal to the X-Request-Id header.
void expect_error(const HttpResponse& r, long status, const std::string& code);

// Polls `condition` every 20 ms until it holds or `timeout` passes. The
// default is generous: the suite runs under sanitizers on busy machines, and
// a condition that holds returns at once.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A unique suffix for names, so tests sharing a server do not collide.
std::string unique(const std::string& prefix);

// The decoded JSON of a JWT's header (part 0) or payload (part 1).
json jwt_part(const std::string& token, int part);

// Whether a JWKS ({"keys": [...]}) lists the key `kid`.
bool jwks_has(const json& jwks, const std::string& kid);
// Whether a token's signature verifies with the key the JWKS publishes for its
// kid, as a relying party would check it.
bool verifies_with_jwks(const json& jwks, const std::string& token);

// A token whose claims are `change`d and which is signed again with the
// server's own private key from DATA/signing (as the server would sign it).
std::string resign_token(const std::string& data_dir, const std::string& token,
                         const std::function<void(json& header, json& payload)>& change);

// The server started for a group of tests, with the admin's token, and the
// login lockouts relaxed so that the many failed logins of a test run do not
// lock 127.0.0.1 out. Tests that need other settings start their own. It is
// stopped, and its exit checked, after the last test of the binary.
struct Shared {
  ServerProcess server;
  Client client;
  std::string admin;  // admin token
  Shared();
};
Shared& shared();

}  // namespace latchkey::e2e
