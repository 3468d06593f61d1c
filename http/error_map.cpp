#include "http/error_map.h"

#include <nlohmann/json.hpp>

namespace latchkey::http {

int status_of(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return 200;
    case Errc::invalid_request: return 400;
    case Errc::invalid_credentials: return 401;
    case Errc::unauthorized: return 401;
    case Errc::forbidden: return 403;
    case Errc::not_found: return 404;
    case Errc::conflict: return 409;
    case Errc::exists: return 409;
    case Errc::payload_too_large: return 413;
    case Errc::unsupported_media_type: return 415;
    case Errc::too_many_requests: return 429;
    case Errc::unavailable: return 503;
    case Errc::corruption: return 503;
    case Errc::internal: return 500;
  }
  return 500;
}

Response error_response(const Error& e, const std::string& request_id) {
  Response r;
  r.status = status_of(e.code);
  const char* code = e.code == Errc::corruption ? "unavailable"
                     : e.code == Errc::exists   ? "conflict"
                                                : errc_name(e.code);
  std::string message = e.message;
  if (e.code == Errc::internal) message = "internal error";  // details go to the server log only
  nlohmann::json j = {{"error", code}, {"message", message}, {"request_id", request_id}};
  // Messages may quote client input (a path, a parameter name) that is not
  // UTF-8: replace such bytes rather than throw, which would end the process.
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (e.code == Errc::too_many_requests) {
    r.headers.emplace_back("Retry-After",
                           std::to_string(e.retry_after_seconds > 0 ? e.retry_after_seconds : 1));
  }
  if (e.code == Errc::unauthorized)
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"latchkey\"");
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  r.log_note = e.detail;
  return r;
}

Response json_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace latchkey::http
