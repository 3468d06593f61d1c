#pragma once
// A project's share of the server: while more than one project is logging
// in, at most `limit` logins of each are in progress at once
// (server.project_login_concurrency). The others wait their turn, in order,
// without taking CPU, so a project flooding logins keeps a bounded number of
// requests in the I/O threads' queue and another project's login does not
// wait behind all of them. A project alone is not limited: nobody waits
// behind it but itself.

#include <cstddef>
#include <mutex>

#include "base/clock.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

namespace latchkey::http {

class LoginGate {
 public:
  LoginGate(boost::asio::any_io_executor executor, std::size_t limit);
  LoginGate(const LoginGate&) = delete;
  LoginGate& operator=(const LoginGate&) = delete;

  // Waits for a place. Thread-safe.
  boost::asio::awaitable<void> enter();
  // Gives the place back (to the first waiting login, if any). Thread-safe.
  void leave();

  // Holds a place from enter() until destroyed.
  class Place {
   public:
    explicit Place(LoginGate* gate) : gate_(gate) {}
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() {
      if (gate_) gate_->leave();
    }

   private:
    LoginGate* gate_;
  };

 private:
  // One buffered message per place taken: a full buffer makes enter() wait.
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> places_;
};

// Which projects are logging in: whether a project other than the one asking
// started a login within the last `window`.
class LoginShares {
 public:
  explicit LoginShares(Micros window) : window_(window) {}
  // Notes a login of `project` at `now`; true when another project logged in
  // within the window before it. Thread-safe.
  bool shared(const void* project, Micros now);

 private:
  const Micros window_;
  std::mutex mu_;
  // The two projects that logged in last, each with the time of its last login.
  const void* last_ = nullptr;      // GUARDED_BY(mu_)
  Micros last_at_ = 0;              // GUARDED_BY(mu_)
  const void* previous_ = nullptr;  // GUARDED_BY(mu_)
  Micros previous_at_ = 0;          // GUARDED_BY(mu_)
};

}  // namespace latchkey::http
