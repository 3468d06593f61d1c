// /iam/users, /iam/service-accounts and /iam/me
#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "http/api.h"
#include "http/awaitable.h"
#include "http/body.h"
#include "http/error_map.h"
#include "http/render.h"
#include "keys/ids.h"
#include "replay/queries.h"

namespace latchkey::http {

using projections::PrincipalKind;
using projections::Views;

namespace {

constexpr std::int64_t kDefaultLimit = 50;
constexpr std::int64_t kMaxLimit = 500;

std::string base_of(PrincipalKind kind) {
  return kind == PrincipalKind::user ? "/iam/users" : "/iam/service-accounts";
}

Error no_such(PrincipalKind kind, const std::string& id) {
  return make_error(Errc::not_found, std::string("no ") + projections::kind_name(kind) + " " + id);
}

Result<domain::CreatePrincipal> parse_create(const Request& req, PrincipalKind kind) {
  auto body = parse_body(req, BodyKinds::json_only, false);
  if (!body) return body.error();
  Fields f(*body);
  domain::CreatePrincipal c;
  c.kind = kind;
  c.name = f.required_string("name");
  c.email = f.string("email").value_or("");
  c.roles = f.strings("roles").value_or(std::vector<std::string>{});
  if (auto st = f.finish(); !st) return st.error();
  c.id = kind == PrincipalKind::user ? keys::new_user_id() : keys::new_service_account_id();
  return c;
}

Result<domain::UpdatePrincipal> parse_update(const Request& req, PrincipalKind kind,
                                             const std::string& id) {
  auto body = parse_body(req, BodyKinds::json_only, false);
  if (!body) return body.error();
  Fields f(*body);
  domain::UpdatePrincipal u{kind, id, f.string("name"), f.string("email"), f.strings("roles")};
  if (auto st = f.finish(); !st) return st.error();
  return u;
}

// The events of one principal in log order: those about it (its principal
// index) merged with those it performed (its actor index), each once, read a
// page at a time from both indexes up to `upto`.
class PrincipalEvents {
 public:
  PrincipalEvents(const events::EventLog& log, const std::string& id, events::Seq upto)
      : log_(log) {
    about_.filter.principal_id = id;
    by_.filter.actor = id;
    for (Cursor* c : {&about_, &by_}) {
      c->filter.upto = upto;
      c->filter.limit = kPage;
    }
  }

  // The next event, or nothing at the end. Throws on a read error (the
  // stream is then cut short, which the client sees as a broken body).
  std::optional<events::Event> next() {
    fill(about_);
    fill(by_);
    Cursor* pick = nullptr;
    for (Cursor* c : {&about_, &by_}) {
      if (c->pos < c->page.size() && (!pick || c->page[c->pos].seq < pick->page[pick->pos].seq))
        pick = c;
    }
    if (!pick) return std::nullopt;
    events::Event e = std::move(pick->page[pick->pos++]);
    for (Cursor* c : {&about_, &by_}) {  // the same event in both indexes: once
      if (c != pick && c->pos < c->page.size() && c->page[c->pos].seq == e.seq) ++c->pos;
    }
    return e;
  }

 private:
  static constexpr std::size_t kPage = 256;
  struct Cursor {
    replay::AuditFilter filter;
    std::vector<events::Event> page;
    std::size_t pos = 0;
    bool done = false;
  };

  void fill(Cursor& c) {
    if (c.pos < c.page.size() || c.done) return;
    auto page = replay::audit_page(log_, c.filter);
    if (!page) throw std::runtime_error("principal export: " + page.error().message);
    c.page = std::move(page->events);
    c.pos = 0;
    if (page->next) {
      c.filter.after = *page->next;
    } else {
      c.done = true;
    }
  }

  const events::EventLog& log_;
  Cursor about_;
  Cursor by_;
};

}  // namespace

void Api::add_principal_routes() {
  const Access admin = Access::any_role({"admin"});
  for (const auto kind : {PrincipalKind::user, PrincipalKind::service_account}) {
    const std::string base = base_of(kind);
    router_.add("POST", base, admin,
                [this, kind](const Call& c) { return create_principal(c, kind); });
    router_.add("GET", base, admin,
                [this, kind](const Call& c) { return list_principals(c, kind); });
    router_.add("GET", base + "/{id}", admin,
                [this, kind](const Call& c) { return get_principal(c, kind); });
    router_.add("PATCH", base + "/{id}", admin,
                [this, kind](const Call& c) { return update_principal(c, kind); });
    router_.add("DELETE", base + "/{id}", admin,
                [this, kind](const Call& c) { return delete_principal(c, kind); });
    router_.add("GET", base + "/{id}/export", admin,
                [this, kind](const Call& c) { return export_principal(c, kind); });
    router_.add("POST", base + "/{id}/erase", admin,
                [this, kind](const Call& c) { return erase_principal(c, kind); });
  }
  router_.add("GET", "/iam/me", Access::authenticated(), [this](const Call& c) { return me(c); });
}

Api::Reply Api::create_principal(const Call& c, PrincipalKind kind) const {
  auto command = parse_create(c.req, kind);
  if (!command) co_return error(c, command.error());
  const std::string id = command->id;
  auto op = execute(d_.commands, std::move(*command), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  Response r = d_.views.read([&](const Views& v) {
    return json(HttpStatus::created, principal_json(*v.principals.find(id), v, d_.clock.now()));
  });
  r.headers.emplace_back("Location", base_of(kind) + "/" + id);
  co_return r;
}

Api::Reply Api::list_principals(const Call& c, PrincipalKind kind) const {
  auto params = parse_query(c.req.query);
  if (!params) co_return error(c, params.error());
  Query q(std::move(*params));
  const std::string search = q.string("search").value_or("");
  const auto limit =
      q.integer("limit", 1, kMaxLimit, "limit must be from 1 to 500").value_or(kDefaultLimit);
  const auto after = q.integer("cursor", 0, INT64_MAX, "cursor is not one this server gave");
  if (auto st = q.finish(); !st) co_return error(c, st.error());
  co_return d_.views.read([&](const Views& v) {
    const auto page =
        v.principals.list(kind, search, after.value_or(-1), static_cast<std::size_t>(limit));
    nlohmann::json items = nlohmann::json::array();
    const Micros now = d_.clock.now();
    for (const auto* p : page.items) items.push_back(principal_json(*p, v, now));
    return json(HttpStatus::ok,
                {{"items", std::move(items)},
                 {"next", cursor_json(page.next ? std::optional<std::uint64_t>(*page.next)
                                                : std::nullopt)}});
  });
}

Api::Reply Api::get_principal(const Call& c, PrincipalKind kind) const {
  const std::string& id = c.param("id");
  co_return d_.views.read([&](const Views& v) {
    const auto* p = v.principals.find(id);
    if (!p || p->deleted() || p->kind != kind) return error(c, no_such(kind, id));
    return json(HttpStatus::ok, principal_json(*p, v, d_.clock.now()));
  });
}

// GET .../{id}/export: what latchkey holds about one principal (GDPR art. 15),
// deleted or not: its record, its keys (never a secret) and every event about
// it or by it, in log order. The events are streamed, so a principal with
// millions of logins costs constant memory. Recorded as audit.read.
Api::Reply Api::export_principal(const Call& c, PrincipalKind kind) const {
  const std::string& id = c.param("id");
  const Micros now = d_.clock.now();
  const events::Seq upto = d_.log.head().seq;  // not this read's own audit.read
  std::optional<std::string> head =
      d_.views.read([&](const Views& v) -> std::optional<std::string> {
        const auto* p = v.principals.find(id);
        if (!p || p->kind != kind) return std::nullopt;
        nlohmann::json principal = principal_json(*p, v, now);
        principal["deleted"] = p->deleted();
        nlohmann::json keys = nlohmann::json::array();
        for (auto pos : p->keys) keys.push_back(key_json(v.keys.at(pos), v, now));
        const nlohmann::json doc = {{"exported_at", format_rfc3339(now)},
                                    {"principal", std::move(principal)},
                                    {"keys", std::move(keys)}};
        std::string text = doc.dump();
        text.pop_back();  // the closing brace: the events follow
        return text + ",\"events\":[";
      });
  if (!head) co_return error(c, no_such(kind, id));
  auto events = std::make_shared<PrincipalEvents>(d_.log, id, upto);
  struct Progress {
    bool started = false;
    bool any = false;  // an event written: the next one needs a comma
    bool done = false;
  };
  auto progress = std::make_shared<Progress>();
  Response r;
  r.stream = [events, progress, head = std::move(*head)](std::string& chunk) -> bool {
    if (progress->done) return false;
    if (!progress->started) {
      chunk += head;
      progress->started = true;
    }
    for (std::size_t n = 0; n < 256; ++n) {
      auto e = events->next();
      if (!e) {
        chunk += "]}";
        progress->done = true;
        return true;
      }
      if (progress->any) chunk += ',';
      progress->any = true;
      chunk += events::to_json(*e).dump();
    }
    return true;
  };
  auto op = recorded(c, "export", "principal_id=" + id, 0, std::move(r));
  co_return co_await std::move(op);
}

Api::Reply Api::update_principal(const Call& c, PrincipalKind kind) const {
  const std::string& id = c.param("id");
  auto command = parse_update(c.req, kind, id);
  if (!command) co_return error(c, command.error());
  auto op = execute(d_.commands, std::move(*command), context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  co_return d_.views.read([&](const Views& v) {
    return json(HttpStatus::ok, principal_json(*v.principals.find(id), v, d_.clock.now()));
  });
}

Api::Reply Api::delete_principal(const Call& c, PrincipalKind kind) const {
  auto op = execute(d_.commands, domain::DeletePrincipal{kind, c.param("id")}, context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  Response r;
  r.status = HttpStatus::no_content;
  r.content_type.clear();
  co_return r;
}

// POST .../{id}/erase (GDPR art. 17): deletes the principal if needed, appends
// principal.erased, then destroys its data key, so its name, email, key
// descriptions and source addresses read "[erased]" everywhere while the
// chain still verifies (docs/data-lifecycle.md). Repeating it is harmless:
// the event is not appended twice, the rest is finished if a crash stopped it.
Api::Reply Api::erase_principal(const Call& c, PrincipalKind kind) const {
  const std::string& id = c.param("id");
  auto op = execute(d_.commands, domain::ErasePrincipal{kind, id}, context(c));
  auto committed = co_await std::move(op);
  if (!committed) co_return error(c, committed.error());
  if (d_.finish_erasure) {
    if (auto st = d_.finish_erasure(id); !st) {
      co_return error(c,
                      make_error(Errc::unavailable,
                                 "principal.erased is recorded but the data key could not be "
                                 "destroyed yet (" +
                                     st.error().message +
                                     "); repeat the request, or it completes at the next start"));
    }
  }
  co_return d_.views.read([&](const Views& v) {
    const projections::Principal* p = v.principals.find(id);
    const nlohmann::json body = {{"id", id},
                                 {"erased", true},
                                 {"deleted_at", format_rfc3339(p->deleted_at)},
                                 {"erased_at", format_rfc3339(p->erased_at)}};
    return json(HttpStatus::ok, body);
  });
}

Api::Reply Api::me(const Call& c) const {
  co_return d_.views.read([&](const Views& v) {
    nlohmann::json j = principal_json(*v.principals.find(c.who().principal_id), v, d_.clock.now());
    j["apikey"] = c.who().apikey;
    return json(HttpStatus::ok, j);
  });
}

}  // namespace latchkey::http
