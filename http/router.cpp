#include "http/router.h"

#include <algorithm>

namespace latchkey::http {

bool Caller::has(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Access Access::any_role(std::initializer_list<std::string_view> roles) {
  return Access(Kind::roles, std::vector<std::string>(roles.begin(), roles.end()));
}

Status Access::allows(const Caller& caller) const {
  if (kind_ != Kind::roles) return {};
  for (const auto& r : roles_) {
    if (caller.has(r)) return {};
  }
  std::string need;
  for (const auto& r : roles_) need += (need.empty() ? "" : " or ") + r;
  return make_error(Errc::forbidden, "this requires the role " + need);
}

const std::string& Call::param(std::string_view name) const {
  const auto it = params.find(name);
  if (it == params.end()) throw std::logic_error("no path parameter " + std::string(name));
  return it->second;
}

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

Router::Router(Authenticator authenticate, FailureLog on_failure, Table like)
    : authenticate_(std::move(authenticate)),
      on_failure_(std::move(on_failure)),
      entries_(like ? std::move(like) : std::make_shared<std::vector<Entry>>()) {}

void Router::add(std::string method, std::string pattern, Access access, Handler handler) {
  const std::size_t i = handlers_.size();
  if (i < entries_->size()) {
    const Entry& e = (*entries_)[i];
    if (e.method == method && e.pattern == pattern && e.access == access) {
      handlers_.push_back(std::move(handler));
      return;
    }
    // Another route here: this router's own copy of the routes so far.
    entries_ = std::make_shared<std::vector<Entry>>(entries_->begin(),
                                                    entries_->begin() + static_cast<long>(i));
  } else if (entries_.use_count() > 1) {
    entries_ = std::make_shared<std::vector<Entry>>(*entries_);  // shared: copy, then grow
  }
  auto segments = split_path(pattern);
  entries_->push_back(
      Entry{std::move(method), std::move(pattern), std::move(segments), std::move(access)});
  handlers_.push_back(std::move(handler));
}

std::vector<Router::Route> Router::routes() const {
  std::vector<Route> out;
  for (std::size_t i = 0; i < handlers_.size(); ++i)
    out.push_back({(*entries_)[i].method, (*entries_)[i].pattern});
  return out;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  const std::vector<std::string> segs = split_path(path);
  const bool trailing_slash = path.size() > 1 && path.back() == '/';
  Match m;
  for (std::size_t i = 0; i < handlers_.size(); ++i) {
    const Entry& e = (*entries_)[i];
    if (e.segments.size() != segs.size()) continue;
    if ((e.pattern.size() > 1 && e.pattern.back() == '/') != trailing_slash) continue;
    Params p;
    bool ok = true;
    for (std::size_t s = 0; s < segs.size() && ok; ++s) {
      const std::string& want = e.segments[s];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        p[want.substr(1, want.size() - 2)] = segs[s];
      } else {
        ok = want == segs[s];
      }
    }
    if (!ok) continue;
    if (e.method == method) {
      m.route = i;
      m.params = std::move(p);
      return m;
    }
    m.problem = ProtocolError::method_not_allowed;
    if (m.allow.find(e.method) == std::string::npos)
      m.allow += (m.allow.empty() ? "" : ", ") + e.method;
  }
  return m;
}

boost::asio::awaitable<Response> Router::dispatch(const Request& req) const {
  Match m = match(req.method, req.path);
  if (!m.route) {
    Response r = error_response(m.problem,
                                m.problem == ProtocolError::method_not_allowed
                                    ? req.method + " is not allowed on " + req.path
                                    : "no route " + req.method + " " + req.path,
                                req.request_id);
    if (!m.allow.empty()) r.headers.emplace_back("Allow", m.allow);
    r.route = "unmatched";
    co_return r;
  }
  const Entry& e = (*entries_)[*m.route];
  std::optional<Caller> caller;
  std::optional<Error> refused;
  if (e.access.needs_token()) {
    auto c = authenticate_(req);
    if (!c) {
      refused = c.error();
    } else if (auto st = e.access.allows(*c); !st) {
      refused = st.error();
      caller = std::move(*c);
    } else {
      caller = std::move(*c);
    }
  }
  Response r;
  if (refused) {
    r = error_response(*refused, req.request_id);
  } else {
    const Call call{req, m.params, caller ? &*caller : nullptr};
    std::string failure;
    try {
      auto op = handlers_[*m.route](call);
      r = co_await std::move(op);
    } catch (const std::exception& ex) {
      failure = ex.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (!failure.empty()) {
      if (on_failure_) on_failure_(req, failure);
      r = error_response(make_error(Errc::internal, "internal error", failure), req.request_id);
    }
  }
  if (r.route.empty()) r.route = e.pattern;
  if (r.principal.empty() && caller) r.principal = caller->principal_id;
  co_return r;
}

}  // namespace latchkey::http
