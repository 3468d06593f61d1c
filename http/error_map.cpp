#include "http/error_map.h"

#include <nlohmann/json.hpp>

namespace latchkey::http {

WireError wire_error(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_request: return {HttpStatus::bad_request, "invalid_request"};
    case Errc::invalid_credentials: return {HttpStatus::unauthorized, "invalid_credentials"};
    case Errc::unauthorized: return {HttpStatus::unauthorized, "unauthorized"};
    case Errc::forbidden: return {HttpStatus::forbidden, "forbidden"};
    case Errc::not_found: return {HttpStatus::not_found, "not_found"};
    case Errc::conflict: return {HttpStatus::conflict, "conflict"};
    case Errc::exists: return {HttpStatus::conflict, "conflict"};
    case Errc::payload_too_large: return {HttpStatus::payload_too_large, "payload_too_large"};
    case Errc::unsupported_media_type:
      return {HttpStatus::unsupported_media_type, "unsupported_media_type"};
    case Errc::too_many_requests: return {HttpStatus::too_many_requests, "too_many_requests"};
    case Errc::unavailable: return {HttpStatus::service_unavailable, "unavailable"};
    case Errc::corruption: return {HttpStatus::service_unavailable, "unavailable"};
    case Errc::internal: return {HttpStatus::internal_server_error, "internal"};
  }
  return {HttpStatus::internal_server_error, "internal"};
}

WireError wire_error(ProtocolError problem) noexcept {
  switch (problem) {
    case ProtocolError::malformed_request: return {HttpStatus::bad_request, "invalid_request"};
    case ProtocolError::malformed_target: return {HttpStatus::bad_request, "invalid_request"};
    case ProtocolError::header_too_large:
      return {HttpStatus::request_header_fields_too_large, "invalid_request"};
    case ProtocolError::body_too_large: return {HttpStatus::payload_too_large, "payload_too_large"};
    case ProtocolError::unknown_route: return {HttpStatus::not_found, "not_found"};
    // The contract makes a route a method and a path: another method on a
    // known path is an unknown route. Router::dispatch adds Allow.
    case ProtocolError::method_not_allowed: return {HttpStatus::not_found, "not_found"};
  }
  return {HttpStatus::internal_server_error, "internal"};
}

namespace {

Response make(WireError w, const std::string& message, const std::string& request_id) {
  Response r;
  r.status = w.status;
  const nlohmann::json j = {
      {"error", std::string(w.code)}, {"message", message}, {"request_id", request_id}};
  // Messages may quote client input (a path, a parameter name) that is not
  // UTF-8: replace such bytes rather than throw.
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (w.status == HttpStatus::service_unavailable) r.headers.emplace_back("Retry-After", "1");
  return r;
}

}  // namespace

Response error_response(const Error& e, const std::string& request_id) {
  const WireError w = wire_error(e.code);
  Response r = make(w, e.code == Errc::internal ? "internal error" : e.message, request_id);
  if (e.code == Errc::too_many_requests) {
    r.headers.emplace_back("Retry-After",
                           std::to_string(e.retry_after_seconds > 0 ? e.retry_after_seconds : 1));
  }
  if (e.code == Errc::unauthorized)
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"latchkey\"");
  r.log_note = e.detail;
  return r;
}

Response error_response(ProtocolError problem, const std::string& message,
                        const std::string& request_id) {
  return make(wire_error(problem), message, request_id);
}

Response json_response(HttpStatus status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace latchkey::http
