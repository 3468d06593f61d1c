#include "http/awaitable.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>

namespace latchkey::http {

namespace net = boost::asio;

namespace {

// Runs start(callback) and awaits the value the callback is given, from any
// thread. The callback is copyable (the write side keeps std::functions) and
// may be called at once, from inside start.
template <class T, class Start>
net::awaitable<T> await_callback(Start start) {
  co_return co_await net::async_initiate<const net::use_awaitable_t<>&, void(T)>(
      [&start](auto handler) {
        auto ex = net::get_associated_executor(handler);
        auto work = net::make_work_guard(ex);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([h, work](T value) mutable {
          net::post(work.get_executor(),
                    [h, value = std::move(value)]() mutable { (*h)(std::move(value)); });
          work.reset();
        });
      },
      net::use_awaitable);
}

}  // namespace

net::awaitable<Committed> execute(service::CommandService& commands, domain::Command command,
                                  events::RequestContext context) {
  return await_callback<Committed>(
      [&commands, command = std::move(command), context = std::move(context)](auto done) mutable {
        commands.execute(std::move(command), std::move(context), std::move(done));
      });
}

net::awaitable<Result<domain::LoginDecision>> login(service::CommandService& commands,
                                                    domain::LoginAttempt attempt,
                                                    events::RequestContext context) {
  return await_callback<Result<domain::LoginDecision>>(
      [&commands, attempt = std::move(attempt), context = std::move(context)](auto done) mutable {
        commands.login(std::move(attempt), std::move(context), std::move(done));
      });
}

net::awaitable<Committed> record(service::CommandService& commands,
                                 std::vector<events::Draft> drafts,
                                 events::RequestContext context) {
  return await_callback<Committed>(
      [&commands, drafts = std::move(drafts), context = std::move(context)](auto done) mutable {
        commands.record(std::move(drafts), std::move(context), std::move(done));
      });
}

net::awaitable<Result<std::string>> reply_of(
    std::function<void(std::function<void(Result<std::string>)>)> start) {
  return await_callback<Result<std::string>>(
      [start = std::move(start)](auto done) mutable { start(std::move(done)); });
}

net::awaitable<Status> send(Mailer& mailer, MailMessage message) {
  return await_callback<Status>([&mailer, message = std::move(message)](auto done) mutable {
    mailer.send(std::move(message), std::move(done));
  });
}

}  // namespace latchkey::http
