#include "http/cookies.h"

#include "http/types.h"

namespace latchkey::http {

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t semi = header.find(';');
    std::string_view pair = trim_ows(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim_ows(pair.substr(0, eq)) != name) continue;
    std::string_view v = trim_ows(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return std::nullopt;
}

std::string set_cookie(const SessionCookie& c, std::string_view value,
                       std::int64_t max_age_seconds) {
  std::string s = c.name;
  s += '=';
  s += value;
  s += "; Path=";
  s += c.path;
  s += "; Max-Age=";
  s += std::to_string(max_age_seconds < 0 ? 0 : max_age_seconds);
  s += "; HttpOnly; SameSite=Strict";
  if (c.secure) s += "; Secure";
  return s;
}

}  // namespace latchkey::http
