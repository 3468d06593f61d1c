#include "domain/decide.h"

#include <algorithm>

#include "domain/credentials.h"

namespace latchkey::domain {
namespace {

using events::Draft;
using events::EventType;
using projections::ApiKey;
using projections::KeyState;
using projections::Principal;
using projections::Views;

Error invalid(std::string message) { return make_error(Errc::invalid_request, std::move(message)); }
Error not_found(std::string message) { return make_error(Errc::not_found, std::move(message)); }

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string kind_label(PrincipalKind k) {
  return k == PrincipalKind::user ? "user" : "service account";
}

// A principal that exists and, if `kind` is given, is of that kind.
Result<const Principal*> live_principal(const Views& v, std::optional<PrincipalKind> kind,
                                        const std::string& id) {
  const Principal* p = v.principals.find(id);
  if (!p || p->deleted() || (kind && p->kind != *kind)) {
    return not_found("no " + (kind ? kind_label(*kind) : std::string("principal")) + " " + id);
  }
  return p;
}

std::size_t admins_other_than(const Views& v, const std::string& id) {
  std::size_t n = 0;
  for (const Principal& p : v.principals.all()) {
    if (!p.deleted() && p.id != id && p.has_role("admin")) ++n;
  }
  return n;
}

Draft draft(EventType t, events::Data d) { return Draft{t, std::move(d), {}}; }

// A key's roles: known role names, each held by the owner, without duplicates.
Result<std::vector<std::string>> key_roles(const Principal& owner,
                                           const std::vector<std::string>& roles) {
  if (auto e = check_roles(roles)) return invalid(*e);
  std::vector<std::string> out;
  for (const auto& r : roles) {
    if (!owner.has_role(r)) return invalid("roles: the owner does not hold the role " + r);
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  }
  return out;
}

Result<std::uint64_t> rate(std::int64_t per_minute) {
  if (per_minute < 0 || per_minute > kMaxRatePerMinute)
    return invalid("rate_per_minute must be between 0 and " + std::to_string(kMaxRatePerMinute));
  return static_cast<std::uint64_t>(per_minute);
}

// The key `apikey` of principal `principal_id`, unless deleted.
Result<const ApiKey*> live_key(const Views& v, const std::string& principal_id,
                               const std::string& apikey) {
  const ApiKey* k = v.keys.find(apikey);
  if (!k || v.principals.at(k->principal).id != principal_id || k->state == KeyState::deleted) {
    return not_found("no key " + apikey + " for " + principal_id);
  }
  return k;
}

struct Decider {
  const Views& v;
  Micros now;

  Result<std::vector<Draft>> operator()(const CreatePrincipal& c) const {
    if (!is_principal_id(c.id)) return invalid("malformed id");
    if (v.principals.find(c.id)) return make_error(Errc::conflict, "id already in use");
    if (auto e = check_name(c.name)) return invalid(*e);
    if (c.kind == PrincipalKind::user && c.email.empty())
      return invalid("email is required for a user");
    if (!c.email.empty()) {
      if (auto e = check_email(c.email)) return invalid(*e);
    }
    if (auto e = check_roles(c.roles)) return invalid(*e);
    const EventType t = c.kind == PrincipalKind::user ? EventType::user_created
                                                      : EventType::service_account_created;
    return std::vector<Draft>{draft(t, events::PrincipalCreated{c.id, c.name, c.email, c.roles})};
  }

  Result<std::vector<Draft>> operator()(const UpdatePrincipal& c) const {
    auto p = live_principal(v, c.kind, c.id);
    if (!p) return p.error();
    events::PrincipalUpdated u{c.id, {}, {}, {}};
    if (c.name && *c.name != (*p)->name) {
      if (auto e = check_name(*c.name)) return invalid(*e);
      u.name = c.name;
    }
    if (c.email && *c.email != (*p)->email) {
      if (c.email->empty() && c.kind == PrincipalKind::user)
        return invalid("email is required for a user");
      if (!c.email->empty()) {
        if (auto e = check_email(*c.email)) return invalid(*e);
      }
      u.email = c.email;
    }
    if (c.roles && *c.roles != (*p)->roles) {
      if (auto e = check_roles(*c.roles)) return invalid(*e);
      const bool keeps_admin =
          std::find(c.roles->begin(), c.roles->end(), "admin") != c.roles->end();
      if ((*p)->has_role("admin") && !keeps_admin && admins_other_than(v, c.id) == 0) {
        return make_error(Errc::conflict, "the last admin cannot lose the admin role");
      }
      u.roles = c.roles;
    }
    if (!u.name && !u.email && !u.roles) return std::vector<Draft>{};
    const EventType t = c.kind == PrincipalKind::user ? EventType::user_updated
                                                      : EventType::service_account_updated;
    return std::vector<Draft>{draft(t, std::move(u))};
  }

  Result<std::vector<Draft>> operator()(const DeletePrincipal& c) const {
    auto p = live_principal(v, c.kind, c.id);
    if (!p) return p.error();
    if ((*p)->has_role("admin") && admins_other_than(v, c.id) == 0) {
      return make_error(Errc::conflict, "the last admin cannot be deleted");
    }
    events::PrincipalDeleted d{c.id, {}};
    for (std::uint32_t pos : (*p)->keys) {
      const ApiKey& k = v.keys.at(pos);
      if (k.state != KeyState::deleted) d.keys_deactivated.push_back(k.apikey);
    }
    const EventType t = c.kind == PrincipalKind::user ? EventType::user_deleted
                                                      : EventType::service_account_deleted;
    return std::vector<Draft>{draft(t, std::move(d))};
  }

  Result<std::vector<Draft>> operator()(const ErasePrincipal& c) const {
    const Principal* p = v.principals.find(c.id);
    if (!p || p->kind != c.kind) return not_found("no " + kind_label(c.kind) + " " + c.id);
    if (p->erased_at != 0) return std::vector<Draft>{};  // done already: nothing to append
    std::vector<Draft> out;
    if (!p->deleted()) {
      auto deleted = (*this)(DeletePrincipal{c.kind, c.id});
      if (!deleted) return deleted.error();
      out = std::move(*deleted);
    }
    const bool user = c.kind == PrincipalKind::user;
    out.push_back(draft(EventType::principal_erased,
                        events::PrincipalErased{c.id, user ? "user" : "service_account"}));
    return out;
  }

  Result<std::vector<Draft>> operator()(const CreateKey& c) const {
    auto p = live_principal(v, c.kind, c.principal_id);
    if (!p) return p.error();
    if (!is_apikey(c.apikey) || v.keys.find(c.apikey))
      return make_error(Errc::internal, "bad fresh apikey");
    if (auto e = check_description(c.description)) return invalid(*e);
    const auto& s = v.settings;
    const Micros max_expiry = now + s.max_key_lifetime_days * kMicrosPerDay;
    Micros expires_at = 0;
    std::string source;
    if (c.lifetime_days && c.expires_at)
      return invalid("give lifetime_days or expires_at, not both");
    if (c.lifetime_days) {
      if (*c.lifetime_days < 1) return invalid("lifetime_days must be at least 1");
      if (*c.lifetime_days > s.max_key_lifetime_days) {
        return invalid("lifetime_days exceeds max_key_lifetime_days (" +
                       std::to_string(s.max_key_lifetime_days) + ")");
      }
      expires_at = now + *c.lifetime_days * kMicrosPerDay;
      source = "lifetime_days";
    } else if (c.expires_at) {
      if (*c.expires_at <= now) return invalid("expires_at must be in the future");
      if (*c.expires_at > max_expiry) {
        return invalid("expires_at is beyond max_key_lifetime_days (" +
                       std::to_string(s.max_key_lifetime_days) + ")");
      }
      expires_at = *c.expires_at;
      source = "expires_at";
    } else {
      expires_at =
          now + std::min(s.default_key_lifetime_days, s.max_key_lifetime_days) * kMicrosPerDay;
      source = "default";
    }
    if (c.send_email) {
      if ((*p)->email.empty()) {
        return invalid("send_email needs an email address: this " + kind_label((*p)->kind) +
                       " has none");
      }
      if (!c.mail_configured)
        return invalid("send_email needs SMTP, and this server has no smtp_url configured");
    }
    std::int64_t live = 0;
    for (std::uint32_t pos : (*p)->keys) {
      const ApiKey& k = v.keys.at(pos);
      if (k.state != KeyState::deleted && k.expires_at > now) ++live;
    }
    auto cidrs = normalize_cidrs(c.allowed_cidrs);
    if (!cidrs) return cidrs.error();
    auto roles = key_roles(**p, c.roles);
    if (!roles) return roles.error();
    auto per_minute = rate(c.rate_per_minute);
    if (!per_minute) return per_minute.error();
    if (live >= s.max_keys_per_principal) {
      return make_error(Errc::conflict, "key limit reached: max_keys_per_principal is " +
                                            std::to_string(s.max_keys_per_principal));
    }
    events::KeyCreated k;
    k.apikey = c.apikey;
    k.principal_id = c.principal_id;
    k.secret_hash = c.secret_hash;
    k.description = c.description;
    k.expires_at = expires_at;
    k.lifetime_source = source;
    k.send_email = c.send_email;
    k.allowed_cidrs = std::move(*cidrs);
    k.roles = std::move(*roles);
    k.rate_per_minute = *per_minute;
    return std::vector<Draft>{draft(EventType::key_created, std::move(k))};
  }

  Result<std::vector<Draft>> operator()(const UpdateKey& c) const {
    auto p = live_principal(v, c.kind, c.principal_id);
    if (!p) return p.error();
    auto k = live_key(v, c.principal_id, c.apikey);
    if (!k) return k.error();
    const ApiKey& key = **k;
    events::KeyUpdated u;
    u.apikey = c.apikey;
    u.principal_id = c.principal_id;
    if (c.description && *c.description != key.description) {
      if (auto e = check_description(*c.description)) return invalid(*e);
      u.old_description = key.description;
      u.description = c.description;
    }
    if (c.allowed_cidrs) {
      auto cidrs = normalize_cidrs(*c.allowed_cidrs);
      if (!cidrs) return cidrs.error();
      if (*cidrs != key.allowed_cidrs) {
        u.old_allowed_cidrs = key.allowed_cidrs;
        u.allowed_cidrs = std::move(*cidrs);
      }
    }
    if (c.roles) {
      auto roles = key_roles(**p, *c.roles);
      if (!roles) return roles.error();
      if (*roles != key.roles) {
        u.old_roles = key.roles;
        u.roles = std::move(*roles);
      }
    }
    if (c.rate_per_minute) {
      auto per_minute = rate(*c.rate_per_minute);
      if (!per_minute) return per_minute.error();
      if (*per_minute != key.rate_per_minute) {
        u.old_rate_per_minute = key.rate_per_minute;
        u.rate_per_minute = *per_minute;
      }
    }
    if (!u.description && !u.allowed_cidrs && !u.roles && !u.rate_per_minute)
      return std::vector<Draft>{};
    return std::vector<Draft>{draft(EventType::key_updated, std::move(u))};
  }

  Result<std::vector<Draft>> operator()(const ChangeKey& c) const {
    auto p = live_principal(v, c.kind, c.principal_id);
    if (!p) return p.error();
    auto found = live_key(v, c.principal_id, c.apikey);
    if (!found) return found.error();
    const ApiKey* k = *found;
    EventType t;
    switch (c.action) {
      case KeyAction::disable:
        if (k->state == KeyState::disabled) return std::vector<Draft>{};
        t = EventType::key_disabled;
        break;
      case KeyAction::enable:
        if (k->state == KeyState::active) return std::vector<Draft>{};
        t = EventType::key_enabled;
        break;
      case KeyAction::remove: t = EventType::key_deleted; break;
      default: return make_error(Errc::internal, "unknown key action");
    }
    return std::vector<Draft>{draft(t, events::KeyChanged{c.apikey, c.principal_id})};
  }

  Result<std::vector<Draft>> operator()(const ChangeSettings& c) const {
    projections::Settings next = v.settings;
    events::SettingsChanged changed;
    for (const auto& [name, value] : c.values) {
      const auto& ranges = setting_ranges();
      const auto it = std::find_if(ranges.begin(), ranges.end(),
                                   [&n = name](const auto& r) { return n == r.name; });
      if (it == ranges.end()) return invalid("unknown setting " + name);
      if (value < it->min || value > it->max) {
        return invalid(name + " must be between " + std::to_string(it->min) + " and " +
                       std::to_string(it->max));
      }
      next.set(name, value);
    }
    if (next.default_key_lifetime_days > next.max_key_lifetime_days) {
      return invalid("default_key_lifetime_days cannot exceed max_key_lifetime_days");
    }
    v.settings.each([&](const char* name, const std::int64_t& old_value) {
      const std::int64_t new_value = *next.get(name);
      if (new_value != old_value) changed.changes.push_back({name, old_value, new_value});
    });
    if (changed.changes.empty()) return std::vector<Draft>{};
    return std::vector<Draft>{draft(EventType::settings_changed, std::move(changed))};
  }

  Result<std::vector<Draft>> operator()(const RotateSigningKey& c) const {
    events::SigningKeyRotated r;
    r.kid = c.kid;
    r.alg = c.alg;
    r.public_jwk = c.public_jwk;
    if (const auto* active = v.signing.active()) {
      if (active->kid == c.kid) return invalid("the new signing key is the active one");
      r.old_kid = active->kid;
      // Every token the old key signed expires by the latest exp among them, and
      // one it is signing now by now + the current token lifetime (the lifetime
      // may have been longer when the others were issued).
      r.old_valid_until = std::max(now + v.settings.token_lifetime_seconds * kMicrosPerSecond,
                                   active->last_token_exp * kMicrosPerSecond);
    }
    return std::vector<Draft>{draft(EventType::signing_key_rotated, std::move(r))};
  }
};

}  // namespace

Result<std::vector<events::Draft>> decide(const Views& views, const Command& cmd, Micros now) {
  return std::visit(Decider{views, now}, cmd);
}

Micros locked_until(const Views& v, std::string_view apikey, std::string_view source, Micros now) {
  Micros until = v.lockouts.locked_until(projections::LockScope::source, source, now);
  if (is_apikey(apikey))
    until = std::max(until, v.lockouts.locked_until(projections::LockScope::apikey, apikey, now));
  return until;
}

int retry_after_seconds(Micros until, Micros now) {
  return static_cast<int>((until - now + kMicrosPerSecond - 1) / kMicrosPerSecond);
}

bool token_stands(const Views& v, std::string_view apikey, std::string_view principal_id,
                  std::string_view jti) {
  if (v.revoked(jti)) return false;
  const ApiKey* key = v.keys.find(apikey);
  if (!key || key->state != KeyState::active || key->principal_deleted) return false;
  const Principal& p = v.principals.at(key->principal);
  return p.id == principal_id && !p.deleted();
}

LoginDecision decide_login(const Views& v, const LoginThrottle& throttle, const LoginAttempt& a,
                           Micros now) {
  LoginDecision d;
  const bool apikey_ok = is_apikey(a.apikey);
  const std::string apikey = apikey_ok ? a.apikey : std::string();
  // Locks first: a locked address or key is refused even with the right secret.
  // The throttle's own locks may not be committed yet: they share a group
  // with the attempts after them.
  const Micros until = std::max(locked_until(v, apikey, a.source_ip, now),
                                throttle.locked_until(apikey, a.source_ip, now));
  if (until > now) {
    d.outcome = LoginOutcome::locked;
    d.retry_after_seconds = retry_after_seconds(until, now);
    d.reason = "locked";
    return d;
  }

  const ApiKey* key = apikey_ok ? v.keys.find(apikey) : nullptr;
  // Compare in constant time whether or not the key exists, so timing tells nothing.
  static const Digest kNoKey{};
  const Digest& stored = key ? key->secret_hash : kNoKey;
  const bool secret_ok =
      constant_time_equal(stored, a.presented_hash) && key != nullptr && a.well_formed;

  std::string reason;
  const Principal* owner = key ? &v.principals.at(key->principal) : nullptr;
  if (!apikey_ok || !a.well_formed) {
    reason = "malformed";
  } else if (!key) {
    reason = "unknown_key";
  } else if (!secret_ok) {
    reason = "wrong_secret";
  } else if (key->state == KeyState::deleted) {
    reason = "deleted";
  } else if (key->principal_deleted || owner->deleted()) {
    reason = "principal_deleted";
  } else if (key->state == KeyState::disabled) {
    reason = "disabled";
  } else if (now >= key->expires_at) {
    reason = "expired";
  } else if (!key->allows_source(a.source_ip)) {
    reason = "source_not_allowed";
    if (const auto address = parse_ip(a.source_ip)) {
      d.blocked_network = to_string(neighbourhood(*address));
      if (!owner->email.empty() && !key->notified(d.blocked_network, now))
        d.notify_email = owner->email;
    }
  }

  if (reason.empty() && key->rate_per_minute != 0) {
    auto r = throttle.assess_rate(apikey, key->rate_per_minute, now);
    if (!r.allowed) {
      d.outcome = LoginOutcome::rate_limited;
      d.reason = "rate_limited";
      d.retry_after_seconds = r.retry_after_seconds;
      d.throttle.rate = std::move(r.change);
      if (r.record) {
        d.events.push_back(
            draft(EventType::login_failed,
                  events::LoginFailed{apikey, owner->id, "rate_limited", r.attempts}));
      }
      return d;
    }
    d.throttle.rate = std::move(r.change);
  }

  if (reason.empty()) {
    auto rate_change = std::move(d.throttle.rate);
    d.throttle = throttle.assess_success(apikey);
    d.throttle.rate = std::move(rate_change);
    events::TokenIssued t;
    t.jti = a.jti;
    t.apikey = apikey;
    t.principal_id = owner->id;
    t.iat = now / kMicrosPerSecond;
    t.exp = t.iat + v.settings.token_lifetime_seconds;
    t.kid = a.kid;
    t.roles = effective_roles(*owner, *key);
    d.outcome = LoginOutcome::issued;
    d.claims = t;
    d.events.push_back(draft(EventType::token_issued, std::move(t)));
    return d;
  }

  d.outcome = LoginOutcome::refused;
  d.reason = reason;
  // Per-key counts only for keys that exist: made-up apikeys cost no memory.
  LoginThrottle::Verdict verdict =
      throttle.assess_failure(key ? apikey : std::string(), a.source_ip, now, v.settings);
  d.throttle = std::move(verdict.change);
  if (verdict.record) {
    events::LoginFailed f;
    f.apikey = apikey;
    f.principal_id = owner ? owner->id : std::string();
    f.reason = reason;
    f.attempts = verdict.attempts;
    d.events.push_back(draft(EventType::login_failed, std::move(f)));
  }
  if (verdict.lock_apikey_until) {
    d.events.push_back(
        draft(EventType::login_locked,
              events::LoginLocked{events::LockScope::apikey, apikey, *verdict.lock_apikey_until,
                                  verdict.apikey_failures}));
  }
  if (verdict.lock_source_until) {
    d.events.push_back(
        draft(EventType::login_locked,
              events::LoginLocked{events::LockScope::source, a.source_ip,
                                  *verdict.lock_source_until, verdict.source_failures}));
  }
  return d;
}

std::vector<std::string> effective_roles(const Principal& owner, const ApiKey& key) {
  if (key.roles.empty()) return owner.roles;
  std::vector<std::string> out;
  for (const auto& r : owner.roles) {
    if (std::find(key.roles.begin(), key.roles.end(), r) != key.roles.end()) out.push_back(r);
  }
  return out;
}

Result<std::vector<std::string>> normalize_cidrs(const std::vector<std::string>& cidrs) {
  if (cidrs.size() > kMaxAllowedCidrs) {
    return invalid("allowed_cidrs holds " + std::to_string(cidrs.size()) + " networks; at most " +
                   std::to_string(kMaxAllowedCidrs));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < cidrs.size(); ++i) {
    const auto n = parse_network(cidrs[i]);
    if (!n) {
      // The value itself is not echoed: what was pasted there may be anything.
      return invalid("allowed_cidrs[" + std::to_string(i) +
                     "] is not an IPv4 or IPv6 network (such as 192.0.2.0/24, 2001:db8::/32 or "
                     "an address)");
    }
    std::string text = to_string(*n);
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
  }
  return out;
}

std::optional<std::string> check_name(std::string_view name) {
  if (name.empty() || std::all_of(name.begin(), name.end(), [](char c) { return c == ' '; })) {
    return "name must not be empty";
  }
  if (name.size() > 200) return "name is longer than 200 bytes";
  if (has_control(name)) return "name must not contain control characters";
  return std::nullopt;
}

std::optional<std::string> check_email(std::string_view email) {
  if (email.size() > 254) return "email is longer than 254 bytes";
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 ||
      email.find('@', at + 1) != std::string_view::npos) {
    return "email is not an address";
  }
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  static constexpr std::string_view kLocal = ".!#$%&'*+/=?^_`{|}~-";
  for (char c : local) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && kLocal.find(c) == std::string_view::npos) {
      return "email is not an address";
    }
  }
  if (domain.empty() || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return "email is not an address";
  }
  for (char c : domain) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-')
      return "email is not an address";
  }
  return std::nullopt;
}

std::optional<std::string> check_roles(const std::vector<std::string>& roles) {
  if (roles.size() > 16) return "at most 16 roles";
  for (const auto& r : roles) {
    if (r.empty() || r.size() > 64) return "a role is 1 to 64 characters";
    for (char c : r) {
      if (!std::islower(static_cast<unsigned char>(c)) &&
          !std::isdigit(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
          c != ':') {
        return "a role has only a-z, 0-9 and _ - . :";
      }
    }
  }
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (std::find(roles.begin() + static_cast<long>(i) + 1, roles.end(), roles[i]) != roles.end()) {
      return "a role is listed twice";
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_description(std::string_view description) {
  if (description.size() > 500) return "description is longer than 500 bytes";
  if (has_control(description)) return "description must not contain control characters";
  return std::nullopt;
}

const std::vector<SettingRange>& setting_ranges() {
  static const std::vector<SettingRange> ranges = {
      {"default_key_lifetime_days", 1, 36500},
      {"max_key_lifetime_days", 1, 36500},
      {"token_lifetime_seconds", 60, 7 * 86400},
      {"max_keys_per_principal", 1, 1000},
      {"lockout_threshold", 1, 1000},
      {"lockout_source_threshold", 1, 1000000},
      {"lockout_window_seconds", 1, 86400},
      {"lockout_duration_seconds", 1, 7 * 86400},
      {"expiry_reminder_days", 0, 365},
  };
  return ranges;
}

}  // namespace latchkey::domain
