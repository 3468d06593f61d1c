#include "bench/datagen.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <random>

#include "base/signing.h"
#include "keys/ids.h"
#include "replay/rebuild.h"

namespace latchkey::bench {
namespace {

using events::Draft;
using events::EventType;
using events::RequestContext;

constexpr std::uint64_t kCheckpointEvery = 10'000;

std::string hex_of(std::uint64_t a, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(a));
  return std::string(buf, static_cast<std::size_t>(digits));
}

class Generator {
 public:
  Generator(events::EventLog& log, const GenOptions& o)
      : log_(log), o_(o), rng_(o.seed), signer_(SigningKey::generate(SignAlg::es256)) {
    for (int i = 0; i < 400; ++i) {
      sources_.push_back("10." + std::to_string(i / 200) + "." + std::to_string((i * 37) % 256) +
                         "." + std::to_string(1 + (i * 101) % 254));
    }
    per_event_ = o_.events ? std::max<Micros>(1, o_.span / static_cast<Micros>(o_.events)) : 1;
  }

  Result<GenResult> run() {
    if (o_.snapshot_every) {
      snapshotter_ = std::make_unique<replay::Snapshotter>(log_, UINT64_MAX / 2, nullptr);
    }
    // Bootstrap, as `latchkey init` writes it.
    if (auto st = push(EventType::system_initialized,
                       events::SystemInitialized{hex_of(rng_(), 16), 1}, system());
        !st)
      return st.error();
    if (auto st = push(
            EventType::signing_key_rotated,
            events::SigningKeyRotated{signer_.kid(), "ES256", signer_.public_key().jwk(), "", 0},
            system());
        !st)
      return st.error();
    auto admin = new_principal(true, {"admin"}, system());
    if (!admin) return admin.error();
    admin_ = *admin;
    const std::uint64_t upfront = o_.keys * 8 / 10;
    for (std::uint64_t i = 0; i < upfront; ++i) {
      if (auto st = create_key(system()); !st) return st.error();
    }
    // The mix. Keys still to create are spread evenly over the rest. Admin
    // churn is sized by the population, not by the log's length: over the
    // whole log about 20% of the principals are renamed, 15% of the keys
    // disabled or enabled, 10% of the keys and 3% of the principals deleted,
    // and the settings change 50 times.
    const std::uint64_t remaining = o_.events > written() ? o_.events - written() : 1;
    const double n = static_cast<double>(remaining);
    const double keys = static_cast<double>(o_.keys);
    const double principals = keys / static_cast<double>(o_.keys_per_principal);
    enum Action {
      kCreateKey,
      kUpdate,
      kToggle,
      kDeleteKey,
      kDeletePrincipal,
      kSettings,
      kLock,
      kAuditRead,
      kLoginFailed
    };
    const std::pair<double, Action> mix[] = {
        {(keys - static_cast<double>(upfront)) / n, kCreateKey},
        {0.20 * principals / n, kUpdate},
        {0.15 * keys / n, kToggle},
        {0.10 * keys / n, kDeleteKey},
        {0.03 * principals / n, kDeletePrincipal},
        {50 / n, kSettings},
        {0.0002, kLock},
        {0.01, kAuditRead},
        {0.04, kLoginFailed},
    };
    std::uniform_real_distribution<double> u(0, 1);
    while (written() < o_.events) {
      double r = u(rng_);
      Status st;
      std::optional<Action> action;
      for (const auto& [p, a] : mix) {
        if (r < p) {
          action = a;
          break;
        }
        r -= p;
      }
      switch (action.value_or(kLoginFailed)) {
        case kCreateKey:
          st = keys_.size() < o_.keys ? create_key(admin_ctx()) : token_issued();
          break;
        case kUpdate: st = update_principal(); break;
        case kToggle: st = toggle_key(); break;
        case kDeleteKey: st = delete_key(); break;
        case kDeletePrincipal: st = delete_principal(); break;
        case kSettings: st = change_settings(); break;
        case kLock:
          st = push(EventType::login_locked,
                    events::LoginLocked{events::LockScope::source, pick_source(),
                                        now() + 900 * kMicrosPerSecond, 20},
                    system());
          break;
        case kAuditRead:
          st = push(EventType::audit_read,
                    events::AuditRead{"audit", "apikey=" + pick_key_name() + "&limit=100", 100},
                    admin_ctx());
          break;
        case kLoginFailed: st = action ? login_failed() : token_issued(); break;
      }
      if (!st) return st.error();
    }
    if (auto st = flush(); !st) return st.error();
    if (snapshotter_) {
      if (auto st = snapshotter_->snapshot_now(); !st) return st.error();
      if (log_.head().seq > last_snapshot_) ++result_.snapshots;
      snapshotter_->stop();
    }
    result_.head = log_.head().seq;
    return result_;
  }

 private:
  struct Principal {
    std::string id;
    bool service_account = false;
    bool deleted = false;
    std::vector<std::uint32_t> keys;
  };
  struct Key {
    std::string apikey;
    std::uint32_t principal = 0;
    int state = 0;  // 0 active, 1 disabled, 2 deleted
  };

  std::uint64_t written() const { return committed_ + pending_.size(); }
  Micros now() const { return o_.start + static_cast<Micros>(written()) * per_event_; }

  RequestContext system() {
    return RequestContext{"system", hex_of(rng_(), 16) + hex_of(rng_(), 16), ""};
  }
  RequestContext admin_ctx() {
    return RequestContext{principals_[admin_].id, hex_of(rng_(), 16) + hex_of(rng_(), 16),
                          "192.168.1.10"};
  }
  RequestContext anonymous() {
    return RequestContext{"anonymous", hex_of(rng_(), 16) + hex_of(rng_(), 16), pick_source()};
  }
  const std::string& pick_source() { return sources_[rng_() % sources_.size()]; }

  Status push(EventType type, events::Data data, RequestContext ctx) {
    ++result_.by_type[events::type_name(type)];
    pending_.push_back(Draft{type, std::move(data), std::move(ctx)});
    if (pending_.size() >= o_.batch) return flush();
    return {};
  }

  Status flush() {
    if (pending_.empty()) return {};
    const Micros t = o_.start + static_cast<Micros>(committed_) * per_event_;
    auto r = log_.append(pending_, t);
    if (!r) return r.error();
    committed_ += pending_.size();
    pending_.clear();
    if (o_.progress) o_.progress(log_.head().seq);
    if (committed_ - last_checkpoint_ >= kCheckpointEvery) {
      const events::Head head = log_.head();
      events::Checkpoint cp;
      cp.head_seq = head.seq;
      cp.head_hash = head.hash;
      cp.kid = signer_.kid();
      cp.alg = "ES256";
      cp.signature =
          base64url_encode(signer_.sign(events::checkpoint_message(head.seq, head.hash)));
      ++result_.by_type["checkpoint"];
      const std::vector<Draft> one{Draft{EventType::checkpoint, std::move(cp), {}}};
      auto c = log_.append(one, t);
      if (!c) return c.error();
      ++committed_;
      last_checkpoint_ = committed_;
    }
    if (snapshotter_ && log_.head().seq >= last_snapshot_ + o_.snapshot_every) {
      if (auto st = snapshotter_->snapshot_now(); !st) return st.error();
      last_snapshot_ = log_.head().seq;
      ++result_.snapshots;
    }
    return {};
  }

  Result<std::uint32_t> new_principal(bool service_account, std::vector<std::string> roles,
                                      RequestContext ctx) {
    Principal p;
    p.service_account = service_account;
    p.id = (service_account ? "sa_" : "usr_") + hex_of(rng_(), 16);
    const auto n = static_cast<std::uint32_t>(principals_.size());
    const std::string name = (service_account ? "svc-pipeline-" : "user ") + std::to_string(n);
    const std::string email =
        service_account && n % 3 ? "" : "person" + std::to_string(n) + "@example.com";
    principals_.push_back(p);
    auto st = push(service_account ? EventType::service_account_created : EventType::user_created,
                   events::PrincipalCreated{p.id, name, email, std::move(roles)}, std::move(ctx));
    if (!st) return st.error();
    return n;
  }

  Status create_key(RequestContext ctx) {
    if (current_ == UINT32_MAX || principals_[current_].deleted ||
        principals_[current_].keys.size() >= o_.keys_per_principal) {
      auto p = new_principal(rng_() % 100 < 15, {}, ctx);
      if (!p) return p.error();
      current_ = *p;
    }
    Key k;
    k.apikey = "lk_" + hex_of(rng_(), 16) + hex_of(rng_(), 8);
    k.principal = current_;
    events::KeyCreated d;
    d.apikey = k.apikey;
    d.principal_id = principals_[current_].id;
    for (std::size_t i = 0; i < d.secret_hash.size(); i += 8) {
      const std::uint64_t v = rng_();
      std::memcpy(d.secret_hash.data() + i, &v, 8);
    }
    d.description = keys_.size() % 4 ? "deploy key " + std::to_string(keys_.size()) : "";
    d.expires_at = now() + 90 * kMicrosPerDay;
    d.lifetime_source = "default";
    const auto pos = static_cast<std::uint32_t>(keys_.size());
    principals_[current_].keys.push_back(pos);
    keys_.push_back(std::move(k));
    return push(EventType::key_created, std::move(d), std::move(ctx));
  }

  // A key index; 80% of picks go to a hot tenth of the keys.
  std::uint32_t pick_key() {
    const auto n = keys_.size();
    const auto hot = std::max<std::size_t>(1, n / 10);
    return static_cast<std::uint32_t>(rng_() % 100 < 80 ? rng_() % hot : rng_() % n);
  }
  std::string pick_key_name() { return keys_.empty() ? "" : keys_[pick_key()].apikey; }

  bool usable(const Key& k) const { return k.state == 0 && !principals_[k.principal].deleted; }

  Status token_issued() {
    for (int attempt = 0; attempt < 16; ++attempt) {
      const Key& k = keys_[pick_key()];
      if (!usable(k)) continue;
      const Principal& p = principals_[k.principal];
      events::TokenIssued t;
      t.jti = hex_of(rng_(), 16) + hex_of(rng_(), 16);
      t.apikey = k.apikey;
      t.principal_id = p.id;
      t.iat = now() / kMicrosPerSecond;
      t.exp = t.iat + token_lifetime_;
      t.kid = signer_.kid();
      return push(EventType::token_issued, std::move(t), anonymous());
    }
    return login_failed();
  }

  Status login_failed() {
    events::LoginFailed f;
    if (rng_() % 4 == 0) {
      f.apikey = "lk_" + hex_of(rng_(), 16) + hex_of(rng_(), 8);
      f.reason = "unknown_key";
    } else {
      const Key& k = keys_[pick_key()];
      f.apikey = k.apikey;
      f.principal_id = principals_[k.principal].id;
      f.reason = usable(k) ? "wrong_secret" : (k.state == 1 ? "disabled" : "deleted");
    }
    return push(EventType::login_failed, std::move(f), anonymous());
  }

  Status update_principal() {
    const auto i = static_cast<std::uint32_t>(rng_() % principals_.size());
    Principal& p = principals_[i];
    if (p.deleted || i == admin_) return token_issued();
    events::PrincipalUpdated u;
    u.id = p.id;
    u.name = std::string(p.service_account ? "svc-renamed-" : "renamed user ") + std::to_string(i);
    return push(p.service_account ? EventType::service_account_updated : EventType::user_updated,
                std::move(u), admin_ctx());
  }

  Status toggle_key() {
    Key& k = keys_[pick_key()];
    if (k.state == 2 || principals_[k.principal].deleted) return token_issued();
    k.state = k.state == 0 ? 1 : 0;
    return push(k.state == 1 ? EventType::key_disabled : EventType::key_enabled,
                events::KeyChanged{k.apikey, principals_[k.principal].id}, admin_ctx());
  }

  Status delete_key() {
    Key& k = keys_[rng_() % keys_.size()];
    if (k.state == 2 || principals_[k.principal].deleted) return token_issued();
    k.state = 2;
    return push(EventType::key_deleted, events::KeyChanged{k.apikey, principals_[k.principal].id},
                admin_ctx());
  }

  Status delete_principal() {
    const auto i = static_cast<std::uint32_t>(rng_() % principals_.size());
    Principal& p = principals_[i];
    if (p.deleted || i == admin_ || i == current_) return token_issued();
    p.deleted = true;
    events::PrincipalDeleted d;
    d.id = p.id;
    for (auto k : p.keys) {
      if (keys_[k].state != 2) d.keys_deactivated.push_back(keys_[k].apikey);
    }
    return push(p.service_account ? EventType::service_account_deleted : EventType::user_deleted,
                std::move(d), admin_ctx());
  }

  Status change_settings() {
    const std::int64_t next = token_lifetime_ == 3600 ? 1800 : 3600;
    events::SettingsChanged s;
    s.changes.push_back(events::SettingChange{"token_lifetime_seconds", token_lifetime_, next});
    token_lifetime_ = next;
    return push(EventType::settings_changed, std::move(s), admin_ctx());
  }

  events::EventLog& log_;
  GenOptions o_;
  std::mt19937_64 rng_;
  SigningKey signer_;
  std::unique_ptr<replay::Snapshotter> snapshotter_;
  Micros per_event_ = 1;
  std::vector<std::string> sources_;
  std::vector<Principal> principals_;
  std::vector<Key> keys_;
  std::uint32_t admin_ = 0;
  std::uint32_t current_ = UINT32_MAX;
  std::int64_t token_lifetime_ = 3600;
  std::vector<Draft> pending_;
  std::uint64_t committed_ = 0;
  std::uint64_t last_checkpoint_ = 0;
  events::Seq last_snapshot_ = 0;
  GenResult result_;
};

}  // namespace

Result<GenResult> generate_log(events::EventLog& log, const GenOptions& options) {
  if (options.keys == 0 || options.keys_per_principal == 0 || options.keys_per_principal > 10 ||
      options.batch == 0) {
    return make_error(Errc::invalid_request,
                      "generate_log: keys, keys_per_principal (1..10) and "
                      "batch must be positive");
  }
  Generator g(log, options);
  return g.run();
}

Result<std::vector<IssuedKey>> add_login_keys(events::EventLog& log, const keys::Pepper& pepper,
                                              std::uint64_t principals,
                                              std::uint64_t keys_per_principal, Micros now,
                                              std::uint64_t allowed_cidrs) {
  // N networks that miss the loopback address, then 127.0.0.0/8: each login
  // looks through all of them.
  std::vector<std::string> cidrs;
  for (std::uint64_t i = 1; i < allowed_cidrs; ++i)
    cidrs.push_back("10." + std::to_string(i % 256) + ".0.0/16");
  if (allowed_cidrs > 0) cidrs.push_back("127.0.0.0/8");
  std::vector<IssuedKey> out;
  out.reserve(principals * keys_per_principal);
  std::vector<Draft> batch;
  const RequestContext ctx{"system", keys::new_request_id(), ""};
  auto flush = [&]() -> Status {
    if (batch.empty()) return {};
    auto r = log.append(batch, now);
    batch.clear();
    if (!r) return r.error();
    return {};
  };
  for (std::uint64_t i = 0; i < principals; ++i) {
    const std::string id = keys::new_user_id();
    batch.push_back(Draft{
        EventType::user_created,
        events::PrincipalCreated{
            id, "load user " + std::to_string(i), "load" + std::to_string(i) + "@example.com", {}},
        ctx});
    for (std::uint64_t j = 0; j < keys_per_principal; ++j) {
      IssuedKey k{keys::new_apikey(), keys::new_secretkey()};
      events::KeyCreated d;
      d.apikey = k.apikey;
      d.principal_id = id;
      d.secret_hash = pepper.hash(k.secretkey);
      d.description = "load test";
      d.expires_at = now + 90 * kMicrosPerDay;
      d.lifetime_source = "default";
      d.allowed_cidrs = cidrs;
      batch.push_back(Draft{EventType::key_created, std::move(d), ctx});
      out.push_back(std::move(k));
    }
    if (batch.size() >= 1000) {
      if (auto st = flush(); !st) return st.error();
    }
  }
  if (auto st = flush(); !st) return st.error();
  return out;
}

}  // namespace latchkey::bench
