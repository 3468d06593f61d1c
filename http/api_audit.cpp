// GET /iam/audit, /iam/replay/state, /iam/replay/diff, /iam/keys/{apikey}/timeline
// (roles admin or auditor). Every read is itself recorded as audit.read, and
// a failed record fails the request.
#include <nlohmann/json.hpp>

#include "domain/credentials.h"
#include "events/codec.h"
#include "http/api.h"
#include "http/body.h"
#include "http/error_map.h"
#include "replay/queries.h"
#include "replay/rebuild.h"

namespace latchkey::http {

namespace {

bool wants_ndjson(const Request& req) {
  const auto accept = req.header("accept");
  return accept && accept->find("application/x-ndjson") != std::string_view::npos;
}

nlohmann::json events_json(const std::vector<events::Event>& evs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : evs) out.push_back(events::to_json(e));
  return out;
}

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

}  // namespace

void Api::add_audit_routes() {
  // Records audit.read, then replies with `build()` (on an I/O thread).
  auto recorded = [this](Request& req, const Caller& caller, std::string route, std::string filters,
                         std::uint64_t returned, Reply reply, std::function<Response()> build) {
    events::AuditRead a{std::move(route), std::move(filters), returned};
    d_.commands.record({events::Draft{events::EventType::audit_read, std::move(a), {}}},
                       context(req, &caller),
                       [this, reply, build = std::move(build), rid = req.request_id,
                        who = caller.principal_id](auto r) {
                         later(reply, [r = std::move(r), build, rid, who]() -> Response {
                           if (!r) return error_response(r.error(), rid);
                           Response resp = build();
                           resp.principal = who;
                           return resp;
                         });
                       });
  };

  router_.add("GET", "/iam/audit", [this, recorded](Request& req, const Params&, Reply reply) {
    auto caller = authorize(req, {"admin", "auditor"});
    if (!caller) return reply(error(req, caller.error()));
    auto q = parse_query(req.query);
    if (!q) return reply(error(req, q.error()));
    auto filter = replay::parse_audit_filter(*q);
    if (!filter) return reply(error(req, filter.error()));
    if (auto st = recordable(*filter); !st) return reply(error(req, st.error()));
    filter->upto = d_.log.head().seq;  // not this read's own audit.read
    if (wants_ndjson(req)) {
      // The whole result, streamed page by page: constant memory however long.
      const bool limited = q->count("limit") != 0;
      recorded(req, *caller, "audit", filter->describe() + "&format=ndjson", 0, reply,
               [this, f = *filter, limited]() {
                 Response resp;
                 resp.content_type = "application/x-ndjson";
                 auto state = std::make_shared<replay::AuditFilter>(f);
                 auto left = std::make_shared<std::size_t>(limited ? f.limit : SIZE_MAX);
                 auto done = std::make_shared<bool>(false);
                 state->limit = std::min<std::size_t>(256, *left);
                 resp.stream = [this, state, left, done](std::string& chunk) -> bool {
                   if (*done) return false;
                   auto page = replay::audit_page(d_.log, *state);
                   if (!page) throw std::runtime_error("audit stream: " + page.error().message);
                   for (const auto& e : page->events) chunk += events::to_json(e).dump() + "\n";
                   *left -= page->events.size();
                   if (!page->next || *left == 0) {
                     *done = true;
                     return !chunk.empty();
                   }
                   (state->descending ? state->before : state->after) = *page->next;
                   state->limit = std::min<std::size_t>(256, *left);
                   return true;
                 };
                 return resp;
               });
      return;
    }
    auto page = replay::audit_page(d_.log, *filter);
    if (!page) return reply(error(req, page.error()));
    nlohmann::json body = {{"events", events_json(page->events)},
                           {"next", page->next ? nlohmann::json(std::to_string(*page->next))
                                               : nlohmann::json(nullptr)}};
    recorded(req, *caller, "audit", filter->describe(), page->events.size(), reply,
             [this, body = std::move(body)]() { return json(200, body); });
  });

  router_.add(
      "GET", "/iam/replay/state", [this, recorded](Request& req, const Params&, Reply reply) {
        auto caller = authorize(req, {"admin", "auditor"});
        if (!caller) return reply(error(req, caller.error()));
        auto q = parse_query(req.query);
        if (!q) return reply(error(req, q.error()));
        if (q->size() != 1 || !q->count("at")) {
          return reply(error(req, make_error(Errc::invalid_request,
                                             "give at=RFC3339 or at=SEQ, and nothing else")));
        }
        auto point = replay::parse_point(d_.log, q->at("at"));
        if (!point) return reply(error(req, point.error()));
        auto views = replay::rebuild(d_.log, point->seq);
        if (!views) return reply(error(req, views.error()));
        nlohmann::json body = replay::state_json(*views, point->time);
        recorded(req, *caller, "replay/state", "at=" + q->at("at"), 0, reply,
                 [this, body = std::move(body)]() { return json(200, body); });
      });

  router_.add(
      "GET", "/iam/replay/diff", [this, recorded](Request& req, const Params&, Reply reply) {
        auto caller = authorize(req, {"admin", "auditor"});
        if (!caller) return reply(error(req, caller.error()));
        auto q = parse_query(req.query);
        if (!q) return reply(error(req, q.error()));
        if (q->size() != 2 || !q->count("from") || !q->count("to")) {
          return reply(
              error(req, make_error(Errc::invalid_request,
                                    "give from= and to= (RFC 3339 or SEQ), and nothing else")));
        }
        auto from = replay::parse_point(d_.log, q->at("from"));
        if (!from) return reply(error(req, from.error()));
        auto to = replay::parse_point(d_.log, q->at("to"));
        if (!to) return reply(error(req, to.error()));
        auto body = replay::diff_json(d_.log, *from, *to);
        if (!body) return reply(error(req, body.error()));
        recorded(req, *caller, "replay/diff", "from=" + q->at("from") + "&to=" + q->at("to"), 0,
                 reply, [this, body = std::move(*body)]() { return json(200, body); });
      });

  router_.add(
      "GET", "/iam/keys/{apikey}/timeline",
      [this, recorded](Request& req, const Params& p, Reply reply) {
        auto caller = authorize(req, {"admin", "auditor"});
        if (!caller) return reply(error(req, caller.error()));
        const std::string apikey = p.at("apikey");
        const bool known = d_.views.read(
            [&](const projections::Views& v) { return v.keys.find(apikey) != nullptr; });
        // Not "no key X": what was pasted as X (a secret?) stays out of the answer.
        if (!known) return reply(error(req, make_error(Errc::not_found, "no such key")));
        auto q = parse_query(req.query);
        if (!q) return reply(error(req, q.error()));
        std::map<std::string, std::string> params = *q;
        for (const auto& [k, v] : params) {
          if (k != "after" && k != "limit") {
            return reply(error(
                req, make_error(Errc::invalid_request, "unknown query parameter '" + k + "'")));
          }
        }
        params["apikey"] = apikey;
        auto filter = replay::parse_audit_filter(params);
        if (!filter) return reply(error(req, filter.error()));
        filter->upto = d_.log.head().seq;
        auto page = replay::audit_page(d_.log, *filter);
        if (!page) return reply(error(req, page.error()));
        nlohmann::json body = {{"apikey", apikey},
                               {"events", events_json(page->events)},
                               {"next", page->next ? nlohmann::json(std::to_string(*page->next))
                                                   : nlohmann::json(nullptr)}};
        recorded(req, *caller, "timeline", filter->describe(), page->events.size(), reply,
                 [this, body = std::move(body)]() { return json(200, body); });
      });
}

}  // namespace latchkey::http
