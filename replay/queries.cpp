#include "replay/queries.h"

#include <map>

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
  try {
    std::size_t pos = 0;
    const unsigned long long n = std::stoull(v, &pos);
    if (pos != v.size() || v.empty() || v[0] == '-') throw std::invalid_argument(name);
    return static_cast<Seq>(n);
  } catch (...) {
    return invalid(name + " must be a sequence number");
  }
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
  else if (f.actor)
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

nlohmann::json key_json(const projections::ApiKey& k, const projections::Views& v, Micros at) {
  return {{"apikey", k.apikey},
          {"principal_id", v.principals.at(k.principal).id},
          {"description", k.description},
          {"created_at", format_rfc3339(k.created_at)},
          {"expires_at", format_rfc3339(k.expires_at)},
          {"last_used_at", k.last_used_at ? nlohmann::json(format_rfc3339(k.last_used_at))
                                          : nlohmann::json(nullptr)},
          {"status", projections::status_name(k.status(at))}};
}

nlohmann::json state_json(const projections::Views& v, Micros at) {
  nlohmann::json principals = nlohmann::json::array();
  for (const auto& p : v.principals.all()) {
    principals.push_back({{"id", p.id},
                          {"type", projections::kind_name(p.kind)},
                          {"name", p.name},
                          {"email", p.email},
                          {"roles", p.roles},
                          {"created_at", format_rfc3339(p.created_at)},
                          {"deleted", p.deleted()}});
  }
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& k : v.keys.all()) {
    nlohmann::json j = key_json(k, v, at);
    j["can_log_in"] = k.usable(at) && !v.principals.at(k.principal).deleted();
    keys.push_back(std::move(j));
  }
  nlohmann::json settings = nlohmann::json::object();
  v.settings.each([&](const char* n, const std::int64_t& value) { settings[n] = value; });
  nlohmann::json tokens = nlohmann::json::array();
  const std::int64_t at_s = at / kMicrosPerSecond;
  for (const auto& t : v.tokens.live()) {
    if (t.exp <= at_s) continue;
    const auto& k = v.keys.at(t.key);
    tokens.push_back(
        {{"jti", projections::jti_text(t.jti)},
         {"apikey", k.apikey},
         {"principal_id", v.principals.at(k.principal).id},
         {"iat", t.iat},
         {"exp", t.exp},
         {"active", k.state == projections::KeyState::active && !k.principal_deleted}});
  }
  nlohmann::json signing = nlohmann::json::array();
  for (const auto& k : v.signing.all()) {
    signing.push_back({{"kid", k.kid},
                       {"alg", k.alg},
                       {"created_at", format_rfc3339(k.created_at)},
                       {"retired", k.retired_at != 0}});
  }
  return {
      {"seq", v.seq},
      {"at", format_rfc3339(at)},
      {"last_event_time", v.seq ? nlohmann::json(format_rfc3339(v.time)) : nlohmann::json(nullptr)},
      {"principals", std::move(principals)},
      {"keys", std::move(keys)},
      {"settings", std::move(settings)},
      {"live_tokens", std::move(tokens)},
      {"signing_keys", std::move(signing)}};
}

Result<nlohmann::json> diff_json(const events::EventLog& log, const Point& from, const Point& to) {
  if (from.seq > to.seq) return invalid("from is after to");
  nlohmann::json principals = nlohmann::json::array();
  nlohmann::json keys = nlohmann::json::array();
  nlohmann::json settings = nlohmann::json::array();
  nlohmann::json signing = nlohmann::json::array();
  std::map<std::string, std::uint64_t> tokens_by_key;
  std::map<std::string, std::uint64_t> failures_by_key;
  std::uint64_t tokens = 0, failures = 0, events_seen = 0;
  auto change = [](const Event& e, const char* what) {
    nlohmann::json j = {{"seq", e.seq},
                        {"time", format_rfc3339(e.time)},
                        {"change", what},
                        {"actor", e.context.actor},
                        {"source_ip", e.context.source_ip}};
    return j;
  };
  const Status st = log.scan(from.seq + 1, to.seq, [&](const Event& e) {
    ++events_seen;
    std::visit(
        [&](const auto& d) {
          using T = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<T, events::PrincipalCreated>) {
            auto j = change(e, "created");
            j["id"] = d.id;
            j["name"] = d.name;
            principals.push_back(j);
          } else if constexpr (std::is_same_v<T, events::PrincipalUpdated>) {
            auto j = change(e, "updated");
            j["id"] = d.id;
            principals.push_back(j);
          } else if constexpr (std::is_same_v<T, events::PrincipalDeleted>) {
            auto j = change(e, "deleted");
            j["id"] = d.id;
            j["keys_deactivated"] = d.keys_deactivated;
            principals.push_back(j);
          } else if constexpr (std::is_same_v<T, events::KeyCreated>) {
            auto j = change(e, "created");
            j["apikey"] = d.apikey;
            j["principal_id"] = d.principal_id;
            j["expires_at"] = format_rfc3339(d.expires_at);
            keys.push_back(j);
          } else if constexpr (std::is_same_v<T, events::KeyChanged>) {
            const char* what = e.type == EventType::key_disabled  ? "disabled"
                               : e.type == EventType::key_enabled ? "enabled"
                                                                  : "deleted";
            auto j = change(e, what);
            j["apikey"] = d.apikey;
            j["principal_id"] = d.principal_id;
            keys.push_back(j);
          } else if constexpr (std::is_same_v<T, events::SettingsChanged>) {
            for (const auto& c : d.changes) {
              auto j = change(e, "changed");
              j["name"] = c.name;
              j["old"] = c.old_value;
              j["new"] = c.new_value;
              settings.push_back(j);
            }
          } else if constexpr (std::is_same_v<T, events::SigningKeyRotated>) {
            auto j = change(e, "rotated");
            j["kid"] = d.kid;
            j["old_kid"] = d.old_kid;
            signing.push_back(j);
          } else if constexpr (std::is_same_v<T, events::TokenIssued>) {
            ++tokens;
            ++tokens_by_key[d.apikey];
          } else if constexpr (std::is_same_v<T, events::LoginFailed>) {
            failures += d.attempts;
            failures_by_key[d.apikey.empty() ? "(malformed)" : d.apikey] += d.attempts;
          }
        },
        e.data);
    return true;
  });
  if (!st) return st.error();
  return Result<nlohmann::json>(
      boost::system::in_place_value,
      nlohmann::json{{"from", {{"seq", from.seq}, {"time", format_rfc3339(from.time)}}},
                     {"to", {{"seq", to.seq}, {"time", format_rfc3339(to.time)}}},
                     {"events", events_seen},
                     {"principals", std::move(principals)},
                     {"keys", std::move(keys)},
                     {"settings", std::move(settings)},
                     {"signing_keys", std::move(signing)},
                     {"tokens_issued", {{"total", tokens}, {"by_key", tokens_by_key}}},
                     {"failed_logins", {{"total", failures}, {"by_key", failures_by_key}}}});
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
