#include "http/host_routing.h"

#include <algorithm>
#include <cctype>

#include "http/types.h"

namespace latchkey::http {
namespace {

std::string_view last_element(std::string_view list) {
  const auto comma = list.rfind(',');
  return trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

// "Example.COM:8080" -> "example.com"; "[::1]:8080" -> "[::1]".
std::string without_port(std::string_view host) {
  host = trim_ows(host);
  if (host.size() >= 2 && host.front() == '"' && host.back() == '"')
    host = host.substr(1, host.size() - 2);
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    host = close == std::string_view::npos ? host : host.substr(0, close + 1);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string out(host);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!out.empty() && out.back() == '.') out.pop_back();  // a fully qualified name
  return out;
}

std::optional<std::string_view> forwarded_host(std::string_view header) {
  std::string_view element = last_element(header);
  std::optional<std::string_view> host;
  while (!element.empty()) {
    const auto semi = element.find(';');
    std::string_view pair = trim_ows(element.substr(0, semi));
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos) {
      std::string name(trim_ows(pair.substr(0, eq)));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "host") host = trim_ows(pair.substr(eq + 1));
    }
    if (semi == std::string_view::npos) break;
    element.remove_prefix(semi + 1);
  }
  return host;
}

}  // namespace

std::string request_host(const std::string& peer, std::optional<std::string_view> host_header,
                         std::optional<std::string_view> forwarded,
                         std::optional<std::string_view> x_forwarded_host,
                         const std::vector<IpNetwork>& trusted) {
  if (!trusted.empty() && (forwarded || x_forwarded_host)) {
    const auto address = parse_ip(peer);
    if (address && contains_any(trusted, *address)) {
      if (forwarded) {
        if (auto h = forwarded_host(*forwarded)) return without_port(*h);
      }
      if (x_forwarded_host) return without_port(last_element(*x_forwarded_host));
    }
  }
  return host_header ? without_port(*host_header) : std::string();
}

HostTarget project_for_host(std::string_view host, std::string_view base_domain,
                            std::string_view default_project) {
  HostTarget out;
  if (!base_domain.empty() && host.size() > base_domain.size() + 1 && host.ends_with(base_domain) &&
      host[host.size() - base_domain.size() - 1] == '.') {
    const std::string_view label = host.substr(0, host.size() - base_domain.size() - 1);
    out.by_subdomain = true;
    // "a.b.example.com" names no project; neither does an empty label.
    if (label.find('.') == std::string_view::npos) out.project = std::string(label);
    return out;
  }
  if (!default_project.empty()) out.project = std::string(default_project);
  return out;
}

std::string project_url(std::string_view url, std::string_view base_domain,
                        std::string_view project) {
  std::string_view scheme = "http";
  if (const auto sep = url.find("://"); sep != std::string_view::npos) {
    scheme = url.substr(0, sep);
    url.remove_prefix(sep + 3);
  }
  url = url.substr(0, url.find('/'));
  std::string_view port;
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    if (close != std::string_view::npos && close + 1 < url.size() && url[close + 1] == ':')
      port = url.substr(close + 1);
  } else if (const auto colon = url.find(':'); colon != std::string_view::npos) {
    port = url.substr(colon);
  }
  std::string out(scheme);
  out += "://";
  out += project;
  out += '.';
  out += base_domain;
  out += port;
  return out;
}

}  // namespace latchkey::http
