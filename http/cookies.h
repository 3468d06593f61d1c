#pragma once
// Cookies (RFC 6265): reading one from a request's Cookie header, and the
// Set-Cookie of the console's session.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace latchkey::http {

// The value of cookie `name` in a Cookie header ("a=1; b=2"), or nullopt.
// Values may be quoted; the first cookie of that name wins.
[[nodiscard]] std::optional<std::string_view> cookie_value(std::string_view header,
                                                           std::string_view name);

struct SessionCookie {
  std::string name = "lk_session";
  std::string path = "/iam";  // sent with the API's requests only, not with the console's files
  bool secure = false;        // under TLS (or behind a TLS proxy: server.public_url https)
};

// Set-Cookie for a session holding `value` for `max_age_seconds`: HttpOnly,
// SameSite=Strict, host-only (no Domain), Secure when `c.secure`. A
// max_age_seconds of 0 clears it.
[[nodiscard]] std::string set_cookie(const SessionCookie& c, std::string_view value,
                                     std::int64_t max_age_seconds);

}  // namespace latchkey::http
