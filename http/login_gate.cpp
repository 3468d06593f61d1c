#include "http/login_gate.h"

#include <boost/asio/use_awaitable.hpp>

namespace latchkey::http {

LoginGate::LoginGate(boost::asio::any_io_executor executor, std::size_t limit)
    : places_(std::move(executor), limit) {}

boost::asio::awaitable<void> LoginGate::enter() {
  co_await places_.async_send(boost::system::error_code{}, boost::asio::use_awaitable);
}

void LoginGate::leave() {
  [[maybe_unused]] const bool taken = places_.try_receive([](boost::system::error_code) {});
}

bool LoginShares::shared(const void* project, Micros now) {
  std::lock_guard lock(mu_);
  if (project != last_) {
    previous_ = last_;
    previous_at_ = last_at_;
    last_ = project;
  }
  last_at_ = now;
  return previous_ != nullptr && previous_ != project && now - previous_at_ < window_;
}

}  // namespace latchkey::http
