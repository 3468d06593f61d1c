#include "http/render.h"

#include "http/body.h"

#include "events/codec.h"

namespace latchkey::http {

using projections::ApiKey;
using projections::Principal;
using projections::Views;

nlohmann::json principal_json(const Principal& p, const Views& v, Micros now) {
  std::size_t keys = 0;
  for (auto pos : p.keys) {
    if (v.keys.at(pos).status(now) != projections::KeyStatus::deleted) ++keys;
  }
  return {{"id", p.id},
          {"type", projections::kind_name(p.kind)},
          {"name", p.name},
          {"email", p.email.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.email)},
          {"roles", p.roles},
          {"created_at", format_rfc3339(p.created_at)},
          {"updated_at", format_rfc3339(p.updated_at)},
          {"key_count", keys}};
}

nlohmann::json key_json(const ApiKey& k, const Views& v, Micros at) {
  return {{"apikey", k.apikey},
          {"principal_id", v.principals.at(k.principal).id},
          {"description", k.description},
          {"created_at", format_rfc3339(k.created_at)},
          {"expires_at", format_rfc3339(k.expires_at)},
          {"last_used_at", k.last_used_at ? nlohmann::json(format_rfc3339(k.last_used_at))
                                          : nlohmann::json(nullptr)},
          {"status", projections::status_name(k.status(at))},
          {"allowed_cidrs", k.allowed_cidrs},
          {"roles", k.roles},
          {"rate_per_minute", k.rate_per_minute}};
}

nlohmann::json settings_json(const projections::Settings& s) {
  nlohmann::json j = nlohmann::json::object();
  s.each([&](const char* name, const std::int64_t& value) { j[name] = value; });
  return j;
}

nlohmann::json events_json(const std::vector<events::Event>& evs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : evs) out.push_back(events::to_json(e));
  return out;
}

nlohmann::json state_json(const replay::State& st, Micros at) {
  const Views& v = st.views;
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
  nlohmann::json tokens = nlohmann::json::array();
  for (const auto& t : st.live_tokens) {
    const auto* k = v.keys.find(t.apikey);
    if (!k) continue;  // not a key of these views (never the case in a valid log)
    tokens.push_back(
        {{"jti", t.jti},
         {"apikey", k->apikey},
         {"principal_id", v.principals.at(k->principal).id},
         {"iat", t.iat},
         {"exp", t.exp},
         {"active", k->state == projections::KeyState::active && !k->principal_deleted}});
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
      {"settings", settings_json(v.settings)},
      {"live_tokens", std::move(tokens)},
      {"signing_keys", std::move(signing)}};
}

namespace {

nlohmann::json change_json(const replay::Change& c) {
  nlohmann::json j = {{"seq", c.seq},
                      {"time", format_rfc3339(c.time)},
                      {"change", c.what},
                      {"actor", c.actor},
                      {"source_ip", c.source_ip}};
  return j;
}

nlohmann::json changes_json(const std::vector<replay::Change>& changes,
                            void (*fill)(nlohmann::json&, const replay::Change&)) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : changes) {
    nlohmann::json j = change_json(c);
    fill(j, c);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

nlohmann::json diff_json(const replay::Diff& d) {
  auto principal = [](nlohmann::json& j, const replay::Change& c) {
    j["id"] = c.id;
    if (c.what == "created") j["name"] = c.name;
    if (c.what == "deleted") j["keys_deactivated"] = c.keys_deactivated;
  };
  auto key = [](nlohmann::json& j, const replay::Change& c) {
    j["apikey"] = c.apikey;
    j["principal_id"] = c.principal_id;
    if (c.what == "created") j["expires_at"] = format_rfc3339(c.expires_at);
  };
  auto setting = [](nlohmann::json& j, const replay::Change& c) {
    j["name"] = c.name;
    j["old"] = c.old_value;
    j["new"] = c.new_value;
  };
  auto signing = [](nlohmann::json& j, const replay::Change& c) {
    j["kid"] = c.kid;
    j["old_kid"] = c.old_kid;
  };
  return {{"from", {{"seq", d.from.seq}, {"time", format_rfc3339(d.from.time)}}},
          {"to", {{"seq", d.to.seq}, {"time", format_rfc3339(d.to.time)}}},
          {"events", d.events},
          {"principals", changes_json(d.principals, principal)},
          {"keys", changes_json(d.keys, key)},
          {"settings", changes_json(d.settings, setting)},
          {"signing_keys", changes_json(d.signing_keys, signing)},
          {"tokens_issued", {{"total", d.tokens_issued}, {"by_key", d.tokens_by_key}}},
          {"failed_logins", {{"total", d.failed_logins}, {"by_key", d.failures_by_key}}}};
}

nlohmann::json cursor_json(const std::optional<std::uint64_t>& next) {
  return next ? nlohmann::json(std::to_string(*next)) : nlohmann::json(nullptr);
}

Result<replay::UsagePeriod> usage_period_of(std::string_view query) {
  auto params = parse_query(query);
  if (!params) return params.error();
  Query q(std::move(*params));
  const std::string text = q.string("period").value_or("day");
  if (auto st = q.finish(); !st) return st.error();
  const auto period = replay::parse_usage_period(text);
  if (!period) return make_error(Errc::invalid_request, "period must be 'day' or 'month'");
  return *period;
}

nlohmann::json usage_json(const replay::Usage& u) {
  nlohmann::json buckets = nlohmann::json::array();
  for (const auto& b : u.buckets) {
    buckets.push_back({{"start", format_rfc3339_seconds(b.start)},
                       {"logins", b.logins},
                       {"failed_logins", b.failed_logins},
                       {"active_keys", b.active_keys}});
  }
  return {{"period", replay::usage_period_name(u.period)},
          {"bucket_seconds", u.bucket_micros / kMicrosPerSecond},
          {"buckets", std::move(buckets)}};
}

}  // namespace latchkey::http
