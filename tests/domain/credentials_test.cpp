#include <boost/test/unit_test.hpp>

#include <array>
#include <regex>
#include <set>

#include "domain/credentials.h"
#include "keys/ids.h"

using namespace latchkey;
using namespace latchkey::domain;
using namespace latchkey::keys;

BOOST_AUTO_TEST_SUITE(credentials)

BOOST_AUTO_TEST_CASE(formats_are_recognisable_by_a_scanner) {
  const std::regex apikey("lk_[0-9a-f]{24}");
  const std::regex secret("lks_[0-9a-f]{72}");
  for (int i = 0; i < 200; ++i) {
    const auto a = new_apikey();
    const auto s = new_secretkey();
    BOOST_TEST(std::regex_match(a, apikey));
    BOOST_TEST(std::regex_match(s, secret));
    BOOST_TEST(is_apikey(a));
    BOOST_TEST(is_secretkey(s));
  }
}

BOOST_AUTO_TEST_CASE(the_checksum_catches_a_mistyped_secret) {
  const auto s = new_secretkey();
  for (std::size_t i = 4; i < s.size(); ++i) {
    std::string t = s;
    t[i] = t[i] == 'a' ? 'b' : 'a';
    BOOST_TEST(!is_secretkey(t));
  }
  BOOST_TEST(!is_secretkey(s.substr(1)));
  BOOST_TEST(!is_secretkey("lks_" + std::string(72, 'g')));
}

BOOST_AUTO_TEST_CASE(secrets_carry_256_random_bits) {
  // The 64 hex digits after "lks_" are the random part: 256 bits, each of
  // which varies. Over 1000 secrets every bit must be set in about half of
  // them (500 +- 16 by chance; 350 to 650 is over 9 standard deviations), so
  // a secret with fewer random bits (say 128, padded) or a biased generator
  // fails here, and no two secrets may be alike.
  std::set<std::string> seen;
  std::array<int, 256> ones{};
  for (int i = 0; i < 1000; ++i) {
    const std::string digits = new_secretkey().substr(4, 64);
    seen.insert(digits);
    BOOST_TEST_REQUIRE(digits.size() == 64u);
    for (std::size_t d = 0; d < 64; ++d) {
      const int nibble = std::stoi(digits.substr(d, 1), nullptr, 16);
      for (int b = 0; b < 4; ++b) ones[d * 4 + static_cast<std::size_t>(b)] += (nibble >> b) & 1;
    }
  }
  BOOST_TEST(seen.size() == 1000u);
  for (std::size_t bit = 0; bit < ones.size(); ++bit) {
    BOOST_TEST_CONTEXT("bit " << bit) {
      BOOST_TEST(ones[bit] > 350);
      BOOST_TEST(ones[bit] < 650);
    }
  }
}

BOOST_AUTO_TEST_CASE(ids_have_their_forms) {
  BOOST_TEST(is_principal_id(new_user_id()));
  BOOST_TEST(is_principal_id(new_service_account_id()));
  BOOST_TEST(!is_principal_id("usr_../../etc/pw"));
  BOOST_TEST(!is_principal_id(""));
  BOOST_TEST(new_jti().size() == 32u);
}

BOOST_AUTO_TEST_CASE(only_the_pepper_hash_of_a_secret_is_kept) {
  const Pepper p(std::string(32, 'x'));
  const Pepper q(std::string(32, 'y'));
  const auto s = new_secretkey();
  BOOST_TEST((p.hash(s) == p.hash(s)));
  BOOST_TEST((p.hash(s) != q.hash(s)));  // a different pepper, a different hash
  BOOST_TEST((p.hash(s) != sha256(s)));  // not a plain digest of the secret
  BOOST_TEST(Pepper::generate().bytes().size() == 32u);
}

BOOST_AUTO_TEST_SUITE_END()
