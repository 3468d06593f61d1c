#pragma once
// A small blocking HTTP client for tests, on libcurl.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace latchkey::test {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const;  // throws if the body is not JSON
  std::string header(const std::string& name) const;
};

struct HttpOptions {
  std::vector<std::string> headers;  // "Name: value"
  std::string ca_file;               // for https with a test certificate
  long timeout_ms = 30000;
  std::string source_ip;  // bind the client to this loopback address (e.g. 127.0.0.7)
};

HttpResponse http(const std::string& method, const std::string& url, const std::string& body = {},
                  const HttpOptions& options = {});

// Helpers for JSON APIs with an optional bearer token.
HttpResponse get(const std::string& url, const std::string& token = {});
HttpResponse post_json(const std::string& url, const nlohmann::json& body,
                       const std::string& token = {});
HttpResponse patch_json(const std::string& url, const nlohmann::json& body,
                        const std::string& token = {});
HttpResponse del(const std::string& url, const std::string& token = {});
HttpResponse post_form(const std::string& url, const std::string& form,
                       const std::string& token = {});

// Percent-encodes a value for a query string or a form body: everything but
// the unreserved characters of RFC 3986.
std::string form_escape(const std::string& value);

}  // namespace latchkey::test
