#include "base/error.h"

#include <stdexcept>

namespace latchkey {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "latchkey"; }
  std::string message(int ev) const override { return errc_name(static_cast<Errc>(ev)); }
};
}  // namespace

const std::error_category& latchkey_category() noexcept {
  static const Category category;
  return category;
}

const char* errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
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
