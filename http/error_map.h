#pragma once
// The one place where error codes become HTTP statuses (tested as a table).

#include "base/error.h"
#include "http/types.h"

namespace latchkey::http {

// Storage failures are never 4xx; unknown codes are 500.
int status_of(Errc code) noexcept;

// {"error": CODE, "message": TEXT, "request_id": ID}, with the status of the
// code and, for 429, Retry-After; 401 unauthorized adds WWW-Authenticate.
// The message is the client's text only: Error::detail never leaves the server.
Response error_response(const Error& e, const std::string& request_id);

// A JSON response with `status`.
Response json_response(int status, std::string body);

}  // namespace latchkey::http
