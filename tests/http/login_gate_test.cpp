// A project's share of the logins: the gate admits `limit` at once and the
// next in order when one leaves; the shares say when another project is
// logging in.
#include <boost/test/unit_test.hpp>

#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "http/login_gate.h"

using namespace latchkey;
using latchkey::http::LoginGate;
using latchkey::http::LoginShares;

namespace {
// Runs what is ready (a login waiting at the gate is outstanding work, so
// run() would wait for it).
void settle(boost::asio::io_context& ioc) {
  while (ioc.poll() > 0) {
  }
  ioc.restart();
}
}  // namespace

BOOST_AUTO_TEST_SUITE(login_gate)

BOOST_AUTO_TEST_CASE(admits_the_limit_then_one_per_place_given_back_in_order) {
  boost::asio::io_context ioc;
  LoginGate gate(ioc.get_executor(), 2);
  std::vector<int> entered;
  for (int i = 0; i < 5; ++i) {
    boost::asio::co_spawn(
        ioc,
        [&gate, &entered, i]() -> boost::asio::awaitable<void> {
          co_await gate.enter();
          entered.push_back(i);
        },
        boost::asio::detached);
  }
  settle(ioc);
  BOOST_TEST(entered == (std::vector<int>{0, 1}));
  gate.leave();
  settle(ioc);
  BOOST_TEST(entered == (std::vector<int>{0, 1, 2}));
  gate.leave();
  gate.leave();
  settle(ioc);
  BOOST_TEST(entered == (std::vector<int>{0, 1, 2, 3, 4}));
  // Places held by a Place are given back when it goes.
  for (int i = 0; i < 3; ++i) gate.leave();
  int later = 0;
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        co_await gate.enter();
        const LoginGate::Place a(&gate);
        co_await gate.enter();
        const LoginGate::Place b(&gate);
        ++later;
      },
      boost::asio::detached);
  settle(ioc);
  BOOST_TEST(later == 1);
  // Both places are free again: two more enter without waiting.
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        co_await gate.enter();
        co_await gate.enter();
        ++later;
      },
      boost::asio::detached);
  settle(ioc);
  BOOST_TEST(later == 2);
}

BOOST_AUTO_TEST_CASE(shared_only_while_another_project_logged_in_within_the_window) {
  LoginShares shares(1000);
  int a = 0, b = 0;
  // One project alone is never shared.
  BOOST_TEST(!shares.shared(&a, 0));
  BOOST_TEST(!shares.shared(&a, 10));
  BOOST_TEST(!shares.shared(&a, 5000));
  // Another one comes: both are shared while each logged in within the window.
  BOOST_TEST(shares.shared(&b, 5100));
  BOOST_TEST(shares.shared(&a, 5200));
  BOOST_TEST(shares.shared(&a, 6000));   // b logged in 900 µs ago
  BOOST_TEST(!shares.shared(&a, 6100));  // 1000 µs: b is quiet now
  BOOST_TEST(!shares.shared(&a, 9000));
  // b after a long silence: a logged in just before.
  BOOST_TEST(shares.shared(&b, 9500));
  BOOST_TEST(!shares.shared(&b, 20000));
}

BOOST_AUTO_TEST_SUITE_END()
