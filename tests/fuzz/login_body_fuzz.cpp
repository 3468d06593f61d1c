// Fuzz target: the login body, JSON or form, as POST /iam/login reads it
// (http/body.h parse_body and parse_login_body).
// The first byte picks the Content-Type; the rest is the body.
// Properties: nothing throws or crashes; a refusal is invalid_request or
// unsupported_media_type; an accepted body is a JSON object of valid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "domain/credentials.h"
#include "http/body.h"

using namespace latchkey;
using namespace latchkey::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* kTypes[] = {"application/json", "application/x-www-form-urlencoded",
                                 "application/json; charset=utf-8", "text/plain", ""};
  Request req;
  req.method = "POST";
  req.path = "/iam/login";
  const char* type = kTypes[data[0] % 5];
  if (*type) req.headers.emplace_back("content-type", type);
  req.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto body = parse_body(req, BodyKinds::json_or_form, false);
  if (!body) {
    const Errc c = body.error().code;
    if (c != Errc::invalid_request && c != Errc::unsupported_media_type) std::abort();
  } else {
    if (!body->is_object()) std::abort();
    (void)body->dump();  // throws (and so aborts) on invalid UTF-8
  }
  // What POST /iam/login reads from it.
  auto login = parse_login_body(req);
  if (login.has_value() != body.has_value() && login.has_value()) std::abort();
  if (!login) {
    const Errc c = login.error().code;
    if (c != Errc::invalid_request && c != Errc::unsupported_media_type) std::abort();
    return 0;
  }
  const bool well_formed =
      domain::is_apikey(login->apikey) && domain::is_secretkey(login->secretkey);
  if (well_formed && (login->apikey.size() != 27 || login->secretkey.size() != 76)) std::abort();
  // The raw parsers on the same bytes.
  (void)parse_json_object(req.body);
  (void)parse_form(req.body);
  return 0;
}
