// Storage faults, for real: the data directory lives on a small tmpfs, which
// the test fills up with a filler file while the server runs. While the disk
// is full every changing request and every login answers 503 unavailable,
// reads keep working and /readyz says 503; when the filler is removed the
// server recovers by itself, without a restart. Afterwards the log holds
// every request that was acknowledged and none that got a 503, and verifies.
//
// Mounting needs root, or a user and mount namespace: ctest runs this suite
// under `unshare -rm` when it is not root (tests/reliability/CMakeLists.txt).
// LATCHKEY_STORAGE_CYCLES sets how many fill/free cycles run (default 2).
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/reliability/helpers.h"
#include "tests/support/http_client.h"
#include "tests/support/server_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::test;
using namespace std::chrono_literals;

namespace {

// A tmpfs of `size` mounted on a fresh directory; unmounted when it dies.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) {
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
      BOOST_FAIL("cannot mount a tmpfs on " << dir_.path() << ": " << std::strerror(errno)
                                            << " (run as root, or under `unshare -rm`)");
    }
  }
  ~Tmpfs() { ::umount2(dir_.path().c_str(), MNT_DETACH); }
  std::string operator/(const std::string& name) const { return dir_ / name; }

 private:
  TempDir dir_;
};

std::uint64_t free_bytes(const std::string& path) {
  struct statvfs s {};
  ::statvfs(path.c_str(), &s);
  return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
}

// Appends to `path` until the file system is full. Returns the bytes added.
std::uint64_t fill_up(const std::string& path) {
  // Runs on a helper thread too: no Boost.Test assertions here.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  static const std::string chunk(1 << 20, '\0');
  std::uint64_t total = 0;
  for (std::size_t size : {std::size_t{1} << 20, std::size_t{4096}, std::size_t{1}}) {
    for (;;) {
      const ssize_t n = ::write(fd, chunk.data(), size);
      if (n <= 0) break;
      total += static_cast<std::uint64_t>(n);
    }
  }
  ::close(fd);
  return total;
}

struct Sent {
  std::string rid;
  std::string what;
  long status = 0;
  nlohmann::json body;
};

class Client {
 public:
  Client(const ServerProcess& server, std::string token)
      : server_(server), token_(std::move(token)) {}

  Sent send(const std::string& what, const std::string& method, const std::string& path,
            const nlohmann::json& body = nullptr, bool auth = true) {
    Sent s{request_id("disk"), what, 0, nullptr};
    HttpOptions o;
    o.headers = {"X-Request-Id: " + s.rid};
    if (auth) o.headers.push_back("Authorization: Bearer " + token_);
    if (!body.is_null()) o.headers.push_back("Content-Type: application/json");
    const auto r = http(method, server_.url(path), body.is_null() ? "" : body.dump(), o);
    s.status = r.status;
    if (!r.body.empty()) s.body = nlohmann::json::parse(r.body, nullptr, false);
    BOOST_TEST(r.header("x-request-id") == s.rid);
    if (r.status == 503) {
      BOOST_TEST(s.body.value("error", "") == "unavailable", what << ": " << r.body);
      BOOST_TEST(!r.header("retry-after").empty());
    }
    sent_.push_back(s);
    return s;
  }
  const std::vector<Sent>& sent() const { return sent_; }

 private:
  const ServerProcess& server_;
  std::string token_;
  std::vector<Sent> sent_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(storage_faults)

BOOST_AUTO_TEST_CASE(a_full_disk_answers_503_keeps_reads_loses_nothing_and_recovers_by_itself) {
  int cycles = 2;
  if (const char* c = std::getenv("LATCHKEY_STORAGE_CYCLES")) cycles = std::max(1, std::atoi(c));
  Tmpfs disk("24m");
  const std::string data = disk / "data";
  const std::string filler = disk / "filler";
  const auto init = run_latchkey({"init", "--data", data});
  BOOST_REQUIRE_MESSAGE(init.exit_code == 0, init.err);
  const auto admin = nlohmann::json::parse(init.out);
  ServerProcess::Options options;
  options.data_dir = data;
  ServerProcess server(options);
  const std::string token = server.login(admin["apikey"], admin["secretkey"]);
  Client c(server, token);
  // Failed logins below must not lock out the test's own address.
  patch_settings(server, token,
                 {{"lockout_threshold", 1000},
                  {"lockout_source_threshold", 1000000},
                  {"max_keys_per_principal", 1000}});

  // Things to change while the disk is full: every attempt needs its own
  // target, since an attempt may succeed (RocksDB may find room) and a
  // repeated change that changes nothing appends nothing.
  auto new_sa = [&](const std::string& name) {
    const auto s = c.send("setup", "POST", "/iam/service-accounts", {{"name", name}});
    BOOST_REQUIRE_EQUAL(s.status, 201);
    return s.body["id"].get<std::string>();
  };
  auto new_key = [&](const std::string& sa) {
    const auto s =
        c.send("setup", "POST", "/iam/service-accounts/" + sa + "/keys", nlohmann::json::object());
    BOOST_REQUIRE_EQUAL(s.status, 201);
    return std::pair{s.body["apikey"].get<std::string>(), s.body["secretkey"].get<std::string>()};
  };
  const std::string home = new_sa("home");
  const auto [apikey, secretkey] = new_key(home);
  const nlohmann::json good_login = {
      {"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}};

  using Attempt = std::function<Sent(int)>;  // the n-th attempt of one kind of change
  struct Kind {
    std::string name;
    Attempt attempt;
    bool may_need_no_event = false;  // a failed login that is not recorded needs no append
  };
  std::vector<std::string> doomed;      // service accounts to delete
  std::vector<std::string> disposable;  // keys (of `home`'s sibling) to disable
  std::string sibling;
  int serial = 0;
  std::vector<Kind> kinds = {
      {"create user",
       [&](int) {
         return c.send("create user", "POST", "/iam/users",
                       {{"name", "Ann"}, {"email", "ann@example.com"}});
       }},
      {"create service account",
       [&](int) {
         return c.send("create service account", "POST", "/iam/service-accounts", {{"name", "s"}});
       }},
      {"create key",
       [&](int) {
         return c.send("create key", "POST", "/iam/service-accounts/" + sibling + "/keys",
                       nlohmann::json::object());
       }},
      {"disable key",
       [&](int n) {
         return c.send("disable key", "POST",
                       "/iam/service-accounts/" + home + "/keys/" +
                           disposable.at(static_cast<std::size_t>(n)) + "/disable",
                       nlohmann::json::object());
       }},
      {"change settings",
       [&](int) {
         return c.send("change settings", "PATCH", "/iam/settings",
                       {{"token_lifetime_seconds", 600 + ++serial}});
       }},
      {"delete service account",
       [&](int n) {
         return c.send("delete service account", "DELETE",
                       "/iam/service-accounts/" + doomed.at(static_cast<std::size_t>(n)));
       }},
      {"rotate signing key",
       [&](int) { return c.send("rotate signing key", "POST", "/iam/signing-keys/rotate"); }},
      {"audit read (recorded)",
       [&](int) { return c.send("audit read", "GET", "/iam/audit?limit=5"); }},
      {"login", [&](int) { return c.send("login", "POST", "/iam/login", good_login, false); }},
      {"login with a wrong secret",
       [&](int) {
         return c.send("login with a wrong secret", "POST", "/iam/login",
                       {{"auth_mode", "apikey"},
                        {"apikey", apikey},
                        {"secretkey", "lks_" + std::string(72, '0')}},
                       false);
       },
       true},
  };
  constexpr int kMaxAttempts = 40;

  std::size_t refused = 0, acked_during = 0, faults = 0;
  double worst_recovery = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    BOOST_TEST_CONTEXT("cycle " << cycle) {
      sibling = new_sa("sibling");
      doomed.clear();
      disposable.clear();
      for (int i = 0; i < kMaxAttempts; ++i) doomed.push_back(new_sa("doomed"));
      for (int i = 0; i < 9; ++i) disposable.push_back(new_key(home).first);
      // ---- the fault: keep the disk full. RocksDB frees a little when it
      // reopens its files to recover (a preallocated MANIFEST), so a
      // thread keeps taking whatever becomes free.
      std::atomic<bool> keep_full{true};
      fill_up(filler);
      BOOST_REQUIRE(free_bytes(disk / "") < 4096u);
      ++faults;
      std::thread filler_thread([&] {
        while (keep_full) {
          fill_up(filler);
          std::this_thread::sleep_for(1ms);
        }
      });
      // Every kind of change answers 503 while the disk is full; one that
      // got through (RocksDB found room) is acknowledged and must be durable.
      for (auto& k : kinds) {
        BOOST_TEST_CONTEXT(k.name) {
          bool got_503 = false;
          for (int n = 0; n < kMaxAttempts && !got_503; ++n) {
            if (k.name == "disable key" && n >= static_cast<int>(disposable.size())) break;
            const Sent s = k.attempt(n);
            if (s.status == 503) {
              got_503 = true;
              ++refused;
              BOOST_TEST(get(server.url("/readyz")).status == 503);
            } else {
              const bool fine =
                  (s.status >= 200 && s.status < 300) || (k.may_need_no_event && s.status == 401);
              BOOST_TEST(fine, s.status << " " << s.body.dump());
              acked_during += s.status < 300 ? 1 : 0;
            }
          }
          BOOST_TEST(got_503, "never refused while the disk was full");
        }
      }
      // Reads keep working, and show what was acknowledged.
      for (const std::string& path :
           {std::string("/iam/users"), std::string("/iam/service-accounts"),
            "/iam/service-accounts/" + home + "/keys", std::string("/iam/settings"),
            std::string("/iam/me")}) {
        BOOST_TEST(get(server.url(path), token).status == 200, path);
      }
      BOOST_TEST(get(server.url("/iam/.well-known/jwks.json")).status == 200);
      BOOST_TEST(get(server.url("/healthz")).status == 200);
      const auto intro = post_json(server.url("/iam/introspect"), {{"token", token}}, token);
      BOOST_TEST(intro.status == 200);
      BOOST_TEST(intro.json().value("active", false));

      // ---- the fault clears: the server recovers by itself.
      keep_full = false;
      filler_thread.join();
      std::filesystem::remove(filler);
      const auto cleared = std::chrono::steady_clock::now();
      bool recovered = false;
      while (!recovered && std::chrono::steady_clock::now() - cleared < 30s) {
        const auto s = c.send("create user after", "POST", "/iam/users",
                              {{"name", "after"}, {"email", "after@example.com"}});
        recovered = s.status == 201;
        if (!recovered) std::this_thread::sleep_for(100ms);
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - cleared).count();
      worst_recovery = std::max(worst_recovery, seconds);
      BOOST_REQUIRE_MESSAGE(recovered,
                            "no recovery 30 s after the disk had room again; server log:\n"
                                << server.stderr_text());
      BOOST_TEST(get(server.url("/readyz")).status == 200);
      BOOST_TEST(c.send("login after", "POST", "/iam/login", good_login, false).status == 200);
      BOOST_TEST(c.send("change settings after", "PATCH", "/iam/settings",
                        {{"token_lifetime_seconds", 1200 + cycle}})
                     .status == 200);
    }
  }
  BOOST_TEST_MESSAGE(
      faults << " disk-full faults: " << refused << " requests refused with 503 (" << acked_during
             << " got through and were acknowledged), recovery within " << worst_recovery << " s");

  // ---- nothing acknowledged is lost, nothing refused was written.
  BOOST_TEST(server.stop() == 0);
  const auto verify = run_latchkey({"verify", "--data", data});
  BOOST_TEST(verify.exit_code == 0, verify.err);
  std::map<std::string, std::size_t> events_of;
  for (const auto& e : read_log(data)) {
    ++events_of[e.context.request_id];
  }
  std::size_t acked = 0;
  for (const auto& s : c.sent()) {
    BOOST_TEST_CONTEXT(s.what << " (" << s.rid << ", " << s.status << ")") {
      if (s.status >= 200 && s.status < 300) {
        ++acked;
        BOOST_TEST(events_of[s.rid] >= 1u, "acknowledged but not in the log: " << s.body.dump());
      } else if (s.status == 503) {
        BOOST_TEST(events_of[s.rid] == 0u, "refused with 503 but in the log");
      }
    }
  }
  BOOST_TEST_MESSAGE(acked << " acknowledged requests all in the log; the chain verifies");
  // After a restart the views hold what was acknowledged.
  server.start();
  const auto users =
      get(server.url("/iam/users?limit=500"), server.login(admin["apikey"], admin["secretkey"]))
          .json()["items"];
  std::set<std::string> listed;
  for (const auto& u : users) listed.insert(u["id"].get<std::string>());
  for (const auto& s : c.sent()) {
    if (s.status == 201 && s.what.starts_with("create user"))
      BOOST_TEST(listed.count(s.body["id"].get<std::string>()) == 1u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
