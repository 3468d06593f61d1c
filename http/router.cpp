#include "http/router.h"

#include "http/error_map.h"

namespace latchkey::http {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t j = path.find('/', i);
    out.emplace_back(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j;
  }
  return out;
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  Entry e{std::move(method), pattern, split_path(pattern), std::move(handler)};
  entries_.push_back(std::move(e));
}

std::vector<Router::Route> Router::routes() const {
  std::vector<Route> out;
  for (const auto& e : entries_) out.push_back({e.method, e.pattern});
  return out;
}

void Router::dispatch(Request& req, Reply reply) const {
  const std::vector<std::string> segs = split_path(req.path);
  const bool trailing_slash = req.path.size() > 1 && req.path.back() == '/';
  const Entry* found = nullptr;
  Params params;
  for (const auto& e : entries_) {
    if (e.method != req.method || e.segments.size() != segs.size()) continue;
    // A pattern ending in '/' (e.g. the console) matches only such paths.
    if ((e.pattern.size() > 1 && e.pattern.back() == '/') != trailing_slash) continue;
    Params p;
    bool ok = true;
    for (std::size_t i = 0; i < segs.size() && ok; ++i) {
      const std::string& s = e.segments[i];
      if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
        p[s.substr(1, s.size() - 2)] = segs[i];
      } else {
        ok = s == segs[i];
      }
    }
    if (ok) {
      found = &e;
      params = std::move(p);
      break;
    }
  }
  if (!found) {
    Response r = error_response(
        make_error(Errc::not_found, "no route " + req.method + " " + req.path), req.request_id);
    r.route = "unmatched";
    reply(std::move(r));
    return;
  }
  const std::string route = found->pattern;
  Reply tagged = [reply = std::move(reply), route](Response r) {
    if (r.route.empty()) r.route = route;
    reply(std::move(r));
  };
  try {
    found->handler(req, params, tagged);
  } catch (const std::exception& ex) {
    Response r =
        error_response(make_error(Errc::internal, "internal error", ex.what()), req.request_id);
    tagged(std::move(r));
  }
}

}  // namespace latchkey::http
