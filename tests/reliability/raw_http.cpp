#include "tests/reliability/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace latchkey::test {

using Clock = std::chrono::steady_clock;

nlohmann::json RawResponse::json() const { return nlohmann::json::parse(body); }

std::string RawResponse::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

RawConn::RawConn(int port, const std::string& source_ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (!source_ip.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = 0;
    if (::inet_pton(AF_INET, source_ip.c_str(), &local.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("cannot bind to " + source_ip + ": " + why);
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + why);
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConn::~RawConn() {
  if (fd_ >= 0) ::close(fd_);
}

RawConn::RawConn(RawConn&& o) noexcept : fd_(o.fd_), eof_(o.eof_), buf_(std::move(o.buf_)) {
  o.fd_ = -1;
}

RawConn& RawConn::operator=(RawConn&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    eof_ = o.eof_;
    buf_ = std::move(o.buf_);
    o.fd_ = -1;
  }
  return *this;
}

bool RawConn::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void RawConn::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

long RawConn::fill(std::chrono::milliseconds timeout) {
  if (eof_) return -1;
  pollfd p{fd_, POLLIN, 0};
  const int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, timeout.count())));
  if (r == 0) return 0;
  if (r < 0) return errno == EINTR ? 0 : -1;
  char tmp[16384];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    eof_ = true;
    return -1;
  }
  buf_.append(tmp, static_cast<std::size_t>(n));
  return n;
}

bool RawConn::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    fill(left);
  }
  return true;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Parses one complete response at the start of `buf`; returns the bytes it
// used, or 0 if it is not complete yet. Throws on a malformed response.
std::size_t parse_response(const std::string& buf, RawResponse& out) {
  const auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::size_t pos = 0;
  auto line_end = buf.find("\r\n", pos);
  const std::string status_line = buf.substr(0, line_end);
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0)
    throw std::runtime_error("malformed status line: " + status_line);
  out.status = std::stoi(status_line.substr(9, 3));
  out.headers.clear();
  pos = line_end + 2;
  while (pos < end) {
    line_end = buf.find("\r\n", pos);
    const std::string line = buf.substr(pos, line_end - pos);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      out.headers[lower(line.substr(0, colon))] = value;
    }
    pos = line_end + 2;
  }
  std::size_t body_start = end + 4;
  const auto te = out.headers.find("transfer-encoding");
  if (te != out.headers.end() && lower(te->second).find("chunked") != std::string::npos) {
    std::string body;
    std::size_t p = body_start;
    for (;;) {
      const auto le = buf.find("\r\n", p);
      if (le == std::string::npos) return 0;
      const std::size_t size = std::stoul(buf.substr(p, le - p), nullptr, 16);
      if (buf.size() < le + 2 + size + 2) return 0;
      body.append(buf, le + 2, size);
      p = le + 2 + size + 2;
      if (size == 0) break;
    }
    out.body = std::move(body);
    return p;
  }
  std::size_t length = 0;
  const auto cl = out.headers.find("content-length");
  if (cl != out.headers.end()) length = std::stoul(cl->second);
  if (out.status == 204 || out.status == 304 || (out.status >= 100 && out.status < 200)) length = 0;
  if (buf.size() < body_start + length) return 0;
  out.body = buf.substr(body_start, length);
  return body_start + length;
}

}  // namespace

std::optional<RawResponse> RawConn::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    RawResponse r;
    const std::size_t used = parse_response(buf_, r);
    if (used > 0) {
      buf_.erase(0, used);
      if (r.status == 100) continue;
      return r;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (fill(left) < 0) {
      // The connection ended: a last complete response may still be in the buffer.
      RawResponse last;
      const std::size_t n = parse_response(buf_, last);
      if (n == 0) return std::nullopt;
      buf_.erase(0, n);
      return last;
    }
  }
}

std::string raw_request(const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers, const std::string& body) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& h : headers) r += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

std::optional<RawResponse> raw_exchange(int port, const std::string& bytes,
                                        std::chrono::milliseconds timeout,
                                        const std::string& source_ip) {
  RawConn c(port, source_ip);
  if (!c.send(bytes)) return std::nullopt;
  return c.read_response(timeout);
}

bool healthz_ok(int port, std::chrono::milliseconds timeout) {
  try {
    const auto r = raw_exchange(port, raw_request("GET", "/healthz"), timeout);
    return r && r->status == 200 && r->json().value("status", "") == "ok";
  } catch (const std::exception&) {
    return false;
  }
}

long raise_fd_limit(long n) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (static_cast<long>(lim.rlim_cur) < n) {
    lim.rlim_cur = std::min<rlim_t>(static_cast<rlim_t>(n), lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return static_cast<long>(lim.rlim_cur);
}

}  // namespace latchkey::test
