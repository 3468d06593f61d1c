#include "base/error.h"

#include <stdexcept>

namespace latchkey {

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_request: return "invalid_request";
    case Errc::invalid_credentials: return "invalid_credentials";
    case Errc::unauthorized: return "unauthorized";
    case Errc::forbidden: return "forbidden";
    case Errc::not_found: return "not_found";
    case Errc::conflict: return "conflict";
    case Errc::payload_too_large: return "payload_too_large";
    case Errc::unsupported_media_type: return "unsupported_media_type";
    case Errc::too_many_requests: return "too_many_requests";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
    case Errc::corruption: return "corruption";
    case Errc::exists: return "exists";
  }
  return "unknown";
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(std::string(errc_name(e.code)) + ": " + e.message);
}

}  // namespace latchkey
