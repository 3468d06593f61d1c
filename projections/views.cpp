#include "projections/views.h"

#include <algorithm>
#include <cctype>

#include "events/binary.h"
#include "events/personal.h"

namespace latchkey::projections {
namespace {

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  const auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                              [](char a, char b) {
                                return std::tolower(static_cast<unsigned char>(a)) ==
                                       std::tolower(static_cast<unsigned char>(b));
                              });
  return it != haystack.end();
}

}  // namespace

const char* kind_name(PrincipalKind k) noexcept {
  return k == PrincipalKind::user ? "user" : "service_account";
}

const char* status_name(KeyStatus s) noexcept {
  switch (s) {
    case KeyStatus::active: return "active";
    case KeyStatus::expired: return "expired";
    case KeyStatus::disabled: return "disabled";
    case KeyStatus::deleted: return "deleted";
  }
  return "unknown";
}

bool Principal::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

KeyStatus ApiKey::status(Micros now) const {
  if (state == KeyState::deleted || principal_deleted) return KeyStatus::deleted;
  if (state == KeyState::disabled) return KeyStatus::disabled;
  if (now >= expires_at) return KeyStatus::expired;
  return KeyStatus::active;
}

void ApiKey::set_allowed_cidrs(std::vector<std::string> cidrs) {
  networks.clear();
  for (const auto& c : cidrs) {
    if (auto n = parse_network(c)) networks.push_back(*n);
  }
  allowed_cidrs = std::move(cidrs);
}

bool ApiKey::allows_source(std::string_view source) const {
  if (allowed_cidrs.empty()) return true;
  const auto address = parse_ip(source);
  return address && contains_any(networks, *address);
}

bool ApiKey::notified(std::string_view network, Micros now) const {
  return notified_day == now / kMicrosPerDay &&
         std::find(notified_networks.begin(), notified_networks.end(), network) !=
             notified_networks.end();
}

// ---- PrincipalView ----
const Principal* PrincipalView::find(std::string_view id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &all_[it->second];
}

Principal* PrincipalView::find_mut(std::string_view id) {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &all_[it->second];
}

std::optional<std::uint32_t> PrincipalView::position(std::string_view id) const {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

Principal& PrincipalView::add(Principal p) {
  const auto pos = static_cast<std::uint32_t>(all_.size());
  all_.push_back(std::move(p));
  by_id_.emplace(all_.back().id, pos);
  return all_.back();
}

PrincipalView::Page PrincipalView::list(PrincipalKind kind, std::string_view search,
                                        std::int64_t after, std::size_t limit) const {
  Page page;
  const std::size_t start = after < 0 ? 0 : static_cast<std::size_t>(after) + 1;
  std::uint32_t last = 0;
  for (std::size_t i = start; i < all_.size(); ++i) {
    const Principal& p = all_[i];
    if (p.kind != kind || p.deleted()) continue;
    if (!icontains(p.name, search) && !icontains(p.email, search)) continue;
    if (page.items.size() == limit) {
      page.next = last;  // the position of the last item returned
      return page;
    }
    page.items.push_back(&p);
    last = static_cast<std::uint32_t>(i);
  }
  return page;
}

// ---- KeyView ----
const ApiKey* KeyView::find(std::string_view apikey) const {
  const auto it = by_apikey_.find(apikey);
  return it == by_apikey_.end() ? nullptr : &all_[it->second];
}

ApiKey* KeyView::find_mut(std::string_view apikey) {
  const auto it = by_apikey_.find(apikey);
  return it == by_apikey_.end() ? nullptr : &all_[it->second];
}

std::optional<std::uint32_t> KeyView::position(std::string_view apikey) const {
  const auto it = by_apikey_.find(apikey);
  if (it == by_apikey_.end()) return std::nullopt;
  return it->second;
}

ApiKey& KeyView::add(ApiKey k) {
  const auto pos = static_cast<std::uint32_t>(all_.size());
  all_.push_back(std::move(k));
  by_apikey_.emplace(all_.back().apikey, pos);
  return all_.back();
}

// ---- Settings ----
std::optional<std::int64_t> Settings::get(std::string_view name) const {
  std::optional<std::int64_t> out;
  each([&](const char* n, const std::int64_t& v) {
    if (name == n) out = v;
  });
  return out;
}

bool Settings::set(std::string_view name, std::int64_t value) {
  bool found = false;
  each([&](const char* n, std::int64_t& v) {
    if (name == n) {
      v = value;
      found = true;
    }
  });
  return found;
}

// ---- SigningKeyView ----
const PublishedKey* SigningKeyView::find(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

std::vector<const PublishedKey*> SigningKeyView::published(Micros now) const {
  std::vector<const PublishedKey*> out;
  for (const auto& k : keys_) {
    if (k.retired_at == 0 || k.valid_until > now) out.push_back(&k);
  }
  return out;
}

// ---- LockoutView ----
namespace {
std::string lock_key(LockScope scope, std::string_view subject) {
  std::string k(events::scope_name(scope));
  k.push_back('\x1f');
  k.append(subject);
  return k;
}
}  // namespace

Micros LockoutView::locked_until(LockScope scope, std::string_view subject, Micros now) const {
  const auto it = locks_.find(lock_key(scope, subject));
  if (it == locks_.end() || it->second <= now) return 0;
  return it->second;
}

void LockoutView::lock(LockScope scope, std::string_view subject, Micros until, Micros now) {
  std::erase_if(locks_, [&](const auto& kv) { return kv.second <= now; });
  locks_[lock_key(scope, subject)] = until;
}

// ---- apply ----
namespace {

struct Applier {
  Views& v;
  const events::Event& e;

  void operator()(const events::SystemInitialized&) {}

  void operator()(const events::PrincipalCreated& d) {
    if (v.principals.find(d.id)) return;
    Principal p;
    p.id = d.id;
    p.kind = e.type == events::EventType::user_created ? PrincipalKind::user
                                                       : PrincipalKind::service_account;
    p.name = d.name;
    p.email = d.email;
    p.roles = d.roles;
    p.created_at = e.time;
    p.updated_at = e.time;
    p.created_by = e.context.actor;
    v.principals.add(std::move(p));
  }

  void operator()(const events::PrincipalUpdated& d) {
    Principal* p = v.principals.find_mut(d.id);
    if (!p) return;
    if (d.name) p->name = *d.name;
    if (d.email) p->email = *d.email;
    if (d.roles) p->roles = *d.roles;
    p->updated_at = e.time;
  }

  void operator()(const events::PrincipalDeleted& d) {
    Principal* p = v.principals.find_mut(d.id);
    if (!p) return;
    p->deleted_at = e.time;
    p->updated_at = e.time;
    for (std::uint32_t k : p->keys) v.keys.at_mut(k).principal_deleted = true;
  }

  void operator()(const events::KeyCreated& d) {
    const auto owner = v.principals.position(d.principal_id);
    if (!owner || v.keys.find(d.apikey)) return;
    ApiKey k;
    k.apikey = d.apikey;
    k.principal = *owner;
    k.description = d.description;
    k.secret_hash = d.secret_hash;
    k.created_at = e.time;
    k.expires_at = d.expires_at;
    k.set_allowed_cidrs(d.allowed_cidrs);
    k.roles = d.roles;
    k.rate_per_minute = d.rate_per_minute;
    const auto pos = static_cast<std::uint32_t>(v.keys.size());
    v.keys.add(std::move(k));
    v.principals.at_mut(*owner).keys.push_back(pos);
  }

  void operator()(const events::KeyUpdated& d) {
    ApiKey* k = v.keys.find_mut(d.apikey);
    if (!k) return;
    if (d.description) k->description = *d.description;
    if (d.allowed_cidrs) k->set_allowed_cidrs(*d.allowed_cidrs);
    if (d.roles) k->roles = *d.roles;
    if (d.rate_per_minute) k->rate_per_minute = *d.rate_per_minute;
  }

  void operator()(const events::KeyChanged& d) {
    ApiKey* k = v.keys.find_mut(d.apikey);
    if (!k) return;
    switch (e.type) {
      case events::EventType::key_disabled: k->state = KeyState::disabled; break;
      case events::EventType::key_enabled: k->state = KeyState::active; break;
      case events::EventType::key_deleted: k->state = KeyState::deleted; break;
      default: return;
    }
    k->changed_at = e.time;
  }

  void operator()(const events::TokenIssued& d) {
    // A retired key stays published until the last token it signed expires.
    for (auto& k : v.signing.all_mut()) {
      if (k.kid == d.kid) k.last_token_exp = std::max(k.last_token_exp, d.exp);
    }
    const auto pos = v.keys.position(d.apikey);
    if (!pos) return;
    v.keys.at_mut(*pos).last_used_at = e.time;
  }

  void operator()(const events::LoginFailed&) {}

  void operator()(const events::LoginLocked& d) {
    v.lockouts.lock(d.scope, d.subject, d.until, e.time);
  }

  void operator()(const events::SettingsChanged& d) {
    for (const auto& c : d.changes) v.settings.set(c.name, c.new_value);
    v.longest_token_lifetime_seconds =
        std::max(v.longest_token_lifetime_seconds, v.settings.token_lifetime_seconds);
  }

  void operator()(const events::EmailOutcome& d) {
    if (e.type != events::EventType::email_sent) return;
    ApiKey* k = v.keys.find_mut(d.apikey);
    if (!k) return;
    if (d.kind == "expiry_reminder") {
      k->reminded_at = e.time;
    } else if (d.kind == "blocked_use") {
      const std::int64_t day = e.time / kMicrosPerDay;
      if (k->notified_day != day) {
        k->notified_day = day;
        k->notified_networks.clear();
      }
      if (!k->notified(d.network, e.time)) k->notified_networks.push_back(d.network);
    }
  }

  void operator()(const events::SigningKeyRotated& d) {
    for (auto& k : v.signing.all_mut()) {
      if (k.retired_at == 0 && k.kid != d.kid) {
        k.retired_at = e.time;
        k.valid_until = d.old_valid_until;
      }
    }
    v.signing.all_mut().push_back(PublishedKey{d.kid, d.alg, d.public_jwk, e.time, 0, 0});
  }

  void operator()(const events::AuditRead&) {}

  void operator()(const events::Checkpoint&) { v.last_checkpoint = e.seq; }
  // The log's own life: the views are the same before and after a cut.
  void operator()(const events::LogCut&) {}
  // The platform's registry of projects is projections/projects.h.
  void operator()(const events::ProjectChanged&) {}

  void operator()(const events::PrincipalErased& d) {
    Principal* p = v.principals.find_mut(d.id);
    if (!p) return;
    erase_personal_data(v, d.id);
    p->erased_at = e.time;
    p->updated_at = e.time;
  }

  void operator()(const events::TokenRevoked& d) {
    // Pruned by the event's own time: a token past its exp is refused anyway.
    const std::int64_t now_s = e.time / kMicrosPerSecond;
    std::erase_if(v.revoked_tokens, [&](const auto& kv) { return kv.second <= now_s; });
    if (d.exp > now_s) v.revoked_tokens[d.jti] = d.exp;
  }
};

}  // namespace

void apply(Views& v, const events::Event& e) {
  std::visit(Applier{v, e}, e.data);
  v.seq = e.seq;
  v.time = e.time;
  v.hash = e.hash;
}

// ---- jti ----
// Runs once per token.issued when views are rebuilt: decoded in place.

bool erase_personal_data(Views& v, std::string_view principal_id) {
  Principal* p = v.principals.find_mut(principal_id);
  if (!p) return false;
  bool changed = false;
  auto erase = [&](std::string& field) {
    if (field.empty() || field == events::kErased) return;
    field = events::kErased;
    changed = true;
  };
  // What the log shows for them once their key is gone.
  erase(p->name);
  erase(p->email);
  for (std::uint32_t k : p->keys) erase(v.keys.at_mut(k).description);
  return changed;
}

// ---- snapshot ----
namespace {
// 2: a signing key's last_token_exp. 3: no live tokens; the longest token
// lifetime. 4: keys' limits and blocked-use notices. 5: revoked tokens. 6: a
// principal's erased_at. A
// snapshot of another format is skipped (the views are rebuilt from the log).
constexpr std::uint8_t kSnapshotFormat = 6;

void write_strings(bin::Writer& w, const std::vector<std::string>& list) {
  w.varint(list.size());
  for (const auto& s : list) w.bytes(s);
}

std::vector<std::string> read_strings(bin::Reader& r) {
  std::vector<std::string> out;
  const std::uint64_t n = r.varint();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) out.emplace_back(r.bytes());
  return out;
}
}  // namespace

std::string snapshot(const Views& v) {
  bin::Writer w;
  w.reserve(64 + v.keys.size() * 160);
  w.u8(kSnapshotFormat);
  w.varint(v.seq);
  w.svarint(v.time);
  w.digest(v.hash);
  w.varint(v.last_checkpoint);
  w.svarint(v.longest_token_lifetime_seconds);
  std::size_t n = 0;
  v.settings.each([&](const char*, const std::int64_t&) { ++n; });
  w.varint(n);
  v.settings.each([&](const char* name, const std::int64_t& value) {
    w.bytes(name);
    w.svarint(value);
  });
  w.varint(v.principals.size());
  for (const Principal& p : v.principals.all()) {
    w.bytes(p.id);
    w.u8(static_cast<std::uint8_t>(p.kind));
    w.bytes(p.name);
    w.bytes(p.email);
    w.varint(p.roles.size());
    for (const auto& r : p.roles) w.bytes(r);
    w.svarint(p.created_at);
    w.svarint(p.updated_at);
    w.svarint(p.deleted_at);
    w.bytes(p.created_by);
    w.svarint(p.erased_at);
  }
  w.varint(v.keys.size());
  for (const ApiKey& k : v.keys.all()) {
    w.bytes(k.apikey);
    w.varint(k.principal);
    w.bytes(k.description);
    w.digest(k.secret_hash);
    w.svarint(k.created_at);
    w.svarint(k.expires_at);
    w.svarint(k.last_used_at);
    w.svarint(k.reminded_at);
    w.svarint(k.changed_at);
    w.u8(static_cast<std::uint8_t>(k.state));
    w.u8(k.principal_deleted ? 1 : 0);
    write_strings(w, k.allowed_cidrs);
    write_strings(w, k.roles);
    w.varint(k.rate_per_minute);
    w.svarint(k.notified_day);
    write_strings(w, k.notified_networks);
  }
  w.varint(v.signing.all().size());
  for (const PublishedKey& k : v.signing.all()) {
    w.bytes(k.kid);
    w.bytes(k.alg);
    w.bytes(k.public_jwk);
    w.svarint(k.created_at);
    w.svarint(k.retired_at);
    w.svarint(k.valid_until);
    w.svarint(k.last_token_exp);
  }
  std::vector<std::pair<std::string, Micros>> locks(v.lockouts.all().begin(),
                                                    v.lockouts.all().end());
  std::sort(locks.begin(), locks.end());
  w.varint(locks.size());
  for (const auto& [k, until] : locks) {
    w.bytes(k);
    w.svarint(until);
  }
  std::vector<std::pair<std::string, std::int64_t>> revoked(v.revoked_tokens.begin(),
                                                            v.revoked_tokens.end());
  std::sort(revoked.begin(), revoked.end());
  w.varint(revoked.size());
  for (const auto& [jti, exp] : revoked) {
    w.bytes(jti);
    w.svarint(exp);
  }
  return w.take();
}

Result<Views> restore(std::string_view bytes) {
  bin::Reader r(bytes);
  Views v;
  auto bad = [] { return make_error(Errc::corruption, "malformed view snapshot"); };
  if (r.u8() != kSnapshotFormat) return bad();
  v.seq = r.varint();
  v.time = r.svarint();
  v.hash = r.digest();
  v.last_checkpoint = r.varint();
  v.longest_token_lifetime_seconds = r.svarint();
  const std::uint64_t nsettings = r.varint();
  for (std::uint64_t i = 0; i < nsettings && r.ok(); ++i) {
    const std::string name(r.bytes());
    v.settings.set(name, r.svarint());
  }
  const std::uint64_t np = r.varint();
  for (std::uint64_t i = 0; i < np && r.ok(); ++i) {
    Principal p;
    p.id.assign(r.bytes());
    p.kind = static_cast<PrincipalKind>(r.u8() & 1);
    p.name.assign(r.bytes());
    p.email.assign(r.bytes());
    const std::uint64_t nroles = r.varint();
    for (std::uint64_t j = 0; j < nroles && r.ok(); ++j) p.roles.emplace_back(r.bytes());
    p.created_at = r.svarint();
    p.updated_at = r.svarint();
    p.deleted_at = r.svarint();
    p.created_by.assign(r.bytes());
    p.erased_at = r.svarint();
    if (!r.ok() || v.principals.find(p.id)) return bad();  // ids are unique
    v.principals.add(std::move(p));
  }
  const std::uint64_t nk = r.varint();
  for (std::uint64_t i = 0; i < nk && r.ok(); ++i) {
    ApiKey k;
    k.apikey.assign(r.bytes());
    k.principal = static_cast<std::uint32_t>(r.varint());
    k.description.assign(r.bytes());
    k.secret_hash = r.digest();
    k.created_at = r.svarint();
    k.expires_at = r.svarint();
    k.last_used_at = r.svarint();
    k.reminded_at = r.svarint();
    k.changed_at = r.svarint();
    k.state = static_cast<KeyState>(std::min<std::uint8_t>(r.u8(), 2));
    k.principal_deleted = r.u8() != 0;
    k.set_allowed_cidrs(read_strings(r));
    k.roles = read_strings(r);
    k.rate_per_minute = r.varint();
    k.notified_day = r.svarint();
    k.notified_networks = read_strings(r);
    if (!r.ok() || k.principal >= v.principals.size() || v.keys.find(k.apikey)) return bad();
    const auto pos = static_cast<std::uint32_t>(v.keys.size());
    v.principals.at_mut(k.principal).keys.push_back(pos);
    v.keys.add(std::move(k));
  }
  const std::uint64_t ns = r.varint();
  for (std::uint64_t i = 0; i < ns && r.ok(); ++i) {
    PublishedKey k;
    k.kid.assign(r.bytes());
    k.alg.assign(r.bytes());
    k.public_jwk.assign(r.bytes());
    k.created_at = r.svarint();
    k.retired_at = r.svarint();
    k.valid_until = r.svarint();
    k.last_token_exp = r.svarint();
    v.signing.all_mut().push_back(std::move(k));
  }
  const std::uint64_t nl = r.varint();
  for (std::uint64_t i = 0; i < nl && r.ok(); ++i) {
    std::string k(r.bytes());
    v.lockouts.all_mut()[std::move(k)] = r.svarint();
  }
  const std::uint64_t nr = r.varint();
  for (std::uint64_t i = 0; i < nr && r.ok(); ++i) {
    std::string jti(r.bytes());
    v.revoked_tokens[std::move(jti)] = r.svarint();
  }
  if (!r.ok() || !r.at_end()) return bad();
  return v;
}

}  // namespace latchkey::projections
