#pragma once
// Which project a request is for: `{project}.{base_domain}` (any port)
// selects that project; the bare base domain, an address and any other host
// select the default project (server.default_project), or none when that is
// empty. The host is the Host header, or the forwarded host (RFC 7239
// `Forwarded: host=`, else `X-Forwarded-Host`) when the socket peer is one of
// `server.trusted_proxies`. Plain functions, tested as tables.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cidr.h"

namespace latchkey::http {

// The request's host, lower-case, without its port. Forwarding headers count
// only from a trusted peer; each is taken from the nearest proxy (the last
// element). "" when there is no host at all.
[[nodiscard]] std::string request_host(const std::string& peer,
                                       std::optional<std::string_view> host_header,
                                       std::optional<std::string_view> forwarded,
                                       std::optional<std::string_view> x_forwarded_host,
                                       const std::vector<IpNetwork>& trusted);

struct HostTarget {
  // The project the host names, or the default project; nullopt: none.
  std::optional<std::string> project;
  // The host names a project by its subdomain (not the default by fallback).
  bool by_subdomain = false;
};
[[nodiscard]] HostTarget project_for_host(std::string_view host, std::string_view base_domain,
                                          std::string_view default_project);

// The public URL of a project: `url`'s scheme and port with the host
// `{project}.{base_domain}`, e.g. ("http://127.0.0.1:8080", "localhost",
// "acme") -> "http://acme.localhost:8080".
[[nodiscard]] std::string project_url(std::string_view url, std::string_view base_domain,
                                      std::string_view project);

}  // namespace latchkey::http
