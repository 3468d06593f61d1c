#include <boost/test/unit_test.hpp>

#include "http/cookies.h"

using namespace latchkey::http;

BOOST_AUTO_TEST_SUITE(cookies)

BOOST_AUTO_TEST_CASE(a_cookie_is_read_by_its_exact_name) {
  BOOST_TEST(cookie_value("lk_session=abc", "lk_session").value() == "abc");
  BOOST_TEST(cookie_value("a=1; lk_session=abc; b=2", "lk_session").value() == "abc");
  BOOST_TEST(cookie_value("a=1;lk_session=\"abc\"", "lk_session").value() == "abc");
  BOOST_TEST(cookie_value("x_lk_session=abc; lk_session_x=d", "lk_session").has_value() == false);
  BOOST_TEST(cookie_value("lk_session=first; lk_session=second", "lk_session").value() == "first");
  BOOST_TEST(cookie_value("", "lk_session").has_value() == false);
  BOOST_TEST(cookie_value("novalue; lk_session=", "lk_session").value().empty());
  BOOST_TEST(cookie_value(";;; =x; lk_platform_session=p", "lk_platform_session").value() == "p");
}

BOOST_AUTO_TEST_CASE(the_session_cookie_is_httponly_strict_and_host_only) {
  SessionCookie c;
  BOOST_TEST(set_cookie(c, "tok", 3600) ==
             "lk_session=tok; Path=/iam; Max-Age=3600; HttpOnly; SameSite=Strict");
  c.secure = true;
  c.name = "lk_platform_session";
  c.path = "/platform";
  BOOST_TEST(set_cookie(c, "", 0) ==
             "lk_platform_session=; Path=/platform; Max-Age=0; HttpOnly; SameSite=Strict; Secure");
  BOOST_TEST(set_cookie(c, "", -5).find("Max-Age=0") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
