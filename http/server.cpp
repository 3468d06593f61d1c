#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/parse.h"
#include "http/client_address.h"
#include "http/error_map.h"
#include "http/framing.h"
#include "http/host_routing.h"
#include "keys/ids.h"

namespace latchkey::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr auto kIgnoreBytes = [](std::string_view) {};

bool valid_request_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != ':')
      return false;
  }
  return true;
}

}  // namespace

// What the server knows of one connection, for shutdown.
struct Server::Conn {
  std::atomic<bool> idle{true};
  std::mutex mu;
  std::function<void()> close;  // GUARDED_BY(mu); posts a close onto the connection's strand
  void set_close(std::function<void()> f) {
    std::lock_guard lock(mu);
    close = std::move(f);
  }
  void close_if_idle() {
    std::lock_guard lock(mu);
    if (idle && close) close();
  }
};

template <class Stream>
struct SessionRunner {
  Server& s;
  Stream stream;
  std::shared_ptr<Server::Conn> conn;
  std::string remote_ip;

  auto& tcp_stream() { return beast::get_lowest_layer(stream); }

  template <class Body>
  void decorate(bhttp::response<Body>& res, const Response& r, const std::string& request_id,
                bool keep_alive) {
    res.set(bhttp::field::server, "latchkey");
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    res.set("X-Request-Id", request_id);
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : r.headers) res.insert(k, v);
    res.keep_alive(keep_alive);
  }

  // Writes an error for a request that could not be read, then the connection closes.
  // `client_rid`: the client's X-Request-Id when its headers could be read.
  net::awaitable<void> write_error(ProtocolError problem, const std::string& message,
                                   std::string_view client_rid = {}) {
    const std::string rid =
        valid_request_id(client_rid) ? std::string(client_rid) : keys::new_request_id();
    Response r = error_response(problem, message, rid);
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(code(r.status)), 11};
    decorate(res, r, rid, false);
    res.body() = r.body;
    res.prepare_payload();
    tcp_stream().expires_after(std::chrono::milliseconds(s.config_.read_timeout_ms));
    co_await bhttp::async_write(stream, res, kTuple);
    log_access(rid, "-", "unmatched", r.status, 0, "", message);
  }

  // Answers a request whose header or body could not be read, unless the
  // client went away or ran out of time; the connection closes after it.
  // (Messages are named locals: see the co_await rule in http/api.h.)
  net::awaitable<void> refuse(beast::error_code ec,
                              const bhttp::request_parser<bhttp::string_body>& parser) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      co_return;
    }
    const std::string rid(parser.get()["X-Request-Id"]);
    if (ec == bhttp::error::header_limit) {
      const std::string message =
          "request headers exceed " + std::to_string(s.config_.max_header_bytes) + " bytes";
      co_await write_error(ProtocolError::header_too_large, message);
    } else if (ec == bhttp::error::body_limit) {
      const std::string message =
          "body exceeds " + std::to_string(s.config_.max_body_bytes) + " bytes";
      co_await write_error(ProtocolError::body_too_large, message, rid);
    } else {
      const std::string message = "malformed HTTP request";
      co_await write_error(ProtocolError::malformed_request, message);
    }
  }

  void log_access(const std::string& rid, const std::string& method, const std::string& route,
                  HttpStatus status, double seconds, const std::string& principal,
                  const std::string& note, const std::string& client_ip = {}) {
    s.metrics_.request(route, static_cast<int>(code(status)), seconds);
    if (!s.access_log_.enabled()) return;
    // Built by hand (one line per request), keys in the order nlohmann::json
    // writes them for the other log lines: alphabetical.
    char latency[32];
    const auto end = std::to_chars(latency, latency + sizeof latency, seconds * 1000.0).ptr;
    std::string line;
    line.reserve(256);
    line += '{';
    if (!client_ip.empty() && client_ip != remote_ip) {  // behind a trusted proxy
      line += "\"client_ip\":";
      JsonLog::append_string(line, client_ip);
      line += ',';
    }
    line += "\"latency_ms\":";
    line.append(latency, end);
    line += ",\"method\":";
    JsonLog::append_string(line, method);
    if (!note.empty()) {
      line += ",\"note\":";
      JsonLog::append_string(line, note);
    }
    if (!principal.empty()) {
      line += ",\"principal\":";
      JsonLog::append_string(line, principal);
    }
    line += ",\"remote_ip\":";
    JsonLog::append_string(line, remote_ip);
    line += ",\"request_id\":";
    JsonLog::append_string(line, rid);
    line += ",\"route\":";
    JsonLog::append_string(line, route);
    line += ",\"status\":";
    line += std::to_string(code(status));
    line += ",\"time\":";
    JsonLog::append_string(line, format_rfc3339(SystemClock().now()));
    line.push_back('}');
    s.access_log_.write_text(line);
  }

  // Feeds `parser` from `buffer` until `done(parser)`, reading from the stream
  // only when the parser needs more. This is what http::async_read_header and
  // http::async_read do, less their deferred completion (a post through the
  // executor) when the buffer already holds what is needed: the usual case,
  // where a whole request arrives in one read. `consumed` sees every byte the
  // parser consumes, in order, before it leaves the buffer.
  template <class Done, class Consumed = decltype(kIgnoreBytes)>
  net::awaitable<beast::error_code> parse(beast::flat_buffer& buffer,
                                          bhttp::request_parser<bhttp::string_body>& parser,
                                          Done done, Consumed consumed = kIgnoreBytes) {
    for (;;) {
      if (done(parser)) co_return beast::error_code{};
      if (buffer.size() > 0) {
        beast::error_code ec;
        const std::size_t used = parser.put(buffer.data(), ec);
        consumed(std::string_view(static_cast<const char*>(buffer.data().data()), used));
        buffer.consume(used);
        if (ec && ec != bhttp::error::need_more) co_return ec;
        if (done(parser)) co_return beast::error_code{};
        if (!ec && used > 0) continue;
      }
      const std::size_t size = beast::read_size(buffer, 65536);
      if (size == 0) co_return beast::error_code(bhttp::error::buffer_overflow);
      auto [rec, n] = co_await stream.async_read_some(buffer.prepare(size), kTuple);
      buffer.commit(n);
      if (rec == net::error::eof && n == 0) {
        if (!parser.got_some()) co_return beast::error_code(bhttp::error::end_of_stream);
        beast::error_code ec;
        parser.put_eof(ec);  // e.g. a body delimited by the end of the connection
        if (ec) co_return ec;
        co_return done(parser) ? beast::error_code{}
                               : beast::error_code(bhttp::error::partial_message);
      }
      if (rec) co_return rec;
    }
  }

  net::awaitable<void> run() {
    const auto read_timeout = std::chrono::milliseconds(s.config_.read_timeout_ms);
    const auto idle_timeout = std::chrono::milliseconds(s.config_.idle_timeout_ms);
    beast::flat_buffer buffer(8192);
    if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
      tcp_stream().expires_after(read_timeout);
      auto [ec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
      if (ec) co_return;
    }
    bool first = true;
    for (;;) {
      // Wait for the next request: the idle timeout between requests.
      if (buffer.size() == 0) {
        conn->idle = true;
        if (s.stopping_) break;
        tcp_stream().expires_after(first ? read_timeout : idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(8192), kTuple);
        conn->idle = false;
        if (ec) break;
        buffer.commit(n);
      }
      conn->idle = false;
      first = false;
      // The whole request must arrive within the read timeout.
      tcp_stream().expires_after(read_timeout);
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(s.config_.max_header_bytes));
      parser.body_limit(static_cast<std::uint64_t>(s.config_.max_body_bytes));
      ObsFoldScan fold;
      const auto hec = co_await parse(
          buffer, parser, [](const auto& p) { return p.is_header_done(); },
          [&fold](std::string_view bytes) { fold.feed(bytes); });
      if (hec) {
        co_await refuse(hec, parser);
        break;
      }
      // Where the body ends, decided before any of it is read or a 100 Continue
      // invites it (http/framing.h): a request Beast would frame in a way another
      // reader might not is refused, and the connection closed, so that nothing
      // after it on the connection, such as a request hidden in its body, is run.
      auto framing = fold.problem();
      if (!framing) framing = framing_problem(parser.get());
      if (framing) {
        const std::string message = "malformed HTTP request: " + *framing;
        const std::string rid(parser.get()["X-Request-Id"]);
        co_await write_error(ProtocolError::malformed_request, message, rid);
        break;
      }
      if (parser.get()[bhttp::field::expect] == "100-continue") {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
        auto [cec, cn] = co_await bhttp::async_write(stream, cont, kTuple);
        if (cec) break;
      }
      parser.eager(true);
      const auto bec = co_await parse(buffer, parser, [](const auto& p) { return p.is_done(); });
      if (bec) {
        co_await refuse(bec, parser);
        break;
      }
      auto msg = parser.release();
      const auto started = std::chrono::steady_clock::now();

      Request req;
      req.method = std::string(msg.method_string());
      req.target = std::string(msg.target());
      req.remote_ip = remote_ip;
      req.received_at = SystemClock().now();
      const auto rid_header = msg["X-Request-Id"];
      req.request_id =
          valid_request_id(rid_header) ? std::string(rid_header) : keys::new_request_id();
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      req.body = std::move(msg.body());
      if (!s.config_.trusted_proxies.empty()) {
        // Every line of each header, in order, as one list.
        std::optional<std::string> forwarded, xff, xfh;
        for (const auto& [name, value] : req.headers) {
          std::optional<std::string>* into = name == "forwarded"          ? &forwarded
                                             : name == "x-forwarded-for"  ? &xff
                                             : name == "x-forwarded-host" ? &xfh
                                                                          : nullptr;
          if (into) *into = *into ? **into + "," + value : value;
        }
        req.remote_ip = client_address(remote_ip, forwarded, xff, s.config_.trusted_proxies);
        req.host =
            request_host(remote_ip, req.header("host"), forwarded, xfh, s.config_.trusted_proxies);
      } else {
        req.host = request_host(remote_ip, req.header("host"), std::nullopt, std::nullopt, {});
      }
      const bool keep_alive = msg.keep_alive() && !s.stopping_;
      Response r;
      auto url = boost::urls::parse_origin_form(req.target);
      if (!url) {
        r = error_response(ProtocolError::malformed_target, "malformed request target",
                           req.request_id);
        r.route = "unmatched";
      } else {
        req.path = std::string(url->path());
        req.query = std::string(url->encoded_query());
        if (req.path.find('\0') != std::string::npos) {
          r = error_response(ProtocolError::malformed_target, "malformed request path",
                             req.request_id);
          r.route = "unmatched";
        } else {
          r = co_await s.handler_(req);
        }
      }
      const bool keep = keep_alive && !s.stopping_;
      tcp_stream().expires_after(read_timeout);
      bool write_failed = false;
      if (r.stream) {
        bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(code(r.status)),
                                               msg.version()};
        decorate(res, r, req.request_id, keep);
        res.chunked(true);
        bhttp::response_serializer<bhttp::empty_body> sr{res};
        auto [wec, wn] = co_await bhttp::async_write_header(stream, sr, kTuple);
        write_failed = static_cast<bool>(wec);
        std::string chunk;
        while (!write_failed) {
          chunk.clear();
          bool more = false;
          try {
            more = r.stream(chunk);
          } catch (const std::exception& ex) {
            r.log_note = ex.what();
            write_failed = true;  // the client sees a truncated stream, never a false end
            break;
          }
          if (!chunk.empty()) {
            tcp_stream().expires_after(read_timeout);
            auto [cec, cn] =
                co_await net::async_write(stream, bhttp::make_chunk(net::buffer(chunk)), kTuple);
            if (cec) write_failed = true;
          }
          if (!more) break;
        }
        if (!write_failed) {
          auto [lec, ln] = co_await net::async_write(stream, bhttp::make_chunk_last(), kTuple);
          write_failed = static_cast<bool>(lec);
        }
      } else {
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(code(r.status)),
                                                msg.version()};
        decorate(res, r, req.request_id, keep);
        res.body() = std::move(r.body);
        res.prepare_payload();
        auto [wec, wn] = co_await bhttp::async_write(stream, res, kTuple);
        write_failed = static_cast<bool>(wec);
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      log_access(req.request_id, req.method, r.route.empty() ? "unmatched" : r.route, r.status,
                 seconds, r.principal, r.log_note, req.remote_ip);
      if (write_failed || !keep) break;
    }
    // Close politely.
    tcp_stream().expires_after(std::chrono::seconds(2));
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    } else {
      co_await stream.async_shutdown(kTuple);
    }
  }
};

Server::Server(net::io_context& ioc, const Config& config, Handler handler, JsonLog& access_log,
               JsonLog& server_log, Metrics& metrics, net::ssl::context* tls)
    : ioc_(ioc),
      config_(config),
      handler_(std::move(handler)),
      access_log_(access_log),
      server_log_(server_log),
      metrics_(metrics),
      tls_(tls),
      acceptor_(net::make_strand(ioc)) {}

Server::~Server() = default;

Result<std::string> Server::start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    return make_error(Errc::invalid_request, "listen address must be HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const auto port = parse_integer<std::uint16_t>(std::string_view(listen).substr(colon + 1));
  if (!port)
    return make_error(Errc::invalid_request, "listen port must be a number from 0 to 65535");
  beast::error_code ec;
  const auto addr = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return make_error(Errc::invalid_request, "listen host must be an IP address: " + host);
  const tcp::endpoint ep(addr, *port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return make_error(Errc::unavailable, "cannot listen on " + listen + ": " + ec.message());
  const auto bound = acceptor_.local_endpoint();
  net::co_spawn(
      acceptor_.get_executor(),
      [this]() -> net::awaitable<void> {
        for (;;) {
          auto [ec, socket] = co_await acceptor_.async_accept(net::make_strand(ioc_), kTuple);
          if (ec) {
            if (!acceptor_.is_open() || stopping_) co_return;
            continue;  // e.g. too many open files: the next accept may succeed
          }
          if (stopping_) co_return;
          if (active_.load() >= static_cast<std::size_t>(config_.max_connections)) {
            beast::error_code ignored;
            socket.close(ignored);
            continue;
          }
          socket.set_option(tcp::no_delay(true), ec);
          beast::error_code rec;
          const auto remote = socket.remote_endpoint(rec);
          std::string ip = rec ? "unknown" : remote.address().to_string();
          auto conn = std::make_shared<Conn>();
          {
            std::lock_guard lock(conns_mu_);
            std::erase_if(conns_, [](const auto& w) { return w.expired(); });
            conns_.push_back(conn);
          }
          ++active_;
          const auto ex = socket.get_executor();
          // A session that ends with an exception is a bug: log it, never
          // let it reach io_context::run().
          auto done = [this, ip](std::exception_ptr e) {
            --active_;
            if (e) log_exception("connection ended with an exception", e, ip);
          };
          if (tls_) {
            using Stream = beast::ssl_stream<beast::tcp_stream>;
            auto runner = std::make_shared<SessionRunner<Stream>>(SessionRunner<Stream>{
                *this, Stream(beast::tcp_stream(std::move(socket)), *tls_), conn, ip});
            conn->set_close([runner, ex] {
              net::post(ex, [runner] { beast::get_lowest_layer(runner->stream).cancel(); });
            });
            net::co_spawn(
                ex, [runner]() { return runner->run(); },
                [done, conn](std::exception_ptr e) {
                  conn->set_close(nullptr);
                  done(e);
                });
          } else {
            using Stream = beast::tcp_stream;
            auto runner = std::make_shared<SessionRunner<Stream>>(
                SessionRunner<Stream>{*this, Stream(std::move(socket)), conn, ip});
            conn->set_close([runner, ex] { net::post(ex, [runner] { runner->stream.cancel(); }); });
            net::co_spawn(
                ex, [runner]() { return runner->run(); },
                [done, conn](std::exception_ptr e) {
                  conn->set_close(nullptr);
                  done(e);
                });
          }
        }
      },
      [this](std::exception_ptr e) {
        if (e) log_exception("the listener stopped with an exception", e, "");
      });
  return bound.address().to_string() + ":" + std::to_string(bound.port());
}

void Server::log_exception(const char* what, std::exception_ptr e, const std::string& remote_ip) {
  std::string detail = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    detail = ex.what();
  } catch (...) {
  }
  server_log_.error(what, {{"detail", detail}, {"remote_ip", remote_ip}});
}

void Server::shutdown() {
  stopping_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  std::lock_guard lock(conns_mu_);
  for (auto& w : conns_) {
    if (auto c = w.lock()) c->close_if_idle();
  }
}

}  // namespace latchkey::http
