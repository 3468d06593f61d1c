#pragma once
// Plain request and response types: what handlers see. No Beast or Asio here,
// so handlers and routing are tested without sockets.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"

namespace latchkey::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received, e.g. "/iam/users?search=ann"
  std::string path;    // decoded path, e.g. "/iam/users"
  std::string query;   // raw query string, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_ip;
  std::string request_id;
  Micros received_at = 0;

  // The first header of that (lower-case) name, or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // Media type of Content-Type without parameters, lower-case ("" if none).
  std::string content_type() const;
};

// A response body produced piece by piece (chunked transfer), so a long export
// holds constant memory: next(chunk) fills `chunk` and returns true, or returns
// false at the end. Runs on an I/O thread; may read the log.
using ChunkSource = std::function<bool(std::string& chunk)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  ChunkSource stream;  // if set, used instead of body

  // For the access log and metrics, never sent.
  std::string route;      // the route pattern, e.g. "/iam/users/{id}"
  std::string principal;  // the authenticated caller, if any
  std::string log_note;   // e.g. the true reason of a failed login
};

// Hands a response back to the connection. Call exactly once, from any thread.
using Reply = std::function<void(Response)>;

}  // namespace latchkey::http
