#pragma once
// The one place where failures become HTTP statuses and the contract's wire
// codes. Two kinds of failure reach a client:
//   - an Error (base/error.h): what a rule, the log or a parser of a body said;
//   - a ProtocolError: what the connection's parser or the router said before
//     any handler ran.
// Both go through the tables of error_map.cpp, which tests/http covers row by
// row. Storage failures are never 4xx; an unknown code is a 500.

#include <string>
#include <string_view>

#include "base/error.h"
#include "http/types.h"

namespace latchkey::http {

enum class ProtocolError {
  malformed_request,   // the parser refused the request line, headers or framing
  malformed_target,    // the target is not an origin-form URL, or its path holds NUL
  header_too_large,    // headers over server.max_header_bytes
  body_too_large,      // a body over server.max_body_bytes
  unknown_route,       // no route has this path
  method_not_allowed,  // a route has this path, but not this method (404, with Allow)
};

struct WireError {
  HttpStatus status;
  std::string_view code;  // the contract's "error" field
};

[[nodiscard]] WireError wire_error(Errc code) noexcept;
[[nodiscard]] WireError wire_error(ProtocolError problem) noexcept;

// {"error": CODE, "message": TEXT, "request_id": ID}, with the status of the
// code and the headers that go with it: Retry-After for 429 and 503,
// WWW-Authenticate for 401 unauthorized. The message is the client's text
// only: Error::detail goes to the access log (Response::log_note), never to
// the client, and an internal error says only "internal error".
[[nodiscard]] Response error_response(const Error& e, const std::string& request_id);
[[nodiscard]] Response error_response(ProtocolError problem, const std::string& message,
                                      const std::string& request_id);

// A JSON response with `status` and a body already serialised.
[[nodiscard]] Response json_response(HttpStatus status, std::string body);

}  // namespace latchkey::http
