#pragma once
// A random but reproducible history: thousands of commands of every kind run
// through the real write path (CommandService over a RocksDB log), with a
// clock that moves by hand.

#include <random>

#include "domain/credentials.h"
#include "events/event_log.h"
#include "keys/ids.h"
#include "projections/live_views.h"
#include "service/command_service.h"
#include "tests/support/temp_dir.h"

namespace latchkey::test {

class History {
 public:
  explicit History(const std::string& dir, unsigned seed)
      : clock_(1'800'000'000LL * kMicrosPerSecond), rng_(seed), pepper_(std::string(32, 'p')) {
    events::LogOptions o;
    o.sync = false;  // equivalence does not depend on fsync; keeps the test quick
    auto log = events::open_rocksdb_log(dir, events::OpenMode::create_new, o);
    if (!log) throw std::runtime_error(log.error().message);
    log_ = std::move(*log);
    views_ = std::make_unique<projections::LiveViews>(projections::Views{});
    commands_ = std::make_unique<service::CommandService>(*log_, *views_, clock_);
    run(domain::RotateSigningKey{"kid-0", "ES256", "{}"});
    run(domain::CreatePrincipal{projections::PrincipalKind::service_account,
                                keys::new_service_account_id(),
                                "admin",
                                "",
                                {"admin"}});
  }

  events::EventLog& log() { return *log_; }
  projections::LiveViews& views() { return *views_; }
  ManualClock& clock() { return clock_; }
  const std::vector<std::string>& secrets() const { return secrets_; }

  // One random step.
  void step() {
    const int r = pick(100);
    if (r < 45) return login(true);
    if (r < 55) return login(false);
    if (r < 62) return create_principal();
    if (r < 72) return create_key();
    if (r < 80) return change_key();
    if (r < 83) return delete_principal();
    if (r < 87) return change_settings();
    if (r < 88)
      return run(domain::RotateSigningKey{"kid-" + std::to_string(++rotations_), "ES256", "{}"});
    if (r < 90) return update_principal();
    clock_.advance(static_cast<Micros>(pick(4 * 3600)) * kMicrosPerSecond + pick(1000));
  }

  void stop() { commands_->stop(); }

  // One command, or one login with a random key (good or bad secret).
  template <class C>
  void command(const C& c) {
    run(c);
  }
  void log_in(bool good) { login(good); }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  template <class C>
  void run(const C& c) {
    (void)commands_->execute_and_wait(domain::Command{c},
                                      events::RequestContext{"system", "r", "127.0.0.1"});
  }

  void create_principal() {
    const bool user = pick(2) == 0;
    const std::string id = user ? keys::new_user_id() : keys::new_service_account_id();
    run(domain::CreatePrincipal{
        user ? projections::PrincipalKind::user : projections::PrincipalKind::service_account, id,
        "name " + std::to_string(pick(1000)),
        user || pick(2) ? "p" + std::to_string(pick(100)) + "@example.com" : "",
        pick(5) == 0 ? std::vector<std::string>{"auditor"} : std::vector<std::string>{}});
    principals_.push_back(id);
  }

  void update_principal() {
    if (principals_.empty()) return;
    domain::UpdatePrincipal u;
    u.id = principals_[pick(static_cast<int>(principals_.size()))];
    u.kind = u.id.starts_with("usr_") ? projections::PrincipalKind::user
                                      : projections::PrincipalKind::service_account;
    u.name = "renamed " + std::to_string(pick(100));
    run(u);
  }

  void create_key() {
    if (principals_.empty()) return create_principal();
    domain::CreateKey c;
    c.principal_id = principals_[pick(static_cast<int>(principals_.size()))];
    c.apikey = keys::new_apikey();
    const std::string secret = keys::new_secretkey();
    c.secret_hash = pepper_.hash(secret);
    if (pick(3) == 0) c.lifetime_days = 1 + pick(30);
    if (pick(10) == 0)
      c.expires_at = clock_.now() + static_cast<Micros>(1 + pick(48)) * 3600 * kMicrosPerSecond;
    c.description = pick(2) ? "desc" : "";
    auto r = commands_->execute_and_wait(c, events::RequestContext{"system", "r", "127.0.0.1"});
    if (r) keys_.push_back({c.apikey, secret});
    secrets_.push_back(secret);
  }

  void change_key() {
    if (keys_.empty()) return create_key();
    const auto& k = keys_[pick(static_cast<int>(keys_.size()))];
    const auto owner = views_->read([&](const projections::Views& v) -> std::string {
      const auto* key = v.keys.find(k.first);
      return key ? v.principals.at(key->principal).id : "";
    });
    const domain::KeyAction actions[] = {domain::KeyAction::disable, domain::KeyAction::enable,
                                         domain::KeyAction::remove};
    run(domain::ChangeKey{std::nullopt, owner, k.first, actions[pick(3)]});
  }

  void delete_principal() {
    if (principals_.empty() || pick(3) != 0) return;
    const auto id = principals_[pick(static_cast<int>(principals_.size()))];
    run(domain::DeletePrincipal{id.starts_with("usr_")
                                    ? projections::PrincipalKind::user
                                    : projections::PrincipalKind::service_account,
                                id});
  }

  void change_settings() {
    const std::pair<const char*, std::int64_t> choices[] = {
        {"token_lifetime_seconds", 60 + pick(7200)},
        {"default_key_lifetime_days", 1 + pick(300)},
        {"max_keys_per_principal", 1 + pick(20)},
        {"lockout_threshold", 1 + pick(10)},
        {"expiry_reminder_days", pick(10)}};
    const auto& c = choices[pick(5)];
    run(domain::ChangeSettings{{{c.first, c.second}}});
  }

  void login(bool good) {
    if (keys_.empty()) return create_key();
    const auto& k = keys_[pick(static_cast<int>(keys_.size()))];
    domain::LoginAttempt a;
    a.apikey = k.first;
    a.presented_hash = pepper_.hash(good ? k.second : keys::new_secretkey());
    a.jti = keys::new_jti();
    a.kid = "kid";
    a.source_ip = "10.0.0." + std::to_string(pick(8));
    (void)commands_->login_and_wait(a, events::RequestContext{"anonymous", "r", a.source_ip});
  }

  ManualClock clock_;
  std::mt19937 rng_;
  keys::Pepper pepper_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<projections::LiveViews> views_;
  std::unique_ptr<service::CommandService> commands_;
  std::vector<std::string> principals_;
  std::vector<std::pair<std::string, std::string>> keys_;
  std::vector<std::string> secrets_;
  int rotations_ = 0;
};

}  // namespace latchkey::test
