#include "replay/queries.h"

#include <algorithm>
#include <map>

#include "base/parse.h"
#include "events/codec.h"
#include "replay/rebuild.h"

namespace latchkey::replay {

using events::Event;
using events::EventType;
using events::Index;

namespace {

Error invalid(std::string m) { return make_error(Errc::invalid_request, std::move(m)); }

bool matches(const AuditFilter& f, const Event& e) {
  if (f.type && e.type != *f.type) return false;
  if (f.from && e.time < *f.from) return false;
  if (f.to && e.time > *f.to) return false;
  if (f.actor && e.context.actor != *f.actor) return false;
  if (f.principal_id || f.apikey) {
    const auto s = events::subjects_of(e);
    if (f.principal_id && s.principal_id != *f.principal_id) return false;
    if (f.apikey && std::find(s.apikeys.begin(), s.apikeys.end(), *f.apikey) == s.apikeys.end())
      return false;
  }
  return true;
}

Result<Seq> parse_seq(const std::string& name, const std::string& v) {
  const auto n = parse_integer<Seq>(v);
  if (!n) return invalid(name + " must be a sequence number");
  return *n;
}

}  // namespace

std::string AuditFilter::describe() const {
  std::string out;
  auto add = [&](const char* k, const std::string& v) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  };
  if (principal_id) add("principal_id", *principal_id);
  if (apikey) add("apikey", *apikey);
  if (actor) add("actor", *actor);
  if (type) add("type", events::type_name(*type));
  if (from) add("from", format_rfc3339(*from));
  if (to) add("to", format_rfc3339(*to));
  if (after) add("after", std::to_string(after));
  if (before) add("before", std::to_string(before));
  if (descending) add("order", "desc");
  add("limit", std::to_string(limit));
  return out;
}

Result<AuditFilter> parse_audit_filter(const std::map<std::string, std::string>& params) {
  AuditFilter f;
  for (const auto& [k, v] : params) {
    if (k == "principal_id") {
      f.principal_id = v;
    } else if (k == "apikey") {
      f.apikey = v;
    } else if (k == "actor") {
      f.actor = v;
    } else if (k == "type") {
      f.type = events::type_from_name(v);
      // The value is not repeated: whatever was pasted there (a secret?) stays out of errors.
      if (!f.type) return invalid("type is not an event type");
    } else if (k == "from" || k == "to") {
      const auto t = parse_rfc3339(v);
      if (!t) return invalid(k + " must be an RFC 3339 date-time");
      (k == "from" ? f.from : f.to) = *t;
    } else if (k == "after" || k == "before") {
      auto s = parse_seq(k, v);
      if (!s) return s.error();
      (k == "after" ? f.after : f.before) = *s;
    } else if (k == "order") {
      if (v != "asc" && v != "desc") return invalid("order must be asc or desc");
      f.descending = v == "desc";
    } else if (k == "limit") {
      auto n = parse_seq("limit", v);
      if (!n || *n < 1 || *n > 1000) return invalid("limit must be from 1 to 1000");
      f.limit = static_cast<std::size_t>(*n);
    } else {
      return invalid("unknown query parameter '" + k + "'");
    }
  }
  if (f.after && f.descending)
    return invalid("after goes with order=asc; use before with order=desc");
  if (f.before && !f.descending) return invalid("before goes with order=desc");
  if (f.from && f.to && *f.from > *f.to) return invalid("from is after to");
  return f;
}

Result<AuditPage> audit_page(const events::EventLog& log, const AuditFilter& f) {
  AuditPage page;
  const Seq head = log.head().seq;
  const Seq upto = f.upto == 0 ? head : std::min(f.upto, head);
  // The time range as a sequence range (time never decreases along the log).
  Seq lo = f.after + 1;
  Seq hi = upto;
  if (f.descending && f.before) hi = std::min(hi, f.before - 1);
  if (f.from) {
    auto s = log.seq_at_time(*f.from - 1);
    if (!s) return s.error();
    lo = std::max(lo, *s + 1);
  }
  if (f.to) {
    auto s = log.seq_at_time(*f.to);
    if (!s) return s.error();
    hi = std::min(hi, *s);
  }
  if (lo > hi || hi == 0) return page;
  const std::size_t want = f.limit + 1;  // one more tells whether there is a next page
  std::vector<Event> found;
  Status failure;
  auto take = [&](const Event& e) {
    if (matches(f, e)) found.push_back(e);
    return found.size() < want;
  };
  std::optional<std::pair<Index, std::string>> index;
  if (f.apikey)
    index = {Index::apikey, *f.apikey};
  else if (f.principal_id)
    index = {Index::principal, *f.principal_id};
  else if (f.actor && events::indexed_actor(*f.actor))
    index = {Index::actor, *f.actor};
  else if (f.type)
    index = {Index::type, events::type_name(*f.type)};
  Status st;
  if (index) {
    st = log.scan_index(index->first, index->second, f.descending ? hi : lo,
                        f.descending ? events::Direction::backward : events::Direction::forward,
                        [&](const events::IndexEntry& ie) {
                          if (ie.seq < lo || ie.seq > hi) return false;
                          if (f.type && ie.type != *f.type)
                            return true;  // filtered without reading the event
                          auto e = log.get(ie.seq);
                          if (!e) {
                            failure = e.error();
                            return false;
                          }
                          return take(*e);
                        });
  } else if (!f.descending) {
    st = log.scan(lo, hi, take);
  } else {
    // Newest first without an index: read backwards in blocks.
    const Seq block = 256;
    for (Seq end = hi; end >= lo && found.size() < want;) {
      const Seq start = end >= lo + block ? end - block + 1 : lo;
      std::vector<Event> chunk;
      st = log.scan(start, end, [&](const Event& e) {
        chunk.push_back(e);
        return true;
      });
      if (!st) break;
      for (auto it = chunk.rbegin(); it != chunk.rend() && found.size() < want; ++it) take(*it);
      if (start == lo) break;
      end = start - 1;
    }
  }
  if (!st) return st.error();
  if (!failure) return failure.error();
  if (found.size() > f.limit) {
    found.pop_back();
    page.next = found.back().seq;
  }
  page.events = std::move(found);
  return page;
}

Result<State> state_at(const events::EventLog& log, const Point& point) {
  auto views = rebuild(log, point.seq);
  if (!views) return views.error();
  State st{std::move(*views), {}};
  const Seq upto = st.views.seq;
  if (upto == 0) return st;
  const std::int64_t at_s = point.time / kMicrosPerSecond;
  const std::int64_t longest = st.views.longest_token_lifetime_seconds;
  std::optional<Error> failure;
  auto scanned =
      log.scan_index(events::Index::type, events::type_name(events::EventType::token_issued), upto,
                     events::Direction::backward, [&](const events::IndexEntry& ie) {
                       // Event times never go back, so no older token can be live either.
                       if (ie.time / kMicrosPerSecond + longest <= at_s) return false;
                       auto e = log.get(ie.seq);
                       if (!e) {
                         failure = e.error();
                         return false;
                       }
                       const auto* d = std::get_if<events::TokenIssued>(&e->data);
                       if (d && d->exp > at_s && !st.views.revoked(d->jti))
                         st.live_tokens.push_back({ie.seq, d->jti, d->apikey, d->iat, d->exp});
                       return true;
                     });
  if (!scanned) return scanned.error();
  if (failure) return *failure;
  std::reverse(st.live_tokens.begin(), st.live_tokens.end());
  return st;
}

Result<Point> parse_point(const events::EventLog& log, const std::string& text) {
  Point p;
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto s = parse_seq("at", text);
    if (!s) return s.error();
    p.seq = std::min(*s, log.head().seq);
    if (p.seq > 0) {
      auto e = log.get(p.seq);
      if (!e) return e.error();
      p.time = e->time;
    }
    return p;
  }
  const auto t = parse_rfc3339(text);
  if (!t) return invalid("a point is an RFC 3339 date-time or a sequence number");
  auto s = log.seq_at_time(*t);
  if (!s) return s.error();
  p.seq = *s;
  p.time = *t;
  return p;
}

Result<Diff> diff(const events::EventLog& log, const Point& from, const Point& to) {
  if (from.seq > to.seq) return invalid("from is after to");
  Diff out;
  out.from = from;
  out.to = to;
  auto change = [](const Event& e, const char* what) {
    Change c;
    c.seq = e.seq;
    c.time = e.time;
    c.what = what;
    c.actor = e.context.actor;
    c.source_ip = e.context.source_ip;
    return c;
  };
  const Status st = log.scan(from.seq + 1, to.seq, [&](const Event& e) {
    ++out.events;
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
            Change c = change(e, "created");
            c.id = d.id;
            c.name = d.name;
            out.principals.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::PrincipalUpdated>) {
            Change c = change(e, "updated");
            c.id = d.id;
            out.principals.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::PrincipalDeleted>) {
            Change c = change(e, "deleted");
            c.id = d.id;
            c.keys_deactivated = d.keys_deactivated;
            out.principals.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::KeyCreated>) {
            Change c = change(e, "created");
            c.apikey = d.apikey;
            c.principal_id = d.principal_id;
            c.expires_at = d.expires_at;
            out.keys.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::KeyChanged>) {
            Change c = change(e, e.type == EventType::key_disabled  ? "disabled"
                                 : e.type == EventType::key_enabled ? "enabled"
                                                                    : "deleted");
            c.apikey = d.apikey;
            c.principal_id = d.principal_id;
            out.keys.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::KeyUpdated>) {
            Change c = change(e, "updated");  // description or limits
            c.apikey = d.apikey;
            c.principal_id = d.principal_id;
            out.keys.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::SettingsChanged>) {
            for (const auto& s : d.changes) {
              Change c = change(e, "changed");
              c.name = s.name;
              c.old_value = s.old_value;
              c.new_value = s.new_value;
              out.settings.push_back(std::move(c));
            }
          } else if constexpr (std::is_same_v<T, events::SigningKeyRotated>) {
            Change c = change(e, "rotated");
            c.kid = d.kid;
            c.old_kid = d.old_kid;
            out.signing_keys.push_back(std::move(c));
          } else if constexpr (std::is_same_v<T, events::TokenIssued>) {
            ++out.tokens_issued;
            ++out.tokens_by_key[d.apikey];
          } else if constexpr (std::is_same_v<T, events::LoginFailed>) {
            out.failed_logins += d.attempts;
            out.failures_by_key[d.apikey.empty() ? "(malformed)" : d.apikey] += d.attempts;
          }
        },
        e.data);
    return true;
  });
  if (!st) return st.error();
  return out;
}

Result<AuditPage> timeline(const events::EventLog& log, const std::string& apikey, Seq after,
                           std::size_t limit) {
  AuditFilter f;
  f.apikey = apikey;
  f.after = after;
  f.limit = limit;
  return audit_page(log, f);
}

}  // namespace latchkey::replay
