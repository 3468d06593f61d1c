#include <boost/test/unit_test.hpp>

#include "http/client_address.h"

using latchkey::IpNetwork;
using latchkey::parse_network;
using latchkey::http::client_address;

namespace {

std::vector<IpNetwork> nets(std::initializer_list<const char*> list) {
  std::vector<IpNetwork> out;
  for (const char* n : list) out.push_back(*parse_network(n));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(client_address_from_proxies)

BOOST_AUTO_TEST_CASE(headers_from_an_untrusted_peer_are_ignored) {
  BOOST_TEST(client_address("198.51.100.9", std::nullopt, "203.0.113.7", {}) == "198.51.100.9");
  BOOST_TEST(client_address("198.51.100.9", "for=203.0.113.7", "203.0.113.7",
                            nets({"127.0.0.1/32"})) == "198.51.100.9");
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, std::nullopt, nets({"127.0.0.1/32"})) ==
             "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(x_forwarded_for_is_walked_from_the_right_past_trusted_proxies) {
  const auto trusted = nets({"127.0.0.1/32", "10.0.0.0/8"});
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "203.0.113.7", trusted) == "203.0.113.7");
  // The left-most entries are whatever the client wrote: only the hops the
  // trusted proxies added count.
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "1.2.3.4, 203.0.113.7, 10.1.1.1", trusted) ==
             "203.0.113.7");
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "2001:db8::5", trusted) == "2001:db8::5");
  // Every hop trusted: the left-most one.
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "10.0.0.2,10.0.0.3", trusted) == "10.0.0.2");
  // Garbage stops the walk at the last address a trusted proxy vouched for.
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "203.0.113.7, nonsense", trusted) ==
             "127.0.0.1");
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "nonsense, 10.0.0.9", trusted) ==
             "10.0.0.9");
  BOOST_TEST(client_address("127.0.0.1", std::nullopt, "203.0.113.7:4711", trusted) ==
             "203.0.113.7");
}

BOOST_AUTO_TEST_CASE(forwarded_takes_precedence_and_its_syntax_is_understood) {
  const auto trusted = nets({"::1/128", "127.0.0.0/8"});
  BOOST_TEST(client_address("::1", "for=192.0.2.60;proto=http;by=203.0.113.43", "198.51.100.1",
                            trusted) == "192.0.2.60");
  BOOST_TEST(client_address("127.0.0.1", R"(for="[2001:db8:cafe::17]:4711")", std::nullopt,
                            trusted) == "2001:db8:cafe::17");
  BOOST_TEST(client_address("127.0.0.1", "For=192.0.2.43, for=127.0.0.2", std::nullopt, trusted) ==
             "192.0.2.43");
  BOOST_TEST(client_address("127.0.0.1", "for=unknown", std::nullopt, trusted) == "127.0.0.1");
  BOOST_TEST(client_address("127.0.0.1", "proto=https", std::nullopt, trusted) == "127.0.0.1");
  // A dual-stack peer is its IPv4 address.
  BOOST_TEST(client_address("::ffff:127.0.0.1", "for=192.0.2.1", std::nullopt, trusted) ==
             "192.0.2.1");
}

BOOST_AUTO_TEST_SUITE_END()
