#pragma once
// IP addresses and networks (CIDR), for keys' allowed networks and the
// server's trusted proxies. Pure: text in, values out. An IPv4-mapped IPv6
// address (::ffff:192.0.2.1) is the IPv4 address it maps, so that a socket
// that accepts both families matches IPv4 networks.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latchkey {

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4
  bool operator==(const IpAddress&) const = default;
};

struct IpNetwork {
  IpAddress base;  // host bits cleared
  std::uint8_t prefix = 0;
  bool operator==(const IpNetwork&) const = default;
};

// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; no zone, no brackets.
[[nodiscard]] std::optional<IpAddress> parse_ip(std::string_view text);
// "10.0.0.0/8", "2001:db8::/32"; a bare address is /32 or /128. Host bits
// set below the prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8).
[[nodiscard]] std::optional<IpNetwork> parse_network(std::string_view text);

[[nodiscard]] std::string to_string(const IpAddress& a);
// Canonical text: "10.0.0.0/8", "2001:db8::/32".
[[nodiscard]] std::string to_string(const IpNetwork& n);

[[nodiscard]] bool contains(const IpNetwork& n, const IpAddress& a);
[[nodiscard]] bool contains_any(const std::vector<IpNetwork>& networks, const IpAddress& a);

// The network an address is "from" when deciding whether something is new:
// its /24 (IPv4) or /64 (IPv6).
[[nodiscard]] IpNetwork neighbourhood(const IpAddress& a);

}  // namespace latchkey
