#include "tests/support/http_client.h"

#include <curl/curl.h>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <stdexcept>

namespace latchkey::test {

namespace {

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

std::vector<std::string> with_token(std::vector<std::string> h, const std::string& token) {
  if (!token.empty()) h.push_back("Authorization: Bearer " + token);
  return h;
}

}  // namespace

nlohmann::json HttpResponse::json() const { return nlohmann::json::parse(body); }

std::string HttpResponse::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

HttpResponse http(const std::string& method, const std::string& url, const std::string& body,
                  const HttpOptions& options) {
  static const bool ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!ready) throw std::runtime_error("curl_global_init");
  CURL* curl = curl_easy_init();
  HttpResponse r;
  curl_slist* headers = nullptr;
  for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (method == "GET") curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  const std::string iface = "host!" + options.source_ip;
  if (!options.source_ip.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, iface.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    throw std::runtime_error(std::string("HTTP ") + method + " " + url + ": " +
                             curl_easy_strerror(rc));
  return r;
}

HttpResponse get(const std::string& url, const std::string& token) {
  return http("GET", url, {}, HttpOptions{with_token({}, token)});
}

HttpResponse post_json(const std::string& url, const nlohmann::json& body,
                       const std::string& token) {
  return http("POST", url, body.dump(),
              HttpOptions{with_token({"Content-Type: application/json"}, token)});
}

HttpResponse patch_json(const std::string& url, const nlohmann::json& body,
                        const std::string& token) {
  return http("PATCH", url, body.dump(),
              HttpOptions{with_token({"Content-Type: application/json"}, token)});
}

HttpResponse del(const std::string& url, const std::string& token) {
  return http("DELETE", url, {}, HttpOptions{with_token({}, token)});
}

HttpResponse post_form(const std::string& url, const std::string& form, const std::string& token) {
  return http("POST", url, form,
              HttpOptions{with_token({"Content-Type: application/x-www-form-urlencoded"}, token)});
}

std::string form_escape(const std::string& value) {
  return boost::urls::encode(value, boost::urls::unreserved_chars);
}

}  // namespace latchkey::test
