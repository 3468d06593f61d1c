#include <boost/test/unit_test.hpp>

#include "base/cidr.h"

using namespace latchkey;

BOOST_AUTO_TEST_SUITE(cidr)

BOOST_AUTO_TEST_CASE(networks_are_parsed_and_normalised) {
  const std::pair<const char*, const char*> table[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"10.1.2.3/8", "10.0.0.0/8"},   // host bits cleared
      {"192.0.2.7", "192.0.2.7/32"},  // a bare address
      {"192.0.2.255/31", "192.0.2.254/31"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"2001:db8::1/32", "2001:db8::/32"},
      {"2001:DB8:0:0::/48", "2001:db8::/48"},
      {"::1", "::1/128"},
      {"::/0", "::/0"},
      {"::ffff:192.0.2.0/120", "192.0.2.0/24"},  // IPv4-mapped: the IPv4 network
      {"::ffff:192.0.2.9", "192.0.2.9/32"},
  };
  for (const auto& [in, out] : table) {
    BOOST_TEST_CONTEXT(in) {
      const auto n = parse_network(in);
      BOOST_TEST_REQUIRE(n.has_value());
      BOOST_TEST(to_string(*n) == out);
    }
  }
}

BOOST_AUTO_TEST_CASE(what_is_not_a_network_is_refused) {
  for (const char* bad :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.300/8", "10.0.0/8", "10.0.0.0/8/8",
        "10.0.0.0/-1", "10.0.0.0/ 8", "10.0.0.0/08x", "2001:db8::/129", "2001:db8:::/32",
        "fe80::1%eth0", "[::1]", "::ffff:192.0.2.0/95", "localhost", " 10.0.0.0/8", "10.0.0.0/8 ",
        "lks_0123456789abcdef"}) {
    BOOST_TEST_CONTEXT('"' << bad << '"') { BOOST_TEST(!parse_network(bad).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(containment_matches_prefixes_and_families) {
  const auto v4 = *parse_network("192.0.2.0/24");
  BOOST_TEST(contains(v4, *parse_ip("192.0.2.0")));
  BOOST_TEST(contains(v4, *parse_ip("192.0.2.255")));
  BOOST_TEST(!contains(v4, *parse_ip("192.0.3.0")));
  BOOST_TEST(contains(v4, *parse_ip("::ffff:192.0.2.80")));  // a dual-stack socket's peer
  BOOST_TEST(!contains(v4, *parse_ip("::c000:250")));        // not mapped: another family
  const auto odd = *parse_network("10.0.0.0/13");
  BOOST_TEST(contains(odd, *parse_ip("10.7.255.255")));
  BOOST_TEST(!contains(odd, *parse_ip("10.8.0.0")));
  const auto v6 = *parse_network("2001:db8:abcd::/47");
  BOOST_TEST(contains(v6, *parse_ip("2001:db8:abcd:1::1")));
  BOOST_TEST(contains(v6, *parse_ip("2001:db8:abcd:ffff::1")));
  BOOST_TEST(!contains(v6, *parse_ip("2001:db8:abce::1")));
  BOOST_TEST(!contains(v6, *parse_ip("192.0.2.1")));
  BOOST_TEST(contains(*parse_network("::/0"), *parse_ip("2001:db8::1")));
  BOOST_TEST(!contains(*parse_network("::/0"), *parse_ip("192.0.2.1")));
  BOOST_TEST(contains(*parse_network("0.0.0.0/0"), *parse_ip("192.0.2.1")));
  BOOST_TEST(contains_any({v4, v6}, *parse_ip("2001:db8:abcd::9")));
  BOOST_TEST(!contains_any({}, *parse_ip("192.0.2.1")));
}

BOOST_AUTO_TEST_CASE(an_address_neighbourhood_is_its_24_or_64) {
  BOOST_TEST(to_string(neighbourhood(*parse_ip("203.0.113.77"))) == "203.0.113.0/24");
  BOOST_TEST(to_string(neighbourhood(*parse_ip("2001:db8:1:2:3:4:5:6"))) == "2001:db8:1:2::/64");
  BOOST_TEST(to_string(*parse_ip("::ffff:10.1.2.3")) == "10.1.2.3");
}

BOOST_AUTO_TEST_SUITE_END()
