#pragma once
// Routes: (method, pattern) -> handler. Patterns are paths whose segments may
// be "{name}" placeholders. No sockets here: dispatch() is a plain function
// from a request to one reply, tested as such.

#include <map>
#include <string>
#include <vector>

#include "http/types.h"

namespace latchkey::http {

using Params = std::map<std::string, std::string>;
using Handler = std::function<void(Request& req, const Params& params, Reply reply)>;

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);

  // Finds the route and calls its handler; an unknown route is a 404. A
  // handler that throws gets a 500 (the detail goes to log_note, never to the
  // client). Sets Response::route to the pattern.
  void dispatch(Request& req, Reply reply) const;

  struct Route {
    std::string method;
    std::string pattern;
  };
  std::vector<Route> routes() const;

 private:
  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> entries_;
};

std::vector<std::string> split_path(std::string_view path);

}  // namespace latchkey::http
