#pragma once
// Strict parsing of request bodies and query strings. Anything malformed is an
// invalid_request whose message says what; nothing here throws.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "http/types.h"

namespace latchkey::http {

constexpr int kMaxJsonDepth = 32;

// A JSON object: valid UTF-8, nesting at most kMaxJsonDepth, no key twice.
Result<nlohmann::json> parse_json_object(std::string_view body);

// application/x-www-form-urlencoded ('+' is a space); no key twice.
Result<std::map<std::string, std::string>> parse_form(std::string_view body);

// A query string, decoded; no key twice.
Result<std::map<std::string, std::string>> parse_query(std::string_view query);

enum class BodyKinds { json_only, json_or_form };

// The request's body as a JSON object: JSON, or (if allowed) a form whose
// values become strings. An empty body is {} when `optional`. Wrong
// Content-Type: unsupported_media_type.
Result<nlohmann::json> parse_body(const Request& req, BodyKinds kinds, bool optional);

// Typed access to an object's fields. Each accessor returns the value, or
// nullopt when the field is absent (or null) or has the wrong type; the first
// problem met (a wrong type, a missing required field) is kept, and finish()
// returns it, or else refuses the first field that was never asked for (a
// misspelt field is an error, not silently ignored). So a handler reads every
// field it knows, then checks once.
class Fields {
 public:
  explicit Fields(const nlohmann::json& obj) : obj_(obj) {}

  std::optional<std::string> string(const char* name);
  // "" when absent (and a problem: `name` is required).
  std::string required_string(const char* name);
  std::optional<std::int64_t> integer(const char* name);
  // Any JSON number (e.g. days: 0.5).
  std::optional<double> number(const char* name);
  std::optional<bool> boolean(const char* name);
  std::optional<std::vector<std::string>> strings(const char* name);
  // The first problem, or an unknown field; ok otherwise.
  [[nodiscard]] Status finish() const;

 private:
  const nlohmann::json* get(const char* name);
  void problem(std::string message);
  const nlohmann::json& obj_;
  std::set<std::string> read_;
  std::optional<Error> first_problem_;
};

// Typed access to query parameters, like Fields: read every parameter the
// route knows, then finish() returns the first problem or unknown parameter.
class Query {
 public:
  explicit Query(std::map<std::string, std::string> params) : params_(std::move(params)) {}

  std::optional<std::string> string(const char* name);
  // A whole number in [min, max] (e.g. limit=); a problem otherwise.
  std::optional<std::int64_t> integer(const char* name, std::int64_t min, std::int64_t max,
                                      const char* what);
  [[nodiscard]] bool has(const char* name) const { return params_.count(name) != 0; }
  [[nodiscard]] std::size_t size() const { return params_.size(); }
  [[nodiscard]] Status finish() const;
  [[nodiscard]] const std::map<std::string, std::string>& all() const { return params_; }

 private:
  std::map<std::string, std::string> params_;
  std::set<std::string> read_;
  std::optional<Error> first_problem_;
};

// The seed's login body, as JSON or a form: {"auth_mode": "apikey", "apikey",
// "secretkey"}, nothing else. (POST /iam/login; the login fuzz target.)
struct LoginBody {
  std::string apikey;
  std::string secretkey;
};
[[nodiscard]] Result<LoginBody> parse_login_body(const Request& req);

}  // namespace latchkey::http
