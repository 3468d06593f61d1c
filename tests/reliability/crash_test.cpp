// The crash test: login and admin load against a real server, which is
// killed with SIGKILL at random moments and restarted, again and again.
// After every kill it checks, against the log on disk:
//   - every request that got a 2xx is in the log (by its X-Request-Id), with
//     exactly the events it promised (the user id, apikey or token jti it
//     returned);
//   - no request that got an error left anything in the log (a failed login
//     may leave its login.failed record, nothing else);
//   - a request cut off by the kill left all of its events or none;
//   - a good login got its 200 and a bad one its 401: any other answer (a
//     5xx under load, say) is a violation, as is an admin change refused;
//   - every round acknowledged logins and admin changes before its kill (a
//     round that acknowledged nothing would check nothing);
//   - `latchkey verify` passes (exit status 0, no sanitizer report);
//   - rebuilding from snapshots and from the first event give identical
//     views, and the restarted server serves exactly those views.
// ctest runs a short form; bench/reliability/run.sh crash runs the long one
// (docs/reliability.md). The random seed (--seed) is printed at the start and
// with any violation: the same seed replays the same kill delays and the same
// choices of requests (the timing of the threads is the machine's).
#include <signal.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "domain/credentials.h"
#include "events/codec.h"
#include "events/event_log.h"
#include "keys/data_keys.h"
#include "keys/ids.h"
#include "projections/views.h"
#include "replay/rebuild.h"
#include "tests/reliability/helpers.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"

using namespace latchkey;
using namespace latchkey::test;
using events::EventType;

namespace {

enum class Op {
  login_ok,
  login_bad,
  create_user,
  delete_user,
  create_key,
  disable_key,
  enable_key,
  delete_key,
  settings,
};

const char* op_name(Op o) {
  switch (o) {
    case Op::login_ok: return "login";
    case Op::login_bad: return "failed login";
    case Op::create_user: return "create user";
    case Op::delete_user: return "delete user";
    case Op::create_key: return "create key";
    case Op::disable_key: return "disable key";
    case Op::enable_key: return "enable key";
    case Op::delete_key: return "delete key";
    case Op::settings: return "change settings";
  }
  return "?";
}

// The one event an acknowledged request of each kind appends.
EventType event_of(Op o) {
  switch (o) {
    case Op::login_ok: return EventType::token_issued;
    case Op::login_bad: return EventType::login_failed;
    case Op::create_user: return EventType::user_created;
    case Op::delete_user: return EventType::user_deleted;
    case Op::create_key: return EventType::key_created;
    case Op::disable_key: return EventType::key_disabled;
    case Op::enable_key: return EventType::key_enabled;
    case Op::delete_key: return EventType::key_deleted;
    case Op::settings: return EventType::settings_changed;
  }
  return EventType::system_initialized;
}

struct Record {
  std::string rid;
  Op op;
  long status = 0;     // 0: no response (the server died mid-request)
  std::string detail;  // the id, apikey or jti the response promised
};

// Every violation, from the checks below or from the checks of the server
// and the CLI runs (tests/support/server_process.h reports through this).
std::atomic<int> g_violations{0};

void violation(const std::string& what) {
  ++g_violations;
  std::cerr << "VIOLATION: " << what << std::endl;
}

struct Options {
  int kills = 4;
  int min_ms = 300;
  int max_ms = 1500;
  int login_workers = 4;
  int admin_workers = 2;
  unsigned seed = 0;
  int snapshot_every = 40;
  bool verbose = false;
};

class CrashTest {
 public:
  explicit CrashTest(const Options& o)
      : o_(o), rng_(o.seed), server_([&] {
          ServerProcess::Options so;
          so.serve_args = {
              "--set", "data.snapshot_every_events=" + std::to_string(o.snapshot_every),
              "--set", "checkpoints.every_events=25",
              "--set", "server.access_log=off"};
          return so;
        }()) {}

  int run() {
    setup();
    int violations_before = 0;
    for (int k = 0; k < o_.kills; ++k) {
      load_then_kill();
      ++kills_;
      server_.start();
      check("after kill " + std::to_string(kills_));
      if (g_violations != violations_before && !o_.verbose) break;
      violations_before = g_violations;
    }
    // A last graceful stop: SIGTERM must flush and exit 0 (server_.stop()
    // reports any other status as a violation), and the log still verify.
    server_.stop();
    server_.start();
    check("after SIGTERM");
    std::cout << "crash test: " << kills_ << " kills survived, " << acked_ << " acknowledged "
              << "requests found in the log, " << errors_ << " refused requests left nothing, "
              << cut_ << " cut off by a kill (" << cut_applied_ << " applied whole, "
              << cut_ - cut_applied_ << " not at all), " << events_ << " events, " << snapshots_
              << " snapshot rebuilds compared; " << g_violations << " violations" << std::endl;
    if (acked_logins_ == 0 || acked_changes_ == 0)
      violation("nothing acknowledged to check: " + std::to_string(acked_logins_) + " logins, " +
                std::to_string(acked_changes_) + " admin changes");
    if (g_violations != 0)
      std::cerr << "crash test: to replay, run it again with --seed " << o_.seed << std::endl;
    return g_violations == 0 ? 0 : 1;
  }

 private:
  HttpResponse call(const std::string& method, const std::string& path, const nlohmann::json& body,
                    const std::string& token, const std::string& rid) {
    HttpOptions h;
    h.timeout_ms = 10000;
    h.headers = {"X-Request-Id: " + rid};
    if (!token.empty()) h.headers.push_back("Authorization: Bearer " + token);
    if (!body.is_null()) h.headers.push_back("Content-Type: application/json");
    return http(method, server_.url(path), body.is_null() ? "" : body.dump(), h);
  }

  std::string admin_token() { return server_.admin_token(); }

  void setup() {
    const std::string token = admin_token();
    patch_settings(server_, token,
                   {{"lockout_threshold", 1000},
                    {"lockout_source_threshold", 1000000},
                    {"max_keys_per_principal", 1000}});
    for (int i = 0; i < 4; ++i) keys_.push_back(new_service_account_key(server_, token, "loader"));
    for (int w = 0; w < o_.admin_workers; ++w) {
      const auto r = post_json(server_.url("/iam/service-accounts"),
                               {{"name", "admin-worker-" + std::to_string(w)}}, token);
      if (r.status != 201) throw std::runtime_error("setup: " + r.body);
      owners_.push_back(r.json()["id"]);
    }
  }

  void login_worker(int w, std::vector<Record>& out) {
    std::mt19937 rng(o_.seed + static_cast<unsigned>(w) + 7919u * static_cast<unsigned>(kills_));
    while (running_) {
      const bool bad = rng() % 5 == 0;
      const IssuedKey& k = keys_[rng() % keys_.size()];
      Record r{request_id("crash-l" + std::to_string(w)), bad ? Op::login_bad : Op::login_ok};
      try {
        const auto resp = call("POST", "/iam/login",
                               {{"auth_mode", "apikey"},
                                {"apikey", bad ? keys::new_apikey() : k.apikey},
                                {"secretkey", k.secretkey}},
                               "", r.rid);
        r.status = resp.status;
        if (resp.status == 200) {
          r.detail = jwt_part(resp.json()["access_token"], 1)["jti"];
          ++logins_this_round_;
        }
      } catch (const std::exception&) {
        r.status = 0;
      }
      out.push_back(r);
      if (r.status == 0) return;
    }
  }

  void admin_worker(int w, std::vector<Record>& out) {
    std::string token;
    try {
      token = admin_token();
    } catch (const std::exception&) {
      return;
    }
    std::mt19937 rng(o_.seed + 1000u + static_cast<unsigned>(w) +
                     7919u * static_cast<unsigned>(kills_));
    const std::string owner = owners_[static_cast<std::size_t>(w)];
    const std::string keys = "/iam/service-accounts/" + owner + "/keys";
    auto step = [&](Op op, const std::string& method, const std::string& path,
                    const nlohmann::json& body, long want) -> std::optional<nlohmann::json> {
      Record r{request_id("crash-a" + std::to_string(w)), op};
      std::optional<nlohmann::json> result;
      try {
        const auto resp = call(method, path, body, token, r.rid);
        r.status = resp.status;
        if (resp.status == want) {
          result = resp.body.empty() ? nlohmann::json() : resp.json();
          ++changes_this_round_;
        }
      } catch (const std::exception&) {
        r.status = 0;
      }
      if (result && op == Op::create_user) r.detail = (*result)["id"];
      if (result && op == Op::create_key) r.detail = (*result)["apikey"];
      out.push_back(r);
      if (r.status != 0 && !result)
        violation(std::string(op_name(op)) + " answered " + std::to_string(r.status) +
                  " under load");
      return result;
    };
    while (running_) {
      const auto user = step(Op::create_user, "POST", "/iam/users",
                             {{"name", "crash"}, {"email", "crash@example.com"}}, 201);
      if (!user) return;
      const auto key = step(Op::create_key, "POST", keys, nlohmann::json::object(), 201);
      if (!key) return;
      const std::string apikey = (*key)["apikey"];
      if (!step(Op::disable_key, "POST", keys + "/" + apikey + "/disable", nullptr, 200)) return;
      if (!step(Op::enable_key, "POST", keys + "/" + apikey + "/enable", nullptr, 200)) return;
      if (w == 0 && !step(Op::settings, "PATCH", "/iam/settings",
                          {{"token_lifetime_seconds", 600 + ++settings_serial_}}, 200)) {
        return;
      }
      if (rng() % 2 == 0) {
        if (!step(Op::delete_key, "DELETE", keys + "/" + apikey, nullptr, 204)) return;
      }
      if (!step(Op::delete_user, "DELETE", "/iam/users/" + (*user)["id"].get<std::string>(),
                nullptr, 204)) {
        return;
      }
    }
  }

  void load_then_kill() {
    running_ = true;
    logins_this_round_ = 0;
    changes_this_round_ = 0;
    std::vector<std::vector<Record>> logs(
        static_cast<std::size_t>(o_.login_workers + o_.admin_workers));
    std::vector<std::thread> threads;
    for (int w = 0; w < o_.login_workers; ++w)
      threads.emplace_back(
          [this, w, &logs] { login_worker(w, logs[static_cast<std::size_t>(w)]); });
    for (int w = 0; w < o_.admin_workers; ++w) {
      threads.emplace_back([this, w, &logs] {
        admin_worker(w, logs[static_cast<std::size_t>(o_.login_workers + w)]);
      });
    }
    // The random delay runs from the moment the round has acknowledged a login
    // and an admin change: the kill then always lands under load, and there is
    // always something acknowledged to look for afterwards.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while ((logins_this_round_ == 0 || changes_this_round_ == 0) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (logins_this_round_ == 0 || changes_this_round_ == 0) {
      violation("round " + std::to_string(kills_ + 1) + ": no acknowledged " +
                (logins_this_round_ == 0 ? "login" : "admin change") + " within 120 s of load");
    }
    std::uniform_int_distribution<int> delay(o_.min_ms, o_.max_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng_)));
    // SIGKILL: no chance to flush or finish anything.
    server_.kill_on_purpose();
    running_ = false;
    for (auto& t : threads) t.join();
    for (auto& l : logs) journal_.insert(journal_.end(), l.begin(), l.end());
  }

  void check(const std::string& when) {
    const auto verify = run_latchkey({"verify", "--data", server_.data_dir()});
    if (verify.exit_code != 0) violation(when + ": latchkey verify failed: " + verify.err);
    check_journal(when);
    check_views(when);
  }

  void check_journal(const std::string& when) {
    std::map<std::string, std::vector<events::Event>> by_rid;
    std::size_t n = 0;
    for (auto& e : read_log(server_.data_dir())) {
      ++n;
      if (e.context.request_id.starts_with("crash-")) by_rid[e.context.request_id].push_back(e);
    }
    events_ = n;
    std::set<std::string> known;
    for (const auto& r : journal_) {
      known.insert(r.rid);
      if (checked_.count(r.rid)) continue;
      checked_.insert(r.rid);
      const auto& evs = by_rid[r.rid];
      const std::string what = when + ": " + op_name(r.op) + " " + r.rid + " (" +
                               std::to_string(r.status) + ", " + std::to_string(evs.size()) +
                               " events)";
      const bool ok = r.status >= 200 && r.status < 300;
      if (r.op == Op::login_bad && r.status == 401) {
        // Refused as it should be: at most its login.failed record.
        for (const auto& e : evs) {
          if (e.type != EventType::login_failed) violation(what + ": a failed login changed state");
        }
        ++errors_;
        continue;
      }
      // A login answers 200 for a good secret and 401 for a bad one, under
      // any load: a 5xx (or anything else) is a violation, not just a refusal.
      if (r.status != 0 && r.op == Op::login_ok && r.status != 200)
        violation(what + ": a good login was refused");
      if (r.status != 0 && r.op == Op::login_bad)
        violation(what + ": a bad login answered other than 401");
      if (ok) {
        ++acked_;
        ++(r.op == Op::login_ok ? acked_logins_ : acked_changes_);
        if (evs.size() != 1 || evs[0].type != event_of(r.op)) {
          violation(what + ": acknowledged but not in the log as promised");
          continue;
        }
        if (!matches(r, evs[0])) violation(what + ": the event is not what the response said");
      } else if (r.status != 0) {
        ++errors_;
        if (!evs.empty()) violation(what + ": refused but left events");
      } else {
        ++cut_;
        if (evs.empty()) continue;
        ++cut_applied_;
        // All or nothing: one complete event of the right type.
        if (evs.size() != 1 || evs[0].type != event_of(r.op))
          violation(what + ": cut off and applied in part");
      }
    }
    for (const auto& [rid, evs] : by_rid) {
      if (!known.count(rid)) violation(when + ": events for a request never sent: " + rid);
    }
  }

  static bool matches(const Record& r, const events::Event& e) {
    switch (r.op) {
      case Op::login_ok: return std::get<events::TokenIssued>(e.data).jti == r.detail;
      case Op::create_user: return std::get<events::PrincipalCreated>(e.data).id == r.detail;
      case Op::create_key: return std::get<events::KeyCreated>(e.data).apikey == r.detail;
      default: return true;
    }
  }

  // The restarted server's views against a rebuild from the first event,
  // and rebuilds with and without snapshots against each other.
  void check_views(const std::string& when) {
    const std::string token = admin_token();
    for (int attempt = 0;; ++attempt) {
      auto log = events::open_rocksdb_log(server_.data_dir() + "/log", events::OpenMode::read_only);
      if (!log) return violation(when + ": cannot open the log: " + log.error().message);
      auto data_keys = keys::open_data_keys(server_.data_dir(), /*read_only=*/true);
      if (!data_keys) return violation(when + ": cannot open the data keys");
      (*log)->set_personal_keys(*data_keys);
      const events::Seq head = (*log)->head().seq;
      replay::RebuildStats stats;
      auto with = replay::rebuild(**log, head, true, &stats);
      auto full = replay::rebuild(**log, head, false);
      if (!with || !full) return violation(when + ": rebuild failed");
      if (projections::snapshot(*with) != projections::snapshot(*full))
        violation(when + ": rebuild from snapshot " + std::to_string(stats.snapshot_seq) +
                  " differs from the full rebuild at " + std::to_string(head));
      if (stats.snapshot_seq > 0) ++snapshots_;
      const std::string served = served_state(token);
      const std::string expected = expected_state(*full);
      const auto ready = get(server_.url("/readyz")).json();
      if (ready["seq"].get<events::Seq>() != head) {
        if (attempt < 20) continue;  // a checkpoint landed meanwhile: look again
        return violation(when + ": the server's head moved during the comparison");
      }
      if (served != expected) {
        violation(when + ": the server's views differ from a full rebuild at seq " +
                  std::to_string(head) + "\nserved:   " + served.substr(0, 2000) +
                  "\nrebuilt:  " + expected.substr(0, 2000));
      }
      return;
    }
  }

  // principals (both kinds), their keys, and the settings, as the API serves them.
  std::string served_state(const std::string& token) {
    nlohmann::json out = nlohmann::json::object();
    for (const std::string kind : {"users", "service-accounts"}) {
      std::string cursor;
      for (;;) {
        const auto page = get(server_.url("/iam/" + kind + "?limit=500" +
                                          (cursor.empty() ? "" : "&cursor=" + cursor)),
                              token)
                              .json();
        for (const auto& p : page["items"]) {
          const std::string id = p["id"];
          nlohmann::json keys = nlohmann::json::array();
          for (const auto& k : get(server_.url("/iam/" + kind + "/" + id + "/keys"), token).json())
            keys.push_back(
                {k["apikey"], k["status"], k["expires_at"], k["last_used_at"], k["description"]});
          out[id] = {p["name"], p["email"], p["roles"], p["updated_at"], keys};
        }
        if (page["next"].is_null()) break;
        cursor = page["next"].is_string() ? page["next"].get<std::string>()
                                          : std::to_string(page["next"].get<long>());
      }
    }
    out["settings"] = get(server_.url("/iam/settings"), token).json();
    return out.dump();
  }

  static std::string expected_state(const projections::Views& v) {
    const Micros now = SystemClock().now();
    nlohmann::json out = nlohmann::json::object();
    for (const auto& p : v.principals.all()) {
      if (p.deleted()) continue;
      nlohmann::json keys = nlohmann::json::array();
      for (auto pos : p.keys) {
        const auto& k = v.keys.at(pos);
        if (k.status(now) == projections::KeyStatus::deleted) continue;
        keys.push_back({k.apikey, projections::status_name(k.status(now)),
                        format_rfc3339(k.expires_at),
                        k.last_used_at ? nlohmann::json(format_rfc3339(k.last_used_at))
                                       : nlohmann::json(nullptr),
                        k.description});
      }
      out[p.id] = {p.name, p.email.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.email),
                   p.roles, format_rfc3339(p.updated_at), keys};
    }
    nlohmann::json settings = nlohmann::json::object();
    v.settings.each([&](const char* name, const std::int64_t& value) { settings[name] = value; });
    out["settings"] = settings;
    return out.dump();
  }

  Options o_;
  std::mt19937 rng_;
  ServerProcess server_;
  std::vector<IssuedKey> keys_;
  std::vector<std::string> owners_;
  std::atomic<bool> running_{false};
  std::atomic<int> settings_serial_{0};
  std::vector<Record> journal_;
  std::set<std::string> checked_;
  int kills_ = 0;
  std::atomic<int> logins_this_round_{0}, changes_this_round_{0};
  std::size_t acked_logins_ = 0, acked_changes_ = 0;
  std::size_t acked_ = 0, errors_ = 0, cut_ = 0, cut_applied_ = 0, events_ = 0, snapshots_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latchkey crash test: SIGKILL under load, restart, check the log and the views"};
  Options o;
  app.add_option("--kills", o.kills, "How many times to kill the server")->capture_default_str();
  app.add_option("--min-ms", o.min_ms, "Least load before a kill (ms)")->capture_default_str();
  app.add_option("--max-ms", o.max_ms, "Most load before a kill (ms)")->capture_default_str();
  app.add_option("--login-workers", o.login_workers, "Threads logging in")->capture_default_str();
  app.add_option("--admin-workers", o.admin_workers, "Threads changing principals, keys, settings")
      ->capture_default_str();
  app.add_option("--snapshot-every", o.snapshot_every, "data.snapshot_every_events of the server")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (0: a random one, printed)");
  app.add_flag("--verbose", o.verbose, "Keep going after a violation");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = std::random_device{}();
  std::cout << "crash test: seed " << o.seed << " (--seed " << o.seed << " replays it)"
            << std::endl;
  // The checks of the server's exits and of `latchkey verify` are violations here.
  set_child_failure_reporter([](const std::string& what) { violation(what); });
  try {
    CrashTest t(o);
    return t.run();
  } catch (const std::exception& e) {
    std::cerr << "crash test: " << e.what() << std::endl;
    return 2;
  }
}
