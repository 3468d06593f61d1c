#include "http/client_address.h"

#include <algorithm>
#include <cctype>

#include "http/types.h"

namespace latchkey::http {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = s.find(sep);
    out.push_back(trim_ows(s.substr(0, at)));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One hop's node: "192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]", "[2001:db8::1]:4711",
// "2001:db8::1"; nullopt for anything else ("unknown", "_hidden", garbage).
std::optional<IpAddress> node_address(std::string_view node) {
  if (node.size() >= 2 && node.front() == '"' && node.back() == '"') {
    node = node.substr(1, node.size() - 2);
  }
  if (!node.empty() && node.front() == '[') {
    const auto close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return parse_ip(node.substr(1, close - 1));
  }
  const auto colon = node.find(':');
  if (colon != std::string_view::npos && node.find(':', colon + 1) == std::string_view::npos) {
    node = node.substr(0, colon);  // IPv4 with a port
  }
  return parse_ip(node);
}

// The `for=` node of each element of a Forwarded header, in order.
std::vector<std::string_view> forwarded_for(std::string_view header) {
  std::vector<std::string_view> out;
  for (std::string_view element : split(header, ',')) {
    std::string_view node;  // an element without for= leaves a hole we cannot see past
    for (std::string_view pair : split(element, ';')) {
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && iequals(trim_ows(pair.substr(0, eq)), "for")) {
        node = trim_ows(pair.substr(eq + 1));
      }
    }
    out.push_back(node);
  }
  return out;
}

}  // namespace

std::string client_address(const std::string& peer, std::optional<std::string_view> forwarded,
                           std::optional<std::string_view> x_forwarded_for,
                           const std::vector<IpNetwork>& trusted) {
  if (trusted.empty()) return peer;
  const auto peer_address = parse_ip(peer);
  if (!peer_address || !contains_any(trusted, *peer_address)) return peer;
  std::vector<std::string_view> hops;
  if (forwarded) {
    hops = forwarded_for(*forwarded);
  } else if (x_forwarded_for) {
    hops = split(*x_forwarded_for, ',');
  }
  IpAddress client = *peer_address;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    const auto address = node_address(*it);
    if (!address) break;  // past what a trusted proxy could vouch for
    client = *address;
    if (!contains_any(trusted, client)) break;
  }
  return to_string(client);
}

}  // namespace latchkey::http
