#pragma once
// The client's address behind trusted reverse proxies. A request's client is
// its socket peer, unless that peer is one of `server.trusted_proxies`: then
// the forwarding headers (RFC 7239 `Forwarded: for=`, else
// `X-Forwarded-For`) are walked from the right, past every trusted proxy,
// and the first address that is not one is the client. A header from an
// untrusted peer is ignored: anyone can write one.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cidr.h"

namespace latchkey::http {

// `forwarded` and `x_forwarded_for` are the headers' values, every line of
// each joined by ","; nullopt when absent. Returns an address as text.
[[nodiscard]] std::string client_address(const std::string& peer,
                                         std::optional<std::string_view> forwarded,
                                         std::optional<std::string_view> x_forwarded_for,
                                         const std::vector<IpNetwork>& trusted);

}  // namespace latchkey::http
