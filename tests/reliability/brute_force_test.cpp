// Brute force: failed logins are throttled per apikey and per source address;
// over the limit a login answers 429 with Retry-After even with the right
// secret, login.locked is in the log, and a flood of failures leaves a bounded
// number of events, each saying how many attempts it stands for.
//
// The million-attempt flood runs in-process through CommandService::login
// (the same rules and writer the server uses, without HTTP); the HTTP tests
// check the same rules end to end, with attackers on other loopback addresses
// (127.0.0.2 ...) so the test's own traffic from 127.0.0.1 is a bystander.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "domain/credentials.h"
#include "domain/decide.h"
#include "events/event_log.h"
#include "keys/ids.h"
#include "projections/live_views.h"
#include "replay/rebuild.h"
#include "service/command_service.h"
#include "tests/reliability/helpers.h"
#include "tests/reliability/raw_http.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::test;
using events::EventType;

namespace {

// The write side of a server without HTTP: a log, live views, the command
// service, and a clock the test moves.
// What a client hears of a login, with the writer's failure beside the rules' outcomes.
enum class Outcome { issued, refused, locked, unavailable };

Outcome outcome_of(domain::LoginOutcome o) {
  switch (o) {
    case domain::LoginOutcome::issued: return Outcome::issued;
    case domain::LoginOutcome::refused: return Outcome::refused;
    case domain::LoginOutcome::locked: return Outcome::locked;
    case domain::LoginOutcome::rate_limited: return Outcome::locked;  // no key here has a rate
  }
  return Outcome::unavailable;
}

struct LoginWorld {
  TempDir dir;
  std::unique_ptr<events::EventLog> log;
  std::unique_ptr<projections::LiveViews> views;
  ManualClock clock{1'800'000'000LL * kMicrosPerSecond};
  std::unique_ptr<service::CommandService> commands;
  keys::Pepper pepper{std::string(32, '\x5a')};

  LoginWorld() {
    auto l = events::open_rocksdb_log(dir / "log", events::OpenMode::create_new);
    BOOST_REQUIRE_MESSAGE(l.has_value(), "open log");
    log = std::move(*l);
    views = std::make_unique<projections::LiveViews>(projections::Views{});
    commands = std::make_unique<service::CommandService>(*log, *views, clock);
  }
  ~LoginWorld() { commands->stop(); }

  events::RequestContext ctx(const std::string& source) {
    return events::RequestContext{"anonymous", keys::new_request_id(), source};
  }

  IssuedKey new_key() {
    domain::CreatePrincipal p;
    p.kind = projections::PrincipalKind::service_account;
    p.id = keys::new_service_account_id();
    p.name = "svc";
    BOOST_REQUIRE(commands->execute_and_wait(p, ctx("127.0.0.1")).has_value());
    domain::CreateKey k;
    k.kind = projections::PrincipalKind::service_account;
    k.principal_id = p.id;
    k.apikey = keys::new_apikey();
    const std::string secret = keys::new_secretkey();
    k.secret_hash = pepper.hash(secret);
    BOOST_REQUIRE(commands->execute_and_wait(k, ctx("127.0.0.1")).has_value());
    return IssuedKey{p.id, k.apikey, secret};
  }

  void settings(std::vector<std::pair<std::string, std::int64_t>> values) {
    auto r =
        commands->execute_and_wait(domain::ChangeSettings{std::move(values)}, ctx("127.0.0.1"));
    BOOST_REQUIRE_MESSAGE(r.has_value(), "settings: " << (r ? "" : r.error().message));
  }

  domain::LoginAttempt attempt(const std::string& apikey, const std::string& secret,
                               const std::string& source) {
    domain::LoginAttempt a;
    a.apikey = apikey.size() <= 64 ? apikey : std::string();
    a.well_formed = domain::is_apikey(apikey) && domain::is_secretkey(secret);
    a.presented_hash = pepper.hash(secret);
    a.source_ip = source;
    a.jti = keys::new_jti();
    a.kid = "k1";
    return a;
  }

  Outcome login(const std::string& apikey, const std::string& secret, const std::string& source,
                int* retry_after = nullptr) {
    auto r = commands->login_and_wait(attempt(apikey, secret, source), ctx(source));
    BOOST_REQUIRE_MESSAGE(r.has_value(), "login: " << (r ? "" : r.error().message));
    if (retry_after) *retry_after = r->retry_after_seconds;
    return outcome_of(r->outcome);
  }

  std::vector<events::Event> events_from(events::Seq after) const {
    std::vector<events::Event> out;
    BOOST_REQUIRE(log->scan(after + 1, UINT64_MAX, [&](const events::Event& e) {
      out.push_back(e);
      return true;
    }));
    return out;
  }
};

// The pure rules with the time set by hand: decide_login, then the events
// stamped and applied as the log and the views would.
struct RulesWorld {
  projections::Views views;
  domain::LoginThrottle throttle;
  Micros now = 1'800'000'000LL * kMicrosPerSecond;
  keys::Pepper pepper{std::string(32, '\x5a')};

  void commit(const std::vector<events::Draft>& drafts) {
    for (const auto& d : drafts) {
      events::Event e;
      e.seq = views.seq + 1;
      e.time = now;
      e.type = d.type;
      e.data = d.data;
      e.context = d.context;
      projections::apply(views, e);
    }
  }
  IssuedKey new_key() {
    domain::CreatePrincipal p{
        projections::PrincipalKind::service_account, keys::new_service_account_id(), "svc", "", {}};
    commit(*domain::decide(views, p, now));
    domain::CreateKey k;
    k.principal_id = p.id;
    k.apikey = keys::new_apikey();
    const std::string secret = keys::new_secretkey();
    k.secret_hash = pepper.hash(secret);
    commit(*domain::decide(views, k, now));
    return IssuedKey{p.id, k.apikey, secret};
  }
  domain::LoginDecision login(const std::string& apikey, const std::string& secret,
                              const std::string& source) {
    domain::LoginAttempt a;
    a.apikey = apikey;
    a.well_formed = domain::is_apikey(apikey) && domain::is_secretkey(secret);
    a.presented_hash = pepper.hash(secret);
    a.source_ip = source;
    a.jti = keys::new_jti();
    a.kid = "k1";
    auto d = domain::decide_login(views, throttle, a, now);
    (void)throttle.apply(d.throttle, now, views.settings);  // as the writer does on commit
    commit(d.events);
    return d;
  }
};

std::size_t count_type(const std::vector<events::Event>& evs, EventType t) {
  return static_cast<std::size_t>(
      std::count_if(evs.begin(), evs.end(), [t](const auto& e) { return e.type == t; }));
}

// Sends many logins at once (so they share groups, as concurrent HTTP logins
// do) and counts the outcomes.
class Flood {
 public:
  explicit Flood(LoginWorld& w, std::size_t window = 2048) : w_(w), window_(window) {}
  void send(domain::LoginAttempt a, const std::string& source) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < window_; });
      ++in_flight_;
    }
    w_.commands->login(std::move(a), w_.ctx(source), [this](Result<domain::LoginDecision> r) {
      std::lock_guard lock(mu_);
      if (!r)
        ++outcomes_[Outcome::unavailable];
      else
        ++outcomes_[outcome_of(r->outcome)];
      --in_flight_;
      cv_.notify_all();
    });
  }
  std::map<Outcome, std::uint64_t> finish() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    return outcomes_;
  }

 private:
  LoginWorld& w_;
  std::size_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;
  std::map<Outcome, std::uint64_t> outcomes_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(brute_force)

BOOST_AUTO_TEST_CASE(a_locked_key_is_refused_even_with_the_right_secret_from_anywhere) {
  LoginWorld w;
  const IssuedKey victim = w.new_key();
  w.settings({{"lockout_threshold", 3},
              {"lockout_window_seconds", 300},
              {"lockout_duration_seconds", 600}});
  BOOST_TEST((w.login(victim.apikey, victim.secretkey, "10.0.0.1") == Outcome::issued));
  const std::string wrong = keys::new_secretkey();
  for (int i = 0; i < 3; ++i)
    BOOST_TEST((w.login(victim.apikey, wrong, "10.6.6.6") == Outcome::refused));
  int retry = 0;
  BOOST_TEST((w.login(victim.apikey, victim.secretkey, "10.0.0.1", &retry) == Outcome::locked));
  BOOST_TEST(retry > 590);
  BOOST_TEST(retry <= 600);
  // The lock is in the log, so it survives a restart (the views are rebuilt from events).
  auto rebuilt = replay::rebuild(*w.log, w.log->head().seq, false);
  BOOST_REQUIRE(rebuilt.has_value());
  BOOST_TEST(rebuilt->lockouts.locked_until(events::LockScope::apikey, victim.apikey,
                                            w.clock.now()) > w.clock.now());
  // Other keys are not affected. (The lock's end is checked over HTTP with a real clock.)
  const IssuedKey other = w.new_key();
  BOOST_TEST((w.login(other.apikey, other.secretkey, "10.0.0.1") == Outcome::issued));
}

BOOST_AUTO_TEST_CASE(a_lock_that_ends_inside_the_window_is_set_again_by_the_next_failure) {
  // With a lock shorter than the counting window, the attacker must not get
  // unlimited guesses for the rest of the window once the first lock ends.
  // The rules alone, with the time set by hand (the writer reads its clock
  // once per group, so through CommandService the steps could share a time).
  RulesWorld w;
  const IssuedKey victim = w.new_key();
  w.views.settings.lockout_threshold = 3;
  w.views.settings.lockout_window_seconds = 3600;
  w.views.settings.lockout_duration_seconds = 10;
  w.views.settings.lockout_source_threshold = 1000000;
  const std::string wrong = keys::new_secretkey();
  std::uint64_t failures = 0, covered = 0;
  std::size_t locks = 0;
  auto fail = [&] {
    const auto d = w.login(victim.apikey, wrong, "10.6.6.6");
    BOOST_TEST((outcome_of(d.outcome) == Outcome::refused));
    ++failures;
    for (const auto& e : d.events) {
      if (const auto* f = std::get_if<events::LoginFailed>(&e.data)) covered += f->attempts;
      if (e.type == EventType::login_locked) ++locks;
    }
  };
  for (int i = 0; i < 3; ++i) fail();
  BOOST_TEST((w.login(victim.apikey, victim.secretkey, "10.0.0.1").outcome ==
              domain::LoginOutcome::locked));
  for (int round = 0; round < 60; ++round) {
    w.now += 11 * kMicrosPerSecond;  // the lock has ended; the window has not
    fail();
    const auto d = w.login(victim.apikey, victim.secretkey, "10.0.0.1");
    BOOST_TEST((outcome_of(d.outcome) == Outcome::locked),
               "round " << round << ": one more failure must lock the key again");
    BOOST_TEST(d.retry_after_seconds == 10);
  }
  // One lock per lock period; failures past the threshold recorded at powers
  // of two only, each event standing for the attempts since the previous one.
  BOOST_TEST(locks == 61u);
  BOOST_TEST(failures == 63u);
  BOOST_TEST(covered == 32u);  // events at 1..10 (kAlwaysRecorded), 16, 32
}

BOOST_AUTO_TEST_CASE(a_concurrent_flood_against_one_key_is_stopped_at_its_threshold) {
  // Concurrent attempts share a writer group, so the lock's event is not yet
  // committed when the attempts after it are decided: the lock must still
  // stop them, and the events must account for every attempt evaluated.
  LoginWorld w;
  const IssuedKey victim = w.new_key();
  w.settings({{"lockout_threshold", 5}, {"lockout_source_threshold", 5}});
  const events::Seq before = w.log->head().seq;
  const std::string wrong = keys::new_secretkey();
  constexpr int kAttempts = 20000;
  Flood flood(w, 8192);
  for (int i = 0; i < kAttempts; ++i) {
    const std::string source = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    flood.send(w.attempt(victim.apikey, wrong, source), source);
  }
  const auto outcomes = flood.finish();
  const auto evs = w.events_from(before);
  const std::uint64_t failures =
      outcomes.count(Outcome::refused) ? outcomes.at(Outcome::refused) : 0;
  std::uint64_t covered = 0;
  std::size_t failed_events = 0, key_locks = 0;
  for (const auto& e : evs) {
    if (e.type == EventType::login_failed) {
      const auto& f = std::get<events::LoginFailed>(e.data);
      BOOST_TEST(f.apikey == victim.apikey);
      BOOST_TEST(f.attempts >= 1u);
      covered += f.attempts;
      ++failed_events;
    } else if (e.type == EventType::login_locked) {
      const auto& l = std::get<events::LoginLocked>(e.data);
      if (l.scope == events::LockScope::apikey) ++key_locks;
    }
  }
  BOOST_TEST_MESSAGE("one key, " << kAttempts << " attempts from " << kAttempts / 250
                                 << "x250 addresses: " << failures << " counted failures, "
                                 << evs.size() << " events (" << failed_events
                                 << " login.failed covering " << covered << ")");
  BOOST_TEST(failures == 5u, "guesses evaluated: " << failures);
  BOOST_TEST(key_locks == 1u, "the key is locked once, not once per attempt in the group");
  // The first 5, then one per power of two: at most 5 + log2(failures) + 1 events.
  BOOST_TEST(failed_events <= 5u + 16u);
  // The events account for the failures: everything up to the last power of two.
  BOOST_TEST(covered <= failures);
  BOOST_TEST(covered * 2 >= failures, "events stand for " << covered << " of " << failures);
}

BOOST_AUTO_TEST_CASE(one_million_bad_attempts_from_one_address_leave_a_bounded_log) {
  LoginWorld w;
  const IssuedKey victim = w.new_key();
  std::vector<IssuedKey> legit;
  for (int i = 0; i < 3; ++i) legit.push_back(w.new_key());
  const auto& s = w.views->read([](const projections::Views& v) { return v.settings; });
  const events::Seq before = w.log->head().seq;
  const std::string attacker = "10.6.6.6";
  const std::string wrong = keys::new_secretkey();
  constexpr int kAttempts = 1'000'000;
  constexpr Micros kStep = 1000;  // 1 ms of simulated time per attempt: 1000 s in all
  Flood flood(w);
  std::size_t legit_ok = 0, legit_tries = 0;
  for (int i = 0; i < kAttempts; ++i) {
    domain::LoginAttempt a;
    switch (i % 4) {
      case 0:  // spraying unknown keys
      case 1: a = w.attempt(keys::new_apikey(), wrong, attacker); break;
      case 2: a = w.attempt(victim.apikey, wrong, attacker); break;  // guessing one key
      default: a = w.attempt("lk_" + std::to_string(i), "not-a-secret", attacker); break;
    }
    flood.send(std::move(a), attacker);
    w.clock.advance(kStep);
    if (i % 20000 == 0) {
      // Legitimate clients, elsewhere, keep logging in throughout.
      const IssuedKey& k = legit[static_cast<std::size_t>(i / 20000) % legit.size()];
      ++legit_tries;
      if (w.login(k.apikey, k.secretkey, "10.0.0." + std::to_string(1 + i % 200)) ==
          Outcome::issued)
        ++legit_ok;
    }
  }
  const auto outcomes = flood.finish();
  const auto evs = w.events_from(before);
  const std::size_t issued = count_type(evs, EventType::token_issued);
  const std::size_t failed = count_type(evs, EventType::login_failed);
  const std::size_t locked = count_type(evs, EventType::login_locked);
  const auto n = [&](Outcome e) { return outcomes.count(e) ? outcomes.at(e) : 0; };
  BOOST_TEST_MESSAGE("1,000,000 attempts from one address over 1000 s: "
                     << n(Outcome::refused) << " failed, " << n(Outcome::locked)
                     << " refused as locked; " << evs.size() << " events (" << failed
                     << " login.failed, " << locked << " login.locked, " << issued
                     << " token.issued for legitimate clients)");
  BOOST_TEST(n(Outcome::issued) == 0u);
  BOOST_TEST(n(Outcome::unavailable) == 0u);
  BOOST_TEST(legit_ok == legit_tries, "legitimate keys kept logging in");
  BOOST_TEST(issued == legit_tries);
  // Per window of lockout_window_seconds, at most the threshold plus one
  // event per power of two, plus the locks, per subject (the address, the
  // guessed key). 1000 s span at most 5 windows.
  const std::size_t windows = 1000 / static_cast<std::size_t>(s.lockout_window_seconds) + 2;
  const std::size_t bound =
      windows *
      (static_cast<std::size_t>(s.lockout_source_threshold + s.lockout_threshold) + 2 * 21 + 4);
  BOOST_TEST(failed + locked <= bound, failed + locked << " events for a million attempts");
  // A lock takes effect at once: the guesses actually evaluated are at most
  // the address's threshold per lock (the rest were refused unseen).
  BOOST_TEST(n(Outcome::refused) <= windows * static_cast<std::size_t>(s.lockout_source_threshold),
             n(Outcome::refused) << " guesses evaluated");
  BOOST_TEST(locked >= 1u);
  // Every attempt is either refused as locked or counted and covered by an event (up to
  // the last power of two).
  BOOST_TEST(n(Outcome::refused) + n(Outcome::locked) == static_cast<std::uint64_t>(kAttempts));
  std::uint64_t covered = 0;
  for (const auto& e : evs) {
    if (e.type == EventType::login_failed) {
      const auto& f = std::get<events::LoginFailed>(e.data);
      BOOST_TEST(e.context.source_ip == attacker);
      covered += f.attempts;
    }
  }
  BOOST_TEST(covered <= n(Outcome::refused));
  BOOST_TEST(covered * 2 >= n(Outcome::refused));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- over HTTP ----

namespace {

nlohmann::json login_body(const std::string& apikey, const std::string& secret) {
  return {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secret}};
}

RawResponse raw_login(const ServerProcess& server, const std::string& source,
                      const std::string& apikey, const std::string& secret, bool form = false) {
  const std::string body = form ? "auth_mode=apikey&apikey=" + apikey + "&secretkey=" + secret
                                : login_body(apikey, secret).dump();
  const auto r = raw_exchange(server.port(),
                              raw_request("POST", "/iam/login",
                                          {form ? "Content-Type: application/x-www-form-urlencoded"
                                                : "Content-Type: application/json"},
                                          body),
                              std::chrono::seconds(10), source);
  BOOST_REQUIRE_MESSAGE(r.has_value(), "no answer to a login from " << source);
  return *r;
}

std::size_t audit_count(const ServerProcess& server, const std::string& token,
                        const std::string& query) {
  const auto r = get(server.url("/iam/audit?" + query + "&limit=1000"), token);
  BOOST_REQUIRE_EQUAL(r.status, 200);
  return r.json()["events"].size();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(brute_force_http)

BOOST_AUTO_TEST_CASE(
    over_the_limit_a_login_answers_429_with_retry_after_even_with_the_right_secret) {
  ServerProcess server;
  const std::string admin = server.admin_token();
  // Locks long enough that no busy machine sees one end during the checks
  // made while it holds; the end of a lock is checked below with short ones.
  patch_settings(server, admin,
                 {{"lockout_threshold", 3},
                  {"lockout_source_threshold", 8},
                  {"lockout_window_seconds", 600},
                  {"lockout_duration_seconds", 600}});
  const IssuedKey victim = new_service_account_key(server, admin, "victim");
  const IssuedKey bystander = new_service_account_key(server, admin, "bystander");
  const std::string wrong = keys::new_secretkey();

  // Per key: three wrong secrets from one address...
  std::string first_body;
  for (int i = 0; i < 3; ++i) {
    const auto r = raw_login(server, "127.0.0.2", victim.apikey, wrong);
    BOOST_TEST(r.status == 401);
    auto j = r.json();
    BOOST_TEST(j["error"] == "invalid_credentials");
    j.erase("request_id");
    if (first_body.empty()) first_body = j.dump();
    BOOST_TEST(j.dump() == first_body, "one body for every failure");
  }
  // ...and the right secret, from another address, JSON or form, is refused.
  for (const bool form : {false, true}) {
    const auto r = raw_login(server, "127.0.0.3", victim.apikey, victim.secretkey, form);
    BOOST_TEST(r.status == 429);
    BOOST_TEST(r.json()["error"] == "too_many_requests");
    const int retry = std::stoi(r.header("retry-after").empty() ? "0" : r.header("retry-after"));
    BOOST_TEST(retry >= 1);
    BOOST_TEST(retry <= 600);
  }
  BOOST_TEST(audit_count(server, admin, "type=login.locked&apikey=" + victim.apikey) == 1u);
  // Others are not affected.
  BOOST_TEST(raw_login(server, "127.0.0.3", bystander.apikey, bystander.secretkey).status == 200);

  // Per address: spraying unknown keys from 127.0.0.4 locks that address...
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(raw_login(server, "127.0.0.4", keys::new_apikey(), wrong).status == 401);
  const auto locked = raw_login(server, "127.0.0.4", bystander.apikey, bystander.secretkey);
  BOOST_TEST(locked.status == 429);
  BOOST_TEST(!locked.header("retry-after").empty());
  BOOST_TEST(audit_count(server, admin, "type=login.locked") == 2u);
  // ...and only that address.
  BOOST_TEST(raw_login(server, "127.0.0.5", bystander.apikey, bystander.secretkey).status == 200);
  BOOST_TEST(server.admin_token().size() > 0u);

  // When locks end, the right secrets work again: a key and an address
  // locked for one second, polled with a generous deadline.
  patch_settings(server, admin, {{"lockout_duration_seconds", 1}});
  const IssuedKey brief = new_service_account_key(server, admin, "briefly locked");
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(raw_login(server, "127.0.0.6", brief.apikey, wrong).status == 401);
  for (int i = 0; i < 8; ++i)
    BOOST_TEST(raw_login(server, "127.0.0.7", keys::new_apikey(), wrong).status == 401);
  BOOST_TEST_REQUIRE(audit_count(server, admin, "type=login.locked") == 4u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int key_status = 0, address_status = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (key_status != 200 || address_status != 200)) {
    if (key_status != 200)
      key_status = raw_login(server, "127.0.0.8", brief.apikey, brief.secretkey).status;
    if (address_status != 200)
      address_status = raw_login(server, "127.0.0.7", bystander.apikey, bystander.secretkey).status;
    if (key_status != 200 || address_status != 200)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  BOOST_TEST(key_status == 200);
  BOOST_TEST(address_status == 200);
  // The long locks still hold.
  BOOST_TEST(raw_login(server, "127.0.0.3", victim.apikey, victim.secretkey).status == 429);
  BOOST_TEST(raw_login(server, "127.0.0.4", bystander.apikey, bystander.secretkey).status == 429);
}

BOOST_AUTO_TEST_CASE(a_flood_over_http_from_one_address_leaves_few_events_and_others_log_in) {
  ServerProcess server;
  const std::string admin = server.admin_token();
  const IssuedKey legit = new_service_account_key(server, admin, "legit");
  const std::size_t before = read_log(server.data_dir()).size();
  // Keep-alive connections from the attacker's address, each pipelining requests.
  constexpr int kConnections = 8, kPerConnection = 500;
  std::atomic<int> answered{0}, unexpected{0};
  std::vector<std::thread> attackers;
  for (int c = 0; c < kConnections; ++c) {
    attackers.emplace_back([&, c] {
      RawConn conn(server.port(), "127.0.0.9");
      const std::string wrong = keys::new_secretkey();
      for (int i = 0; i < kPerConnection; i += 50) {
        std::string batch;
        for (int j = 0; j < 50; ++j)
          batch += raw_request("POST", "/iam/login", {"Content-Type: application/json"},
                               login_body(keys::new_apikey(), wrong).dump());
        if (!conn.send(batch)) break;
        for (int j = 0; j < 50; ++j) {
          const auto r = conn.read_response(std::chrono::seconds(30));
          if (!r) return;
          ++answered;
          if (r->status != 401 && r->status != 429) ++unexpected;
        }
      }
      (void)c;
    });
  }
  // Meanwhile a legitimate client logs in from 127.0.0.1.
  int legit_ok = 0;
  for (int i = 0; i < 20; ++i) {
    if (post_json(server.url("/iam/login"), login_body(legit.apikey, legit.secretkey)).status ==
        200)
      ++legit_ok;
  }
  for (auto& t : attackers) t.join();
  const auto evs = read_log(server.data_dir());
  std::size_t failed = 0, locked = 0;
  for (std::size_t i = before; i < evs.size(); ++i) {
    if (evs[i].type == EventType::login_failed) ++failed;
    if (evs[i].type == EventType::login_locked) ++locked;
  }
  BOOST_TEST_MESSAGE(answered.load() << " bad logins over HTTP from one address: " << failed
                                     << " login.failed, " << locked << " login.locked");
  BOOST_TEST(answered.load() == kConnections * kPerConnection);
  BOOST_TEST(unexpected.load() == 0);
  BOOST_TEST(legit_ok == 20);
  // Default settings: 20 failures per address per window, then a 15-minute lock.
  BOOST_TEST(locked == 1u);
  BOOST_TEST(failed <= 20u + 13u);
}

BOOST_AUTO_TEST_SUITE_END()
