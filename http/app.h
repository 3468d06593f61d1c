#pragma once
// A running latchkey server: opens the data directory, rebuilds the views
// (newest snapshot + tail), and serves the API until SIGTERM or SIGINT.

#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "http/config.h"

namespace latchkey::http {

class App {
 public:
  // Opens everything the server needs. Errors name what is wrong (a missing
  // data directory, secret files readable by others, a locked log, ...).
  static Result<std::unique_ptr<App>> open(const Config& config);
  virtual ~App() = default;

  // Serves until a stop signal (or stop()); on_listening gets "HOST:PORT"
  // once the socket is bound. Returns the process exit code: 0 after a
  // graceful stop (in-flight requests finished, log flushed).
  virtual int run(const std::function<void(const std::string&)>& on_listening) = 0;
  // Asks a running server to stop, as SIGTERM does. Thread-safe.
  virtual void stop() = 0;
};

// The public URL of the server as configured (server.public_url, or derived from server.listen).
std::string public_url_of(const Config& c);
// A project's public URL: `project_url` when it has one of its own (a
// project at its subdomain), otherwise the server's.
std::string public_url_of(const Config& c, const std::string& project_url);

}  // namespace latchkey::http
