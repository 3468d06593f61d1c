#include <boost/test/unit_test.hpp>

#include "http/host_routing.h"
#include "http/project_rates.h"

using namespace latchkey;
using namespace latchkey::http;

BOOST_AUTO_TEST_SUITE(host_routing)

BOOST_AUTO_TEST_CASE(the_host_is_the_host_header_unless_a_trusted_proxy_forwarded_one) {
  const std::vector<IpNetwork> trusted = {*parse_network("10.0.0.0/8")};
  struct Row {
    std::string peer;
    std::optional<std::string> host, forwarded, xfh;
    std::string want;
  };
  const std::vector<Row> rows = {
      {"127.0.0.1", "Acme.LocalHost:8080", {}, {}, "acme.localhost"},
      {"127.0.0.1", "acme.localhost.", {}, {}, "acme.localhost"},
      {"127.0.0.1", "[::1]:8080", {}, {}, "[::1]"},
      {"127.0.0.1", "127.0.0.1", {}, {}, "127.0.0.1"},
      {"127.0.0.1", {}, {}, {}, ""},
      // An untrusted peer's forwarding headers are ignored.
      {"127.0.0.1", "localhost", "host=evil.localhost", "evil.localhost", "localhost"},
      // A trusted one's count: Forwarded first, the nearest proxy's element.
      {"10.1.2.3",
       "proxy",
       "for=1.2.3.4;host=a.example, for=10.0.0.9;host=\"acme.example:443\"",
       {},
       "acme.example"},
      {"10.1.2.3", "proxy", {}, "x.example, acme.example", "acme.example"},
      {"10.1.2.3", "proxy", "for=1.2.3.4", "acme.example", "acme.example"},
      {"10.1.2.3", "proxy", {}, {}, "proxy"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.peer << " " << r.host.value_or("-") << " " << r.forwarded.value_or("-")
                              << " " << r.xfh.value_or("-")) {
      auto view = [](const std::optional<std::string>& s) -> std::optional<std::string_view> {
        if (!s) return std::nullopt;
        return std::string_view(*s);
      };
      BOOST_TEST(request_host(r.peer, view(r.host), view(r.forwarded), view(r.xfh), trusted) ==
                 r.want);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_subdomain_selects_its_project_and_other_hosts_the_default) {
  struct Row {
    std::string host, base, def;
    std::optional<std::string> project;
    bool by_subdomain;
  };
  const std::vector<Row> rows = {
      {"acme.localhost", "localhost", "default", "acme", true},
      {"localhost", "localhost", "default", "default", false},
      {"127.0.0.1", "localhost", "default", "default", false},
      {"[::1]", "localhost", "default", "default", false},
      {"a.b.localhost", "localhost", "default", std::nullopt, true},
      {"acme.example.com", "example.com", "default", "acme", true},
      {"acmeexample.com", "example.com", "default", "default", false},
      {"example.com", "example.com", "", std::nullopt, false},
      {"other.org", "example.com", "", std::nullopt, false},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.host << " on " << r.base) {
      const auto t = project_for_host(r.host, r.base, r.def);
      BOOST_TEST((t.project == r.project));
      BOOST_TEST(t.by_subdomain == r.by_subdomain);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_projects_url_keeps_the_scheme_and_port) {
  BOOST_TEST(project_url("http://127.0.0.1:8080", "localhost", "acme") ==
             "http://acme.localhost:8080");
  BOOST_TEST(project_url("https://example.com", "example.com", "acme") ==
             "https://acme.example.com");
  BOOST_TEST(project_url("https://example.com:8443/base", "example.com", "a") ==
             "https://a.example.com:8443");
  BOOST_TEST(project_url("http://[::1]:9000", "localhost", "b") == "http://b.localhost:9000");
}

BOOST_AUTO_TEST_CASE(a_projects_login_rate_admits_a_seconds_burst_then_paces) {
  ProjectRates rates;
  const Micros t0 = 1'000'000'000;
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += rates.admit("acme", 10, t0) ? 0 : 1;
  BOOST_TEST(admitted == 10);
  const auto wait = rates.admit("acme", 10, t0);
  BOOST_REQUIRE(wait.has_value());
  BOOST_TEST(*wait > 0);
  BOOST_TEST(*wait <= 100'000);
  // Another project is not held back by acme.
  BOOST_TEST(!rates.admit("beta", 10, t0).has_value());
  // After the wait, one more.
  BOOST_TEST(!rates.admit("acme", 10, t0 + *wait).has_value());
  BOOST_TEST(rates.admit("acme", 10, t0 + *wait).has_value());
  // A second later the burst is back.
  int later = 0;
  for (int i = 0; i < 20; ++i) later += rates.admit("acme", 10, t0 + 3'000'000) ? 0 : 1;
  BOOST_TEST(later == 10);
}

BOOST_AUTO_TEST_SUITE_END()
