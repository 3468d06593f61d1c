#include "base/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace latchkey {
namespace {

constexpr std::uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpNetwork masked(IpAddress a, std::uint8_t prefix) {
  const int width = a.v6 ? 16 : 4;
  for (int i = 0; i < width; ++i) {
    const int bits = static_cast<int>(prefix) - i * 8;
    if (bits >= 8) continue;
    a.bytes[i] = bits <= 0 ? 0 : static_cast<std::uint8_t>(a.bytes[i] & (0xff << (8 - bits)));
  }
  return IpNetwork{a, prefix};
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  // inet_pton wants a terminated string; addresses are short.
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  if (std::memcmp(a.bytes.data(), kV4Mapped, sizeof kV4Mapped) == 0) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
  }
  a.v6 = true;
  return a;
}

std::optional<IpNetwork> parse_network(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = parse_ip(text.substr(0, slash));
  if (!address) return std::nullopt;
  // An IPv4-mapped address written in IPv6 keeps its IPv6 prefix length.
  const bool mapped = !address->v6 && text.substr(0, slash).find(':') != std::string_view::npos;
  const unsigned max = address->v6 || mapped ? 128 : 32;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || prefix > max)
      return std::nullopt;
  }
  if (mapped) {  // the IPv4 network it maps
    if (prefix < 96) return std::nullopt;
    prefix -= 96;
  }
  return masked(*address, static_cast<std::uint8_t>(prefix));
}

std::string to_string(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof buf)) return {};
  return buf;
}

std::string to_string(const IpNetwork& n) {
  return to_string(n.base) + "/" + std::to_string(n.prefix);
}

bool contains(const IpNetwork& n, const IpAddress& a) {
  return a.v6 == n.base.v6 && masked(a, n.prefix).base == n.base;
}

bool contains_any(const std::vector<IpNetwork>& networks, const IpAddress& a) {
  for (const auto& n : networks) {
    if (contains(n, a)) return true;
  }
  return false;
}

IpNetwork neighbourhood(const IpAddress& a) { return masked(a, a.v6 ? 64 : 24); }

}  // namespace latchkey
