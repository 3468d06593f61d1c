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

// Typed access to an object's fields, remembering which were read, so unknown
// fields can be refused (a misspelt field is an error, not silently ignored).
class Fields {
 public:
  explicit Fields(const nlohmann::json& obj) : obj_(obj) {}

  Result<std::optional<std::string>> string(const char* name);
  Result<std::string> required_string(const char* name);
  Result<std::optional<std::int64_t>> integer(const char* name);
  Result<std::optional<bool>> boolean(const char* name);
  Result<std::optional<std::vector<std::string>>> strings(const char* name);
  // invalid_request naming the first field that was never asked for.
  Status no_others() const;

 private:
  const nlohmann::json* get(const char* name);
  const nlohmann::json& obj_;
  std::set<std::string> read_;
};

}  // namespace latchkey::http
