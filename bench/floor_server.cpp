// floor_server: the HTTP floor of bench/login. A bare Boost.Beast server that
// answers every request with the same small JSON body: HTTP/1.1 keep-alive,
// one coroutine per connection on its own strand, one thread per core, as
// `latchkey serve` is built, but with nothing behind the parser.
//
// Usage: floor_server [--listen 127.0.0.1:0] [--threads N]
// Logs {"msg":"listening","address":"HOST:PORT"} on stderr once it accepts.

#include <CLI/CLI.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::string_view kBody =
    R"({"access_token":"floor","token_type":"Bearer","expires_in":3600})";

net::awaitable<void> session(beast::tcp_stream stream) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [rec, rn] = co_await http::async_read(stream, buffer, req, kTuple);
    if (rec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "floor");
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = kBody;
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> listen(tcp::acceptor& acceptor, net::io_context& ioc) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(ioc), kTuple);
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const auto ex = socket.get_executor();
    net::co_spawn(ex, session(beast::tcp_stream(std::move(socket))), net::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"floor_server: a bare Beast server answering a fixed JSON body"};
  std::string listen_at = "127.0.0.1:0";
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--listen", listen_at, "HOST:PORT (port 0 picks one)")->capture_default_str();
  app.add_option("--threads", threads, "I/O threads")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto colon = listen_at.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "floor_server: --listen takes HOST:PORT\n");
    return 2;
  }
  net::io_context ioc(threads);
  beast::error_code ec;
  const auto addr = net::ip::make_address(listen_at.substr(0, colon), ec);
  if (ec) {
    std::fprintf(stderr, "floor_server: bad host in %s\n", listen_at.c_str());
    return 2;
  }
  const tcp::endpoint ep(addr,
                         static_cast<unsigned short>(std::stoul(listen_at.substr(colon + 1))));
  tcp::acceptor acceptor(net::make_strand(ioc));
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "floor_server: cannot listen on %s: %s\n", listen_at.c_str(),
                 ec.message().c_str());
    return 1;
  }
  const auto bound = acceptor.local_endpoint();
  net::co_spawn(acceptor.get_executor(), listen(acceptor, ioc), net::detached);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) { ioc.stop(); });
  std::fprintf(stderr, "{\"msg\":\"listening\",\"address\":\"%s:%u\",\"threads\":%d}\n",
               bound.address().to_string().c_str(), bound.port(), threads);
  std::fflush(stderr);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
