#pragma once
// A raw HTTP/1.1 client on a blocking TCP socket, for tests that must send
// what a well-behaved client library never would: malformed request lines,
// truncated bodies, one byte a second, pipelined requests, thousands of idle
// connections, or traffic from another loopback source address
// (127.0.0.2 ...) so that per-address throttling can be observed.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace latchkey::test {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const;  // throws if the body is not JSON
  std::string header(const std::string& name) const;
};

class RawConn {
 public:
  // Connects to 127.0.0.1:port, from `source_ip` if given (any 127.x.y.z).
  // Throws std::runtime_error if the connection cannot be made.
  RawConn(int port, const std::string& source_ip = {});
  ~RawConn();
  RawConn(RawConn&& other) noexcept;
  RawConn& operator=(RawConn&& other) noexcept;
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  // Sends all bytes. False if the peer closed or reset the connection.
  bool send(std::string_view bytes);
  // Half-closes: the server reads end-of-stream.
  void shutdown_write();
  // The next response (pipelined responses come one per call), or nullopt if
  // the connection ended or nothing complete arrived within `timeout`.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout);
  // Waits until the server closes the connection (true) or `timeout` passes (false).
  // Bytes that arrive meanwhile are kept for read_response().
  bool wait_closed(std::chrono::milliseconds timeout);
  int fd() const { return fd_; }

 private:
  // Reads what is available into buf_, waiting up to `timeout`. -1 on EOF or error,
  // 0 on timeout, else the number of bytes read.
  long fill(std::chrono::milliseconds timeout);
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// "METHOD TARGET HTTP/1.1" with Host, the given headers ("Name: value"),
// Content-Length when there is a body, and the body.
std::string raw_request(const std::string& method, const std::string& target,
                        const std::vector<std::string>& headers = {}, const std::string& body = {});

// One request on a fresh connection; nullopt if no response came.
std::optional<RawResponse> raw_exchange(
    int port, const std::string& bytes,
    std::chrono::milliseconds timeout = std::chrono::seconds(10),
    const std::string& source_ip = {});

// GET /healthz on a fresh connection answers 200 within `timeout`.
bool healthz_ok(int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Raises this process's open-file limit to at least `n` (up to the hard limit);
// returns the soft limit now in force.
long raise_fd_limit(long n);

}  // namespace latchkey::test
