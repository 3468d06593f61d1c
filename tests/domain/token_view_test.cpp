#include <boost/test/unit_test.hpp>

#include <random>
#include <vector>

#include "projections/views.h"

using latchkey::projections::LiveToken;
using latchkey::projections::TokenView;

BOOST_AUTO_TEST_SUITE(token_view)

namespace {
TokenView::Jti random_jti(std::mt19937_64& rng) {
  TokenView::Jti j{};
  for (auto& b : j) b = static_cast<std::uint8_t>(rng());
  return j;
}
}  // namespace

// The jti index is split into tables by a byte of the jti: every token is
// found whichever table it is in, and pruning removes exactly the expired ones
// from all of them.
BOOST_AUTO_TEST_CASE(tokens_spread_over_the_index_are_found_and_pruned) {
  std::mt19937_64 rng(20261127);
  TokenView v;
  std::vector<LiveToken> added;
  for (int i = 0; i < 5000; ++i) {
    LiveToken t{random_jti(rng), static_cast<std::uint32_t>(i % 7), 1000 + i, 2000 + i};
    v.add(t);
    added.push_back(t);
  }
  v.add(LiveToken{added[42].jti, 99, 1, 1});  // a jti seen again is ignored
  BOOST_TEST(v.size() == 5000u);
  for (const auto& t : added) {
    const LiveToken* found = v.find(t.jti);
    BOOST_REQUIRE(found != nullptr);
    BOOST_TEST(found->iat == t.iat);
    BOOST_TEST(found->key == t.key);
  }
  BOOST_TEST(v.find(random_jti(rng)) == nullptr);

  v.prune(2000 + 2999);  // every token with exp <= 4999 expires: the first 3000
  BOOST_TEST(v.size() == 2000u);
  for (std::size_t i = 0; i < added.size(); ++i) {
    const LiveToken* found = v.find(added[i].jti);
    if (i < 3000) {
      BOOST_TEST(found == nullptr);
    } else {
      BOOST_REQUIRE(found != nullptr);
      BOOST_TEST(found->exp == added[i].exp);
    }
  }
  const auto live = v.live();
  BOOST_REQUIRE(live.size() == 2000u);
  BOOST_TEST(live.front().iat == added[3000].iat);  // issue order kept
  BOOST_TEST(live.back().iat == added.back().iat);
}

BOOST_AUTO_TEST_SUITE_END()
