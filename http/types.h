#pragma once
// Plain request and response types: what handlers see. No Beast here, so
// handlers and routing are tested without sockets.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "http/status.h"

namespace latchkey::http {

// `s` without the spaces and tabs around it (HTTP's optional whitespace).
[[nodiscard]] std::string_view trim_ows(std::string_view s);

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received, e.g. "/iam/users?search=ann"
  std::string path;    // decoded path, e.g. "/iam/users"
  std::string query;   // raw query string, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string remote_ip;
  std::string host;  // lower-case, without port (see host_routing.h); "" if none
  std::string request_id;
  Micros received_at = 0;
  bool forwarded = false;  // sent on by another node of the cluster (docs/cluster.md)

  // The first header of that (lower-case) name, or nullopt.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  // Media type of Content-Type without parameters, lower-case ("" if none).
  [[nodiscard]] std::string content_type() const;
};

// A response body produced piece by piece (chunked transfer), so a long export
// holds constant memory: next(chunk) fills `chunk` and returns true, or returns
// false at the end. Runs on the connection's strand; may read the log.
using ChunkSource = std::function<bool(std::string& chunk)>;

struct Response {
  HttpStatus status = HttpStatus::ok;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  ChunkSource stream;  // if set, used instead of body

  // For the access log and metrics, never sent.
  std::string route;      // the route pattern, e.g. "/iam/users/{id}"
  std::string principal;  // the authenticated caller, if any
  std::string log_note;   // e.g. the true reason of a failed login
};

}  // namespace latchkey::http
