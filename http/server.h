#pragma once
// The HTTP/1.1 server on Boost.Beast: one listener, one coroutine per
// connection on its own strand, plain TCP or TLS. Limits: header and body
// size, a deadline for reading each request (a slow client cannot hold a
// connection), an idle keep-alive timeout, and a maximum connection count.

#include <atomic>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "base/error.h"
#include "http/config.h"
#include "http/json_log.h"
#include "http/metrics.h"
#include "http/types.h"

namespace latchkey::http {

class Server {
 public:
  // Serves one parsed request; must not throw (Api::handle never does). The
  // request lives until the returned coroutine completes.
  using Handler = std::function<boost::asio::awaitable<Response>(const Request&)>;

  // `tls` may be null (plain HTTP). References must outlive the server.
  // `server_log` hears of a connection that ended with an exception.
  Server(boost::asio::io_context& ioc, const Config& config, Handler handler, JsonLog& access_log,
         JsonLog& server_log, Metrics& metrics, boost::asio::ssl::context* tls);
  ~Server();

  // Binds HOST:PORT (port 0 picks a free one) and starts accepting.
  // Returns the bound address as HOST:PORT. Call once, before running the io_context.
  [[nodiscard]] Result<std::string> start(const std::string& listen);

  // Stops accepting; requests in flight finish and get their response with
  // "Connection: close"; idle connections are closed. Thread-safe.
  void shutdown();

  std::size_t connections() const { return active_.load(); }

 private:
  struct Conn;
  void log_exception(const char* what, std::exception_ptr e, const std::string& remote_ip);
  template <class Stream>
  friend struct SessionRunner;

  boost::asio::io_context& ioc_;
  const Config& config_;
  Handler handler_;
  JsonLog& access_log_;
  JsonLog& server_log_;
  Metrics& metrics_;
  boost::asio::ssl::context* tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};
  std::mutex conns_mu_;
  std::list<std::weak_ptr<Conn>> conns_;  // GUARDED_BY(conns_mu_)
};

}  // namespace latchkey::http
