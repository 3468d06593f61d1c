#pragma once
// The HTTP statuses latchkey sends: its own type, so that a domain outcome
// (base/error.h's Errc) becomes a status only through http/error_map.h.

#include <cstdint>

namespace latchkey::http {

enum class HttpStatus : std::uint16_t {
  ok = 200,
  created = 201,
  no_content = 204,
  permanent_redirect = 308,
  bad_request = 400,
  unauthorized = 401,
  forbidden = 403,
  not_found = 404,
  conflict = 409,
  payload_too_large = 413,
  unsupported_media_type = 415,
  too_many_requests = 429,
  request_header_fields_too_large = 431,
  internal_server_error = 500,
  service_unavailable = 503,
};

constexpr unsigned code(HttpStatus s) noexcept { return static_cast<unsigned>(s); }

}  // namespace latchkey::http
