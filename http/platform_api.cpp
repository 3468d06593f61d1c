#include "http/platform_api.h"

#include <cmath>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"
#include "replay/queries.h"
#include "replay/usage.h"

namespace latchkey::http {

namespace net = boost::asio;
using projections::ProjectInfo;
using projections::ProjectStatus;

namespace {

constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 500;
constexpr std::size_t kExportChunk = 256;
constexpr Micros kDay = 24LL * 3600 * 1'000'000;

// Runs `f` on `pool` and resumes on the caller's executor with its result:
// the directory's blocking work never holds an I/O thread.
template <class F>
net::awaitable<std::invoke_result_t<F&>> off_io(net::thread_pool& pool, F f) {
  auto home = co_await net::this_coro::executor;
  {
    auto op = net::post(pool.get_executor(), net::use_awaitable);
    co_await std::move(op);
  }
  auto r = f();
  {
    auto op = net::post(home, net::use_awaitable);
    co_await std::move(op);
  }
  co_return r;
}

Response json(HttpStatus status, const nlohmann::json& body) {
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response error(const Call& c, const Error& e) { return error_response(e, c.req.request_id); }

nlohmann::json project_json(const ProjectInfo& p) {
  nlohmann::json j{{"id", p.id},
                   {"name", p.name},
                   {"status", projections::status_name(p.status)},
                   {"login_rate_per_second", p.login_rate_per_second},
                   {"archive_after_days", static_cast<double>(p.archive_after_seconds) / 86400},
                   {"retention_days", static_cast<double>(p.retention_seconds) / 86400},
                   {"created_at", format_rfc3339(p.created_at)},
                   {"updated_at", format_rfc3339(p.updated_at)}};
  return j;
}

Error no_project(const std::string& id) { return make_error(Errc::not_found, "no project " + id); }

}  // namespace

PlatformApi::PlatformApi(ProjectDirectory& projects)
    : projects_(projects),
      router_([this](const Request& req) { return projects_.platform().api->authenticate(req); },
              [](const Request&, std::string_view) {}) {
  const Access anyone = Access::anyone();
  const Access op = Access::any_role({"admin"});
  router_.add("POST", "/platform/login", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/login"); });
  router_.add("GET", "/platform/.well-known/jwks.json", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/.well-known/jwks.json"); });
  // The platform IAM's own audit route checks the operator's token.
  router_.add("GET", "/platform/audit", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/audit"); });
  // The platform page's session (the platform IAM's /iam/session: a cookie
  // whose path is /platform).
  router_.add("POST", "/platform/session", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/session"); });
  router_.add("GET", "/platform/session", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/session"); });
  router_.add("DELETE", "/platform/session", anyone,
              [this](const Call& c) { return forward(c.req, "/iam/session"); });
  router_.add("GET", "/platform/usage", op, [this](const Call& c) { return usage(c); });
  router_.add("POST", "/platform/projects", op, [this](const Call& c) { return create(c); });
  router_.add("GET", "/platform/projects", op, [this](const Call& c) { return list(c); });
  router_.add("GET", "/platform/projects/{id}", op, [this](const Call& c) { return get(c); });
  router_.add("PATCH", "/platform/projects/{id}", op, [this](const Call& c) { return update(c); });
  router_.add("DELETE", "/platform/projects/{id}", op, [this](const Call& c) { return remove(c); });
  router_.add("GET", "/platform/projects/{id}/export", op,
              [this](const Call& c) { return export_log(c); });
  router_.add("GET", "/platform/projects/{id}/audit", op,
              [this](const Call& c) { return project_audit(c); });
}

PlatformApi::~PlatformApi() { blocking_.join(); }

net::awaitable<Response> PlatformApi::handle(const Request& req) const {
  return router_.dispatch(req);
}

events::RequestContext PlatformApi::context(const Call& c) const {
  return events::RequestContext{c.caller ? c.caller->principal_id : std::string("anonymous"),
                                c.req.request_id, c.req.remote_ip};
}

PlatformApi::Reply PlatformApi::forward(const Request& req, std::string path) const {
  Request inner = req;
  const std::string route = req.path;
  inner.path = std::move(path);
  inner.target = inner.path + (inner.query.empty() ? "" : "?" + inner.query);
  auto op = projects_.platform().api->handle(inner);
  Response r = co_await std::move(op);
  r.route = route;
  co_return r;
}

PlatformApi::Reply PlatformApi::create(const Call& c) const {
  auto body = parse_body(c.req, BodyKinds::json_only, false);
  if (!body) co_return error(c, body.error());
  Fields f(*body);
  const std::string id = f.required_string("id");
  const std::string name = f.string("name").value_or(id);
  if (auto st = f.finish(); !st) co_return error(c, st.error());
  const events::RequestContext ctx = context(c);
  auto op = off_io(blocking_, [this, id, name, ctx] { return projects_.create(id, name, ctx); });
  auto admin = co_await std::move(op);
  if (!admin) co_return error(c, admin.error());
  auto info = projects_.registry().find(id);
  if (!info) co_return error(c, make_error(Errc::internal, "the new project is not registered"));
  nlohmann::json j = project_json(*info);
  j["admin"] = {{"principal_id", admin->principal_id},
                {"apikey", admin->apikey},
                {"secretkey", admin->secretkey},
                {"expires_at", format_rfc3339(admin->expires_at)}};
  Response r = json(HttpStatus::created, j);
  r.headers.emplace_back("Location", "/platform/projects/" + id);
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

PlatformApi::Reply PlatformApi::list(const Call& c) const {
  auto params = parse_query(c.req.query);
  if (!params) co_return error(c, params.error());
  Query q(std::move(*params));
  const std::string search = q.string("search").value_or("");
  const std::string cursor = q.string("cursor").value_or("");
  const auto limit = q.integer("limit", 1, kMaxLimit, "limit").value_or(kDefaultLimit);
  if (auto st = q.finish(); !st) co_return error(c, st.error());
  auto page = projects_.registry().list(search, cursor, static_cast<std::size_t>(limit));
  nlohmann::json items = nlohmann::json::array();
  for (const auto& p : page.items) items.push_back(project_json(p));
  co_return json(HttpStatus::ok, {{"items", std::move(items)},
                                  {"next", page.next.empty() ? nlohmann::json(nullptr)
                                                             : nlohmann::json(page.next)}});
}

PlatformApi::Reply PlatformApi::get(const Call& c) const {
  const std::string& id = c.param("id");
  auto info = projects_.registry().find(id);
  if (!info || info->status == ProjectStatus::deleted) co_return error(c, no_project(id));
  auto rt = projects_.runtime(id);
  if (!rt) co_return error(c, no_project(id));
  nlohmann::json j = project_json(*info);
  std::size_t principals = 0, keys = 0, active_keys = 0;
  rt->views->read([&](const projections::Views& v) {
    for (const auto& p : v.principals.all()) principals += p.deleted() ? 0 : 1;
    for (const auto& k : v.keys.all()) {
      if (k.state == projections::KeyState::deleted || k.principal_deleted) continue;
      ++keys;
      if (k.state == projections::KeyState::active) ++active_keys;
    }
  });
  // Tokens issued in the last 24 hours: the type index, newest first.
  std::uint64_t tokens = 0;
  const Micros since = c.req.received_at - kDay;
  auto st = rt->log->scan_index(events::Index::type, "token.issued", 0, events::Direction::backward,
                                [&](const events::IndexEntry& e) {
                                  if (e.time < since) return false;
                                  ++tokens;
                                  return true;
                                });
  if (!st) co_return error(c, st.error());
  j["usage"] = {{"principals", principals},
                {"keys", keys},
                {"active_keys", active_keys},
                {"tokens_issued_24h", tokens},
                {"events", rt->log->head().seq}};
  co_return json(HttpStatus::ok, j);
}

PlatformApi::Reply PlatformApi::update(const Call& c) const {
  const std::string id = c.param("id");
  auto body = parse_body(c.req, BodyKinds::json_only, false);
  if (!body) co_return error(c, body.error());
  Fields f(*body);
  domain::ProjectPatch patch;
  patch.name = f.string("name");
  if (const auto rate = f.integer("login_rate_per_second")) {
    if (*rate < 0 || static_cast<std::uint64_t>(*rate) > domain::kMaxProjectLoginRate)
      co_return error(
          c, make_error(Errc::invalid_request, "login_rate_per_second is 0 (unlimited) to " +
                                                   std::to_string(domain::kMaxProjectLoginRate)));
    patch.login_rate_per_second = static_cast<std::uint64_t>(*rate);
  }
  // The log's life, in days (fractions work); 0: the server's data.* setting.
  auto days = [&f](const char* field, std::optional<std::uint64_t>& out) -> Status {
    if (const auto d = f.number(field)) {
      if (!(*d >= 0 && *d <= 36500)) {
        return make_error(Errc::invalid_request,
                          std::string(field) + " is 0 (the server's setting) to 36500");
      }
      out = static_cast<std::uint64_t>(std::llround(*d * 86400));
    }
    return {};
  };
  if (auto st = days("archive_after_days", patch.archive_after_seconds); !st)
    co_return error(c, st.error());
  if (auto st = days("retention_days", patch.retention_seconds); !st)
    co_return error(c, st.error());
  const auto status = f.string("status");
  if (auto st = f.finish(); !st) co_return error(c, st.error());
  if (status) {
    if (*status == "active") {
      patch.status = ProjectStatus::active;
    } else if (*status == "suspended") {
      patch.status = ProjectStatus::suspended;
    } else {
      co_return error(c, make_error(Errc::invalid_request, "status is active or suspended"));
    }
  }
  const events::RequestContext ctx = context(c);
  auto op = off_io(blocking_, [this, id, patch, ctx] { return projects_.update(id, patch, ctx); });
  auto r = co_await std::move(op);
  if (!r) co_return error(c, r.error());
  auto info = projects_.registry().find(id);
  if (!info) co_return error(c, no_project(id));
  co_return json(HttpStatus::ok, project_json(*info));
}

PlatformApi::Reply PlatformApi::remove(const Call& c) const {
  const std::string id = c.param("id");
  const events::RequestContext ctx = context(c);
  auto op = off_io(blocking_, [this, id, ctx] { return projects_.remove(id, ctx); });
  auto r = co_await std::move(op);
  if (!r) co_return error(c, r.error());
  Response out;
  out.status = HttpStatus::no_content;
  out.content_type.clear();
  co_return out;
}

PlatformApi::Reply PlatformApi::export_log(const Call& c) const {
  const std::string& id = c.param("id");
  auto info = projects_.registry().find(id);
  if (!info || info->status == ProjectStatus::deleted) co_return error(c, no_project(id));
  // Through the project's runtime: its log then opens personal data with the
  // project's data keys (docs/data-lifecycle.md).
  auto rt = projects_.runtime(id);
  if (!rt) co_return error(c, make_error(Errc::unavailable, "the project cannot be opened"));
  const events::EventLog* log = rt->log;
  const events::Seq head = log->head().seq;
  auto next = std::make_shared<events::Seq>(1);
  Response r;
  r.content_type = "application/x-ndjson";
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"" + id + "-" + std::to_string(head) + ".ndjson\"");
  // The whole chain up to the head at the request, a page at a time.
  r.stream = [rt, log, head, next](std::string& chunk) -> bool {
    if (*next > head) return false;
    const events::Seq to = std::min(head, *next + kExportChunk - 1);
    auto st = log->scan(*next, to, [&](const events::Event& e) {
      chunk += events::to_json(e).dump() + "\n";
      return true;
    });
    if (!st) throw std::runtime_error("export: " + st.error().message);
    *next = to + 1;
    return true;
  };
  co_return r;
}

PlatformApi::Reply PlatformApi::project_audit(const Call& c) const {
  const std::string& id = c.param("id");
  auto info = projects_.registry().find(id);
  if (!info || info->status == ProjectStatus::deleted) co_return error(c, no_project(id));
  auto q = parse_query(c.req.query);
  if (!q) co_return error(c, q.error());
  auto filter = replay::parse_audit_filter(*q);
  if (!filter) co_return error(c, filter.error());
  if (auto st = recordable(*filter); !st) co_return error(c, st.error());
  auto rt = projects_.runtime(id);
  if (!rt) co_return error(c, make_error(Errc::unavailable, "the project cannot be opened"));
  const events::EventLog& log = *rt->log;
  filter->upto = log.head().seq;
  auto page = replay::audit_page(log, *filter);
  if (!page) co_return error(c, page.error());
  // The read is recorded in the platform's log: who read which project's trail.
  events::AuditRead read{"project_audit", "project=" + id + "&" + filter->describe(),
                         page->events.size()};
  auto op = record(*projects_.platform().commands,
                   {events::Draft{events::EventType::audit_read, std::move(read), {}}}, context(c));
  auto recorded = co_await std::move(op);
  if (!recorded) co_return error(c, recorded.error());
  co_return json(HttpStatus::ok,
                 {{"events", events_json(page->events)}, {"next", cursor_json(page->next)}});
}

PlatformApi::Reply PlatformApi::usage(const Call& c) const {
  const auto period = usage_period_of(c.req.query);
  if (!period) co_return error(c, period.error());
  const std::string period_text = replay::usage_period_name(*period);
  const Micros now = SystemClock().now();
  {
    std::lock_guard lock(usage_mu_);
    const auto it = usage_cache_.find(period_text);
    if (it != usage_cache_.end() && now - it->second.at < 30 * kMicrosPerSecond)
      co_return json_response(HttpStatus::ok, it->second.body);
  }
  auto op = off_io(blocking_, [this, period = *period, now]() -> Result<std::string> {
    replay::Usage total;
    for (const auto& p : projects_.registry().all()) {
      if (p.status == ProjectStatus::deleted) continue;
      auto u = replay::usage(projects_.log_of(p.id), period, now);
      if (!u) return u.error();
      replay::add_usage(total, *u);
    }
    if (total.buckets.empty()) {
      // No project: the buckets, all zero.
      auto u = replay::usage(projects_.log_of(std::string(events::kPlatformLog)), period, now);
      if (!u) return u.error();
      total = std::move(*u);
      for (auto& b : total.buckets) b = replay::UsageBucket{b.start, 0, 0, 0};
    }
    return usage_json(total).dump();
  });
  auto body = co_await std::move(op);
  if (!body) co_return error(c, body.error());
  {
    std::lock_guard lock(usage_mu_);
    usage_cache_[period_text] = CachedUsage{now, *body};
  }
  co_return json_response(HttpStatus::ok, std::move(*body));
}

}  // namespace latchkey::http
