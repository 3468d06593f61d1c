// The power-loss test: login and admin load against a real server whose data
// directory is on powerloss_fs (tests/powerloss), and the power is cut under
// that load, again and again: at a random moment, or while RocksDB flushes a
// memtable, while the Snapshotter writes a snapshot, during a signing-key
// rotation, during an erasure, or while the archiver writes segments (the
// server archives every event older than a second, all along, so every
// cut can also fall in a cut of the log). The server is SIGKILLed at the same instant. Then, on the
// bytes that survived (the backing directory), with the CLI:
//   - `latchkey verify` passes;
//   - every event a 2xx promised before the cut is in the log (`latchkey
//     audit`): the jti of each token, the apikey of each key created and
//     deleted, the id of each user created and deleted, the kid of each
//     signing key rotated, the admin key `latchkey init` printed;
//   - every signing key the log announces has its private key file;
//   - the server starts on them again (mounted anew) and serves: /healthz,
//     and a login with a key that survived.
// The last server is stopped with SIGTERM and must exit 0.
//
// --mutation eatmydata runs the server and the CLI with fsync and fdatasync
// turned into no-ops (libeatmydata), --mutation eatmydata-server the server
// alone (`latchkey init` is left honest): the test must then find
// acknowledged events lost, and --expect-loss makes that its success (the
// ctest entries that show the test can fail).
// ctest runs a short form; bench/reliability/run.sh powerloss the long one
// (docs/reliability.md).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "events/event_log.h"
#include "tests/powerloss/powerloss_mount.h"
#include "tests/reliability/helpers.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"

using namespace latchkey;
using namespace latchkey::test;

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kEatMyData = "/usr/lib/x86_64-linux-gnu/libeatmydata.so";

// Where a cut is aimed. Every kind runs the same load; the kind decides the
// moment of the cut.
enum class CutAt { random, flush, snapshot, rotation, erasure, archive };
constexpr CutAt kKinds[] = {CutAt::random,   CutAt::flush,   CutAt::snapshot,
                            CutAt::rotation, CutAt::erasure, CutAt::archive};

const char* kind_name(CutAt k) {
  switch (k) {
    case CutAt::random: return "random";
    case CutAt::flush: return "flush";
    case CutAt::snapshot: return "snapshot";
    case CutAt::rotation: return "rotation";
    case CutAt::erasure: return "erasure";
    case CutAt::archive: return "archive";
  }
  return "?";
}

// The audited event types, and the field of each that a response names.
const std::map<std::string, std::string> kAudited = {
    {"token.issued", "jti"},        {"key.created", "apikey"},  {"key.deleted", "apikey"},
    {"user.created", "id"},         {"user.deleted", "id"},     {"service_account.created", "id"},
    {"signing_key.rotated", "kid"}, {"principal.erased", "id"},
};

struct Options {
  int cuts = 4;
  unsigned seed = 0;
  // Load before a random cut; an aimed cut looks for its target after half as long.
  int min_ms = 300;
  int max_ms = 2000;
  int trigger_timeout_ms = 10000;
  int login_workers = 3;
  int admin_workers = 2;
  int snapshot_every = 50;
  int write_buffer_bytes = 64 << 10;
  int max_requests = 5000;  // per worker and cut
  std::string mutation;     // "", "eatmydata" or "eatmydata-server"
  bool expect_loss = false;
  bool verbose = false;
};

// What a 2xx promised: an event of `type` whose data field names `value`.
struct Ack {
  std::string type;
  std::string value;
  std::string what;
};

struct Key {
  std::string apikey;
  std::string secretkey;
};

bool sanitizer_report(const std::string& text) {
  for (const char* m : {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                        "runtime error:", "ThreadSanitizer"}) {
    if (text.find(m) != std::string::npos) return true;
  }
  return false;
}

std::set<std::string> list_dir(const std::string& dir) {
  std::set<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.insert(name);
  }
  ::closedir(d);
  return out;
}

// The number after `marker` in `line`, or -1.
long number_after(const std::string& line, const std::string& marker) {
  const auto at = line.find(marker);
  if (at == std::string::npos) return -1;
  const char* p = line.c_str() + at + marker.size();
  char* end = nullptr;
  const long n = std::strtol(p, &end, 10);
  return end == p ? -1 : n;
}

// What the server was doing on disk, as seen through the mount: RocksDB's
// flushes from its LOG, a snapshot from its temporary table file, a rotation
// from a new file in signing/.
class Watch {
 public:
  explicit Watch(std::string data) : data_(std::move(data)) {}

  // From now on: LOG lines already there and signing keys already there are old.
  void arm() {
    struct stat st {};
    offset_ = ::stat((data_ + "/log/LOG").c_str(), &st) == 0 ? st.st_size : 0;
    partial_.clear();
    flushes_.clear();
    keys_ = list_dir(data_ + "/signing");
  }

  void poll() {
    read_log();
    snapshot_seq_ = -1;
    for (const auto& name : list_dir(data_ + "/log")) {
      if (name.starts_with("snapshot-") && name.ends_with(".tmp"))
        snapshot_seq_ = number_after(name, "snapshot-");
    }
    new_keys_.clear();
    for (const auto& name : list_dir(data_ + "/signing")) {
      if (!keys_.count(name)) new_keys_.insert(name.substr(0, name.find('.')));
    }
  }

  // A memtable flush started and not yet committed: its table number.
  long flush_in_progress() const {
    for (const auto& [table, done] : flushes_)
      if (!done) return table;
    return -1;
  }
  long snapshot_in_progress() const { return snapshot_seq_; }
  // The kids of the signing key files (or their temporary files) that
  // appeared since arm().
  const std::set<std::string>& new_kids() const { return new_keys_; }

 private:
  void read_log() {
    const int fd = ::open((data_ + "/log/LOG").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, offset_);
      if (n <= 0) break;
      offset_ += n;
      partial_.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = partial_.substr(start, nl - start);
      // RocksDB: "[cf] [JOB n] Level-0 flush table #N: started", then
      // "[cf] Level-0 commit table #N: memtable #M done" once in the MANIFEST.
      if (line.find(": started") != std::string::npos) {
        if (const long t = number_after(line, "flush table #"); t >= 0) flushes_[t] = false;
      } else if (line.find(" done") != std::string::npos) {
        if (const long t = number_after(line, "commit table #"); t >= 0) flushes_[t] = true;
      }
    }
    partial_.erase(0, start);
  }

  std::string data_;
  off_t offset_ = 0;
  std::string partial_;
  std::map<long, bool> flushes_;  // table number -> committed
  long snapshot_seq_ = -1;
  std::set<std::string> keys_;
  std::set<std::string> new_keys_;
};

class PowerLossTest {
 public:
  explicit PowerLossTest(const Options& o) : o_(o), rng_(o.seed), watch_(fs_ / "data") {
    if (o_.mutation == "eatmydata" || o_.mutation == "eatmydata-server") {
      if (::access(kEatMyData, R_OK) != 0)
        throw std::runtime_error(std::string("no ") + kEatMyData + " (tools/install-deps test)");
      // ASan wants its runtime first among the libraries; libeatmydata is
      // preloaded before it, which is harmless here.
      std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
      server_env_ = {
          {"LD_PRELOAD", kEatMyData},
          {"ASAN_OPTIONS", (asan.empty() ? "" : asan + ":") + "verify_asan_link_order=0"}};
      if (o_.mutation == "eatmydata") cli_env_ = server_env_;
    } else if (!o_.mutation.empty()) {
      throw std::runtime_error("unknown mutation " + o_.mutation);
    }
  }

  int run() {
    init();
    bool up = start_server("after init");
    for (int c = 0; up && c < o_.cuts; ++c) {
      const CutAt kind = kKinds[c % std::size(kKinds)];
      const std::string when = "cut " + std::to_string(c + 1) + " (" + kind_name(kind) + ")";
      if (c == 0) setup();
      load_and_cut(kind);
      check(when);
      up = false;
      if (o_.expect_loss && lost_ > 0) break;  // the mutation is caught
      fs_.mount();
      // The server must start on what survived, every time: it takes the
      // next load, or it is the last one.
      up = start_server("after " + when);
      if (violations_ > 0 && !o_.verbose) break;
    }
    if (up) {
      const int code = server_->stop();
      if (code != 0)
        violation("the restarted server exited " + std::to_string(code) + " on SIGTERM");
      check_stderr("the restarted server", server_->stderr_text());
      server_.reset();
    }
    if (fs_.mounted()) fs_.unmount();
    report();
    if (o_.expect_loss) {
      if (lost_ > 0) {
        std::cout << "power-loss test: the mutation " << o_.mutation << " was detected: " << lost_
                  << " acknowledged events lost" << std::endl;
        return 0;
      }
      std::cerr << "power-loss test: the mutation " << o_.mutation
                << " was NOT detected (no acknowledged event lost); seed " << o_.seed << std::endl;
      return 1;
    }
    if (violations_ > 0) {
      std::cerr << "power-loss test FAILED; rerun with --seed " << o_.seed << " --cuts " << o_.cuts
                << std::endl;
    }
    return violations_ == 0 ? 0 : 1;
  }

 private:
  std::string data() const { return fs_ / "data"; }
  std::string durable_data() const { return fs_.backing() + "/data"; }

  void violation(const std::string& what) {
    ++violations_;
    std::cerr << "VIOLATION: " << what << std::endl;
  }

  void ack(const std::string& type, const std::string& value, const std::string& what) {
    std::lock_guard lock(mu_);
    acks_.push_back(Ack{type, value, what});
    if (type == "signing_key.rotated") rotated_.insert(value);
  }

  // A CLI run that must exit 0 without a sanitizer report; nullopt otherwise.
  std::optional<CommandResult> cli(const std::vector<std::string>& args, const std::string& when) {
    auto r = run_latchkey(args, cli_env_);
    ++cli_runs_;
    check_stderr(when + ": latchkey " + args[0], r.err);
    if (r.exit_code != 0) {
      violation(when + ": latchkey " + args[0] + " exited " + std::to_string(r.exit_code) + ": " +
                r.err.substr(0, 500));
      return std::nullopt;
    }
    return r;
  }

  void check_stderr(const std::string& who, const std::string& err) {
    if (sanitizer_report(err)) violation(who + " reported:\n" + err.substr(0, 4000));
  }

  void init() {
    auto r = run_latchkey({"init", "--data", data()}, cli_env_);
    if (r.exit_code != 0 || sanitizer_report(r.err))
      throw std::runtime_error("latchkey init failed: " + r.err);
    const auto j = nlohmann::json::parse(r.out);
    admin_ = Key{j["apikey"], j["secretkey"]};
    // init printed the admin's key: a promise like any 2xx.
    ack("service_account.created", j["principal_id"], "init: the admin");
    ack("key.created", admin_.apikey, "init: the admin's key");
  }

  bool start_server(const std::string& when) {
    ServerProcess::Options so;
    so.data_dir = data();
    so.env = server_env_;
    so.serve_args = {"--set", "data.snapshot_every_events=" + std::to_string(o_.snapshot_every),
                     "--set", "data.write_buffer_bytes=" + std::to_string(o_.write_buffer_bytes),
                     "--set", "checkpoints.every_events=50", "--set", "server.access_log=off",
                     // Archiving all along: events older than ~1 s move to
                     // segments every second (docs/data-lifecycle.md).
                     "--set", "data.archive_after_days=0.00001", "--set",
                     "data.archive_check_seconds=1", "--set", "data.archive_min_events=1", "--set",
                     "server.metrics_public=true"};
    try {
      server_.emplace(so);
    } catch (const std::exception& e) {
      violation(when + ": the server does not start: " + std::string(e.what()).substr(0, 2000));
      server_.reset();
      return false;
    }
    ++server_starts_;
    // It serves, and a key that survived logs in.
    const auto health = get(server_->url("/healthz"));
    if (health.status != 200)
      violation(when + ": /healthz answered " + std::to_string(health.status));
    const Key k = alive_.empty() ? admin_ : alive_[rng_() % alive_.size()];
    if (!login(k, "login with a surviving key"))
      violation(when + ": a surviving key cannot log in");
    check_erasures(when);
    return true;
  }

  // Once a server has started, every acknowledged erasure is complete, even
  // one the cut stopped between its event and the key's destruction: no
  // user.created of an erased user reads in clear.
  void check_erasures(const std::string& when) {
    std::set<std::string> erased;
    {
      std::lock_guard lock(mu_);
      erased = erased_;
    }
    if (erased.empty()) return;
    const auto created =
        cli({"audit", "--data", data(), "--type", "user.created", "--format", "ndjson"}, when);
    if (!created) return;
    std::size_t seen = 0;
    std::istringstream lines(created->out);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      const auto e = nlohmann::json::parse(line);
      if (!erased.count(e["data"]["id"].get<std::string>())) continue;
      ++seen;
      for (const char* field : {"name", "email"}) {
        if (e["data"][field] != "[erased]")
          violation(when + ": erased user " + e["data"]["id"].get<std::string>() + " shows its " +
                    field + " after a restart");
      }
    }
    erasures_checked_ = seen;
    // Erasures the cut had stopped half-way, finished by this start.
    const std::string err = server_->stderr_text();
    for (std::size_t at = 0; (at = err.find("erasure finished", at)) != std::string::npos; ++at)
      ++erasures_finished_at_start_;
  }

  // POST /iam/login; on 200 the token's jti is acknowledged.
  std::optional<std::string> login(const Key& k, const std::string& what) {
    const auto r =
        post_json(server_->url("/iam/login"),
                  {{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", k.secretkey}});
    if (r.status != 200) return std::nullopt;
    const std::string token = r.json()["access_token"];
    ack("token.issued", jwt_part(token, 1)["jti"], what);
    return token;
  }

  void setup() {
    const auto token = login(admin_, "admin login");
    if (!token) throw std::runtime_error("the admin cannot log in");
    // Short tokens keep the snapshots small; no key limit in the way.
    patch_settings(*server_, *token,
                   {{"token_lifetime_seconds", 60}, {"max_keys_per_principal", 1000}});
    for (int i = 0; i < 3; ++i) {
      const IssuedKey k = new_service_account_key(*server_, *token, "loader");
      ack("service_account.created", k.principal_id, "setup: create service account");
      ack("key.created", k.apikey, "setup: create key");
      loaders_.push_back(Key{k.apikey, k.secretkey});
    }
    alive_ = loaders_;
  }

  // A request of the load; the body of a 2xx, or nullopt. A refusal before
  // the cut began is a violation: nothing should fail then.
  std::optional<nlohmann::json> call(const std::string& what, const std::string& method,
                                     const std::string& path, const nlohmann::json& body,
                                     const std::string& token, long want) {
    HttpOptions h;
    h.timeout_ms = 20000;
    h.headers = {"X-Request-Id: " + request_id("powerloss")};
    if (!token.empty()) h.headers.push_back("Authorization: Bearer " + token);
    if (!body.is_null()) h.headers.push_back("Content-Type: application/json");
    HttpResponse r;
    try {
      r = http(method, server_->url(path), body.is_null() ? "" : body.dump(), h);
    } catch (const std::exception&) {
      return std::nullopt;  // cut off
    }
    if (r.status == want) return r.body.empty() ? nlohmann::json() : r.json();
    ++refused_;
    if (!cutting_) {
      violation(what + " answered " + std::to_string(r.status) +
                " before the cut: " + r.body.substr(0, 300));
    }
    return std::nullopt;
  }

  void login_worker(int w) {
    std::mt19937 rng(o_.seed * 7919u + static_cast<unsigned>(cuts_ * 100 + w));
    for (int i = 0; running_ && i < o_.max_requests; ++i) {
      const Key& k = loaders_[rng() % loaders_.size()];
      const auto r = call(
          "login", "POST", "/iam/login",
          {{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", k.secretkey}}, "", 200);
      if (!r) return;
      ack("token.issued", jwt_part((*r)["access_token"], 1)["jti"], "login");
    }
  }

  void admin_worker(int w, const std::string& token) {
    std::mt19937 rng(o_.seed * 104729u + static_cast<unsigned>(cuts_ * 100 + w));
    for (int i = 0; running_ && i < o_.max_requests; i += 3) {
      const auto user =
          call("create user", "POST", "/iam/users",
               {{"name", "powerloss"}, {"email", "powerloss@example.com"}}, token, 201);
      if (!user) return;
      const std::string id = (*user)["id"];
      ack("user.created", id, "create user");
      const std::string keys = "/iam/users/" + id + "/keys";
      const auto key = call("create key", "POST", keys, nlohmann::json::object(), token, 201);
      if (!key) return;
      const Key k{(*key)["apikey"], (*key)["secretkey"]};
      ack("key.created", k.apikey, "create key");
      switch (erase_often_ ? 2 : rng() % 4) {
        case 0:
        case 1:
          if (!call("delete key", "DELETE", keys + "/" + k.apikey, nullptr, token, 204)) return;
          ack("key.deleted", k.apikey, "delete key");
          break;
        case 2:
          if (!erase_often_ && rng() % 2 == 0) {
            if (!call("delete user", "DELETE", "/iam/users/" + id, nullptr, token, 204)) return;
            ack("user.deleted", id, "delete user");
          } else {
            {
              std::lock_guard lock(mu_);
              erasing_.insert(id);
            }
            const bool erased =
                call("erase user", "POST", "/iam/users/" + id + "/erase", nullptr, token, 200)
                    .has_value();
            {
              std::lock_guard lock(mu_);
              erasing_.erase(id);
            }
            if (!erased) return;
            ack("user.deleted", id, "erase user");
            ack("principal.erased", id, "erase user");
            std::lock_guard lock(mu_);
            erased_.insert(id);
          }
          break;
        default: {
          std::lock_guard lock(mu_);
          alive_.push_back(k);  // never deleted: it must log in after any later cut
        }
      }
    }
  }

  void rotator(const std::string& token, int min_ms, int max_ms) {
    std::mt19937 rng(o_.seed * 31u + static_cast<unsigned>(cuts_));
    std::uniform_int_distribution<int> pause(min_ms, max_ms);
    for (int i = 0; running_ && i < o_.max_requests; ++i) {
      for (auto until = Clock::now() + std::chrono::milliseconds(pause(rng));
           running_ && Clock::now() < until;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!running_) return;
      const auto r =
          call("rotate signing key", "POST", "/iam/signing-keys/rotate", nullptr, token, 201);
      if (!r) return;
      ack("signing_key.rotated", (*r)["kid"], "rotate signing key");
    }
  }

  void load_and_cut(CutAt kind) {
    const auto token = login(admin_, "admin login");
    if (!token) throw std::runtime_error("the admin cannot log in");
    running_ = true;
    cutting_ = false;
    std::vector<std::thread> threads;
    for (int w = 0; w < o_.login_workers; ++w) threads.emplace_back([this, w] { login_worker(w); });
    for (int w = 0; w < o_.admin_workers; ++w)
      threads.emplace_back([this, w, t = *token] { admin_worker(w, t); });
    // A rotation now and then; often when a rotation is the target.
    const bool rotating = kind == CutAt::rotation;
    erase_often_ = kind == CutAt::erasure;
    threads.emplace_back(
        [this, t = *token, rotating] { rotator(t, rotating ? 30 : 200, rotating ? 150 : 800); });

    std::uniform_int_distribution<int> delay(o_.min_ms, o_.max_ms);
    const int wait_ms = delay(rng_);
    watch_.arm();
    std::this_thread::sleep_for(
        std::chrono::milliseconds(kind == CutAt::random ? wait_ms : wait_ms / 2));
    bool hit = kind == CutAt::random;
    const auto deadline = Clock::now() + std::chrono::milliseconds(o_.trigger_timeout_ms);
    for (;;) {
      watch_.poll();
      if (hit || Clock::now() > deadline) break;
      switch (kind) {
        case CutAt::flush: hit = watch_.flush_in_progress() >= 0; break;
        case CutAt::snapshot: hit = watch_.snapshot_in_progress() >= 0; break;
        case CutAt::rotation: hit = !rotation_in_progress().empty(); break;
        case CutAt::erasure: {
          std::lock_guard lock(mu_);
          hit = !erasing_.empty();
          break;
        }
        case CutAt::archive: hit = archiving(); break;
        case CutAt::random: break;
      }
      if (hit) break;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    // The power cut: the server dies and what was not synced is gone, at
    // the same instant. Responses already received stand.
    cutting_ = true;
    {
      // Erase requests in flight at the cut (their threads forget them as
      // their connections drop).
      std::lock_guard lock(mu_);
      at_cut_erasing_ = erasing_;
    }
    ::kill(server_->pid(), SIGKILL);
    fs_.cut();
    server_->stop(SIGKILL);  // reaps it
    running_ = false;
    for (auto& t : threads) t.join();
    check_stderr("the killed server", server_->stderr_text());
    server_.reset();
    ++cuts_;
    ++by_kind_[kind];
    if (!hit) {
      ++missed_;
      std::cout << "cut " << cuts_ << ": no " << kind_name(kind) << " within "
                << o_.trigger_timeout_ms << " ms; cut anyway" << std::endl;
    }
    at_cut_flush_ = watch_.flush_in_progress();
    at_cut_snapshot_ = watch_.snapshot_in_progress();
    at_cut_kid_ = rotation_in_progress();
    std::lock_guard lock(mu_);
    erasing_.clear();
  }

  // Whether the server is writing archive segments now (its /metrics).
  bool archiving() {
    const auto r = get(server_->url("/metrics"));
    const std::string name = "\nlatchkey_archive_run_total_events ";
    const auto at = r.body.find(name);
    if (at == std::string::npos) return false;
    return std::strtod(r.body.c_str() + at + name.size(), nullptr) > 0;
  }

  // A signing key whose file is there and whose rotation was not yet
  // acknowledged: the kid, or "".
  std::string rotation_in_progress() {
    std::lock_guard lock(mu_);
    for (const auto& kid : watch_.new_kids()) {
      if (!rotated_.count(kid)) return kid;
    }
    return "";
  }

  void check(const std::string& when) {
    const std::string d = durable_data();
    if (const auto v = cli({"verify", "--data", d, "--project", "default"}, when)) {
      // How much of the chain it read from archive segments (a cut of the
      // log a power cut stopped is finished by the next start's archiver).
      const std::string name = "archives: ";
      if (const auto at = v->out.find(name); at != std::string::npos) {
        archived_most_ = std::max<std::uint64_t>(
            archived_most_, std::strtoull(v->out.c_str() + at + name.size(), nullptr, 10));
        ++checks_with_archives_;
      }
    }
    cli({"verify", "--data", d}, when);
    // Every event, by type: the value of the field a response names.
    std::map<std::string, std::set<std::string>> found;
    if (const auto all = cli({"audit", "--data", d, "--format", "ndjson"}, when)) {
      std::istringstream lines(all->out);
      for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        const auto e = nlohmann::json::parse(line);
        const std::string type = e["type"];
        if (const auto f = kAudited.find(type); f != kAudited.end())
          found[type].insert(e["data"][f->second].get<std::string>());
      }
    }
    // The tokens again through the type index, the audit query of
    // GET /iam/audit?type=token.issued: the same jtis.
    if (const auto tokens =
            cli({"audit", "--data", d, "--type", "token.issued", "--format", "ndjson"}, when)) {
      std::set<std::string> jtis;
      std::istringstream lines(tokens->out);
      for (std::string line; std::getline(lines, line);) {
        if (!line.empty())
          jtis.insert(nlohmann::json::parse(line)["data"]["jti"].get<std::string>());
      }
      if (jtis != found["token.issued"]) {
        violation(when + ": audit --type token.issued finds " + std::to_string(jtis.size()) +
                  " tokens, the whole log " + std::to_string(found["token.issued"].size()));
      }
    }
    std::size_t lost_now = 0;
    {
      std::lock_guard lock(mu_);
      for (const auto& a : acks_) {
        if (found[a.type].count(a.value)) continue;
        if (++lost_now <= 10)
          violation(when + ": acknowledged and lost: " + a.what + " (" + a.type + " " + a.value +
                    ")");
      }
      checked_ = acks_.size();
      acked_by_type_.clear();
      for (const auto& a : acks_) ++acked_by_type_[a.type];
    }
    if (lost_now > 10) violation(when + ": ... " + std::to_string(lost_now) + " lost in all");
    lost_ = std::max(lost_, lost_now);
    // The server needs the private key of every signing key the log announces.
    for (const auto& kid : found["signing_key.rotated"]) {
      if (!fs::exists(d + "/signing/" + kid + ".pem"))
        violation(when + ": the log announces signing key " + kid + " but its file is not on disk");
    }
    // Where the cut landed.
    std::string where;
    if (at_cut_flush_ >= 0) {
      ++in_flush_;
      char name[32];
      std::snprintf(name, sizeof name, "/log/%06ld.sst", at_cut_flush_);
      where += " inside the flush of table " + std::to_string(at_cut_flush_) +
               (fs::exists(d + name) ? " (table on disk, not committed)" : " (table not on disk)");
    }
    if (at_cut_snapshot_ >= 0) {
      ++in_snapshot_;
      const long newest = newest_snapshot(d);
      if (newest < at_cut_snapshot_) ++snapshot_lost_;
      where += " inside the snapshot at seq " + std::to_string(at_cut_snapshot_) +
               (newest < at_cut_snapshot_ ? " (lost; newest on disk " + std::to_string(newest) + ")"
                                          : " (completed)");
    }
    if (!at_cut_erasing_.empty()) {
      ++in_erasure_;
      std::size_t recorded = 0;
      for (const auto& id : at_cut_erasing_) {
        if (!found["principal.erased"].count(id)) continue;
        // Not acknowledged, but in the log: the next start must finish it.
        ++recorded;
        std::lock_guard lock(mu_);
        erased_.insert(id);
      }
      where += " inside " + std::to_string(at_cut_erasing_.size()) + " erasure(s) (" +
               std::to_string(recorded) + " with principal.erased in the log)";
    }
    if (!at_cut_kid_.empty()) {
      ++in_rotation_;
      const bool file = fs::exists(d + "/signing/" + at_cut_kid_ + ".pem");
      const bool event = found["signing_key.rotated"].count(at_cut_kid_) > 0;
      where += std::string(" inside the rotation to ") + at_cut_kid_ + " (key file " +
               (file ? "on disk" : "not on disk") + ", event " +
               (event ? "in the log" : "not in the log") + ")";
    }
    std::cout << when << ":"
              << (where.empty() ? " between flushes, snapshots and rotations" : where) << "; "
              << checked_ << " acknowledged events checked, " << lost_now << " lost" << std::endl;
  }

  // The newest snapshot in the durable log, or -1 (none, or no log).
  static long newest_snapshot(const std::string& data_dir) {
    auto log = events::open_rocksdb_log(data_dir + "/log", events::OpenMode::read_only);
    if (!log) return -1;
    auto s = (*log)->find_snapshot(UINT64_MAX);
    if (!s || !*s) return -1;
    return static_cast<long>((*s)->seq);
  }

  void report() {
    std::cout << "power-loss test: seed " << o_.seed << "; " << cuts_ << " cuts (";
    bool first = true;
    for (const auto kind : kKinds) {
      std::cout << (first ? "" : ", ") << by_kind_[kind] << " " << kind_name(kind);
      first = false;
    }
    std::cout << "; " << missed_ << " aimed cuts found nothing to aim at); landed inside "
              << in_flush_ << " memtable flushes, " << in_snapshot_ << " snapshot writes ("
              << snapshot_lost_ << " of them lost), " << in_erasure_ << " erasures and "
              << in_rotation_ << " signing-key rotations; " << erasures_checked_
              << " erased users read [erased] after the last start (" << erasures_finished_at_start_
              << " erasures finished by a start); " << checked_ << " acknowledged events checked (";
    first = true;
    for (const auto& [type, n] : acked_by_type_) {
      std::cout << (first ? "" : ", ") << n << " " << type;
      first = false;
    }
    std::cout << "), lost: " << lost_ << "; archives read by verify after " << checks_with_archives_
              << " cuts (up to " << archived_most_ << " events); " << refused_
              << " requests refused; " << server_starts_ << " server starts, " << cli_runs_
              << " CLI runs; " << violations_ << " violations; "
              << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - started_).count()
              << " s" << std::endl;
  }

  Clock::time_point started_ = Clock::now();
  std::uint64_t archived_most_ = 0;  // the most events verify read from archive segments
  int checks_with_archives_ = 0;
  Options o_;
  std::mt19937 rng_;
  PowerlossMount fs_;
  Watch watch_;
  std::map<std::string, std::string> server_env_, cli_env_;  // the mutation's
  std::optional<ServerProcess> server_;
  Key admin_;
  std::vector<Key> loaders_;
  std::mutex mu_;
  std::vector<Ack> acks_;   // GUARDED_BY(mu_)
  std::vector<Key> alive_;  // GUARDED_BY(mu_) once the load runs
  std::atomic<bool> running_{false};
  std::atomic<bool> cutting_{false};
  std::atomic<int> violations_{0};
  std::atomic<std::size_t> refused_{0};
  int cuts_ = 0, missed_ = 0, server_starts_ = 0, cli_runs_ = 0;
  std::map<CutAt, int> by_kind_;
  long at_cut_flush_ = -1, at_cut_snapshot_ = -1;
  std::string at_cut_kid_;
  std::set<std::string> rotated_;  // GUARDED_BY(mu_): kids of acknowledged rotations
  std::set<std::string> erased_;   // GUARDED_BY(mu_): ids of acknowledged erasures
  std::size_t erasures_checked_ = 0;
  std::size_t erasures_finished_at_start_ = 0;
  int in_flush_ = 0, in_snapshot_ = 0, snapshot_lost_ = 0, in_rotation_ = 0, in_erasure_ = 0;
  std::atomic<bool> erase_often_{false};  // a cut aimed at an erasure: erase every user
  std::set<std::string> erasing_;         // GUARDED_BY(mu_): erase requests in flight
  std::set<std::string> at_cut_erasing_;
  std::size_t checked_ = 0, lost_ = 0;
  std::map<std::string, std::size_t> acked_by_type_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "latchkey power-loss test: cut the power under load (powerloss_fs), check what survived"};
  Options o;
  app.add_option("--cuts", o.cuts, "Power cuts (aimed in turn: random, flush, snapshot, rotation)")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (0: random)");
  app.add_option("--min-ms", o.min_ms, "Least load before a cut or its aiming (ms)")
      ->capture_default_str();
  app.add_option("--max-ms", o.max_ms, "Most load before a cut or its aiming (ms)")
      ->capture_default_str();
  app.add_option("--login-workers", o.login_workers, "Threads logging in")->capture_default_str();
  app.add_option("--admin-workers", o.admin_workers, "Threads creating and deleting users and keys")
      ->capture_default_str();
  app.add_option("--snapshot-every", o.snapshot_every, "data.snapshot_every_events of the server")
      ->capture_default_str();
  app.add_option("--write-buffer-bytes", o.write_buffer_bytes,
                 "data.write_buffer_bytes of the server")
      ->capture_default_str();
  app.add_option(
      "--mutation", o.mutation,
      "Break durability on purpose: eatmydata (fsync a no-op in the server and the CLI)");
  app.add_flag("--expect-loss", o.expect_loss,
               "Succeed only if acknowledged events were lost (the mutation was detected)");
  app.add_flag("--verbose", o.verbose, "Keep going after a violation");
  CLI11_PARSE(app, argc, argv);
  if (o.seed == 0) o.seed = std::random_device{}();
  std::cout << "power-loss test: seed " << o.seed << std::endl;
  try {
    PowerLossTest t(o);
    return t.run();
  } catch (const std::exception& e) {
    std::cerr << "power-loss test: " << e.what() << " (seed " << o.seed << ")" << std::endl;
    return 2;
  }
}
