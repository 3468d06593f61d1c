// GET /iam/audit, /iam/replay/state, /iam/replay/diff, /iam/keys/{apikey}/timeline
// (roles admin or auditor). Every read is itself recorded as audit.read, and
// a failed record fails the request.
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "domain/credentials.h"
#include "events/codec.h"
#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"
#include "replay/queries.h"
#include "replay/rebuild.h"

namespace latchkey::http {

namespace {

constexpr std::size_t kStreamPage = 256;

bool wants_ndjson(const Request& req) {
  const auto accept = req.header("accept");
  return accept && accept->find("application/x-ndjson") != std::string_view::npos;
}

// The whole result of `filter`, page by page, as NDJSON: constant memory however long.
ChunkSource ndjson_stream(const events::EventLog& log, replay::AuditFilter filter,
                          std::size_t limit) {
  auto state = std::make_shared<replay::AuditFilter>(std::move(filter));
  auto left = std::make_shared<std::size_t>(limit);
  auto done = std::make_shared<bool>(false);
  state->limit = std::min(kStreamPage, *left);
  return [&log, state, left, done](std::string& chunk) -> bool {
    if (*done) return false;
    auto page = replay::audit_page(log, *state);
    if (!page) throw std::runtime_error("audit stream: " + page.error().message);
    for (const auto& e : page->events) chunk += events::to_json(e).dump() + "\n";
    *left -= page->events.size();
    if (!page->next || *left == 0) {
      *done = true;
      return !chunk.empty();
    }
    (state->descending ? state->before : state->after) = *page->next;
    state->limit = std::min(kStreamPage, *left);
    return true;
  };
}

// Where retention deleted the oldest history and `f` reaches into it, the
// answer is shorter than the question: it says so, in the body (JSON) and in
// a header (NDJSON too), instead of ending silently.
std::optional<events::History> deleted_under(const events::EventLog& log,
                                             const replay::AuditFilter& f) {
  const events::History h = log.history();
  if (h.deleted_through == 0) return std::nullopt;
  if (f.from && *f.from > h.deleted_time) return std::nullopt;
  if (!f.descending && f.after > h.deleted_through) return std::nullopt;
  return h;
}

void say_deleted(Response& r, const events::History& h) {
  r.headers.emplace_back("Latchkey-History-Deleted-Through", std::to_string(h.deleted_through));
}

nlohmann::json deleted_json(const events::History& h) {
  return {{"through_seq", h.deleted_through}, {"through_time", format_rfc3339(h.deleted_time)}};
}

}  // namespace

// The filters go into the audit.read event. A value that is not an id of its
// kind (e.g. a secretkey or a token pasted in the wrong box) is refused
// before anything is recorded, and not quoted back.
Status recordable(const replay::AuditFilter& f) {
  if (f.apikey && !domain::is_apikey(*f.apikey))
    return make_error(Errc::invalid_request, "apikey must be an apikey (lk_ and 24 hex digits)");
  if (f.principal_id && !domain::is_principal_id(*f.principal_id))
    return make_error(Errc::invalid_request, "principal_id must be a user or service account id");
  if (f.actor && !domain::is_principal_id(*f.actor) && *f.actor != "system" &&
      *f.actor != "anonymous") {
    return make_error(Errc::invalid_request,
                      "actor must be a principal id, \"system\" or \"anonymous\"");
  }
  return {};
}

void Api::add_audit_routes() {
  const Access readers = Access::any_role({"admin", "auditor"});
  router_.add("GET", "/iam/audit", readers, [this](const Call& c) { return audit(c); });
  router_.add("GET", "/iam/replay/state", readers,
              [this](const Call& c) { return replay_state(c); });
  router_.add("GET", "/iam/replay/diff", readers, [this](const Call& c) { return replay_diff(c); });
  router_.add("GET", "/iam/keys/{apikey}/timeline", readers,
              [this](const Call& c) { return key_timeline(c); });
}

Api::Reply Api::recorded(const Call& c, std::string route, std::string filters,
                         std::uint64_t returned, Response response) const {
  // (A named vector: GCC 12 cannot take a braced list as a co_await argument.)
  std::vector<events::Draft> drafts;
  drafts.push_back(events::Draft{events::EventType::audit_read,
                                 events::AuditRead{std::move(route), std::move(filters), returned},
                                 {}});
  auto op = record(d_.commands, std::move(drafts), context(c));
  auto r = co_await std::move(op);
  if (!r) co_return error(c, r.error());
  co_return response;
}

Api::Reply Api::audit(const Call& c) const {
  auto q = parse_query(c.req.query);
  if (!q) co_return error(c, q.error());
  auto filter = replay::parse_audit_filter(*q);
  if (!filter) co_return error(c, filter.error());
  if (auto st = recordable(*filter); !st) co_return error(c, st.error());
  filter->upto = d_.log.head().seq;  // not this read's own audit.read
  if (wants_ndjson(c.req)) {
    const std::size_t limit = q->count("limit") != 0 ? filter->limit : SIZE_MAX;
    Response r;
    r.content_type = "application/x-ndjson";
    r.stream = ndjson_stream(d_.log, *filter, limit);
    if (auto h = deleted_under(d_.log, *filter)) say_deleted(r, *h);
    auto op = recorded(c, "audit", filter->describe() + "&format=ndjson", 0, std::move(r));
    co_return co_await std::move(op);
  }
  auto page = replay::audit_page(d_.log, *filter);
  if (!page) co_return error(c, page.error());
  const std::size_t returned = page->events.size();
  nlohmann::json body = {{"events", events_json(page->events)}, {"next", cursor_json(page->next)}};
  const auto deleted = deleted_under(d_.log, *filter);
  if (deleted) body["history_deleted"] = deleted_json(*deleted);
  Response r = json(HttpStatus::ok, body);
  if (deleted) say_deleted(r, *deleted);
  auto op = recorded(c, "audit", filter->describe(), returned, std::move(r));
  co_return co_await std::move(op);
}

Api::Reply Api::replay_state(const Call& c) const {
  auto params = parse_query(c.req.query);
  if (!params) co_return error(c, params.error());
  Query q(std::move(*params));
  const auto at = q.string("at");
  if (!at || !q.finish())
    co_return error(
        c, make_error(Errc::invalid_request, "give at=RFC3339 or at=SEQ, and nothing else"));
  auto point = replay::parse_point(d_.log, *at);
  if (!point) co_return error(c, point.error());
  auto state = replay::state_at(d_.log, *point);
  if (!state) co_return error(c, state.error());
  Response r = json(HttpStatus::ok, state_json(*state, point->time));
  auto op = recorded(c, "replay/state", "at=" + *at, 0, std::move(r));
  co_return co_await std::move(op);
}

Api::Reply Api::replay_diff(const Call& c) const {
  auto params = parse_query(c.req.query);
  if (!params) co_return error(c, params.error());
  Query q(std::move(*params));
  const auto from_text = q.string("from");
  const auto to_text = q.string("to");
  if (!from_text || !to_text || !q.finish())
    co_return error(c, make_error(Errc::invalid_request,
                                  "give from= and to= (RFC 3339 or SEQ), and nothing else"));
  auto from = replay::parse_point(d_.log, *from_text);
  if (!from) co_return error(c, from.error());
  auto to = replay::parse_point(d_.log, *to_text);
  if (!to) co_return error(c, to.error());
  auto d = replay::diff(d_.log, *from, *to);
  if (!d) co_return error(c, d.error());
  Response r = json(HttpStatus::ok, diff_json(*d));
  auto op = recorded(c, "replay/diff", "from=" + *from_text + "&to=" + *to_text, 0, std::move(r));
  co_return co_await std::move(op);
}

Api::Reply Api::key_timeline(const Call& c) const {
  const std::string& apikey = c.param("apikey");
  const bool known =
      d_.views.read([&](const projections::Views& v) { return v.keys.find(apikey) != nullptr; });
  // Not "no key X": what was pasted as X (a secret?) stays out of the answer.
  if (!known) co_return error(c, make_error(Errc::not_found, "no such key"));
  auto params = parse_query(c.req.query);
  if (!params) co_return error(c, params.error());
  for (const auto& [k, v] : *params) {
    if (k != "after" && k != "limit")
      co_return error(c, make_error(Errc::invalid_request, "unknown query parameter '" + k + "'"));
  }
  (*params)["apikey"] = apikey;
  auto filter = replay::parse_audit_filter(*params);
  if (!filter) co_return error(c, filter.error());
  filter->upto = d_.log.head().seq;
  auto page = replay::audit_page(d_.log, *filter);
  if (!page) co_return error(c, page.error());
  const std::size_t returned = page->events.size();
  nlohmann::json body = {
      {"apikey", apikey}, {"events", events_json(page->events)}, {"next", cursor_json(page->next)}};
  const auto deleted = deleted_under(d_.log, *filter);
  if (deleted) body["history_deleted"] = deleted_json(*deleted);
  Response r = json(HttpStatus::ok, body);
  if (deleted) say_deleted(r, *deleted);
  auto op = recorded(c, "timeline", filter->describe(), returned, std::move(r));
  co_return co_await std::move(op);
}

}  // namespace latchkey::http
