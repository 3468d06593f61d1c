#pragma once
// Other programs for tests: run one to completion (curl, python3, openssl),
// or keep one running beside the test (an SMTP sink), stopped when the object
// dies. Header-only so a test folder can use it without a library change.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

extern char** environ;

namespace latchkey::test {

namespace child_detail {

// The test's environment without the variables in `drop` and, if `drop_prefix`
// is not empty, without any whose name starts with it; then `extra` on top.
inline std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra,
                                                 const std::vector<std::string>& drop,
                                                 const std::string& drop_prefix = {}) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    const std::string name = kv.substr(0, kv.find('='));
    bool skip = extra.count(name) != 0;
    for (const auto& d : drop) skip = skip || name == d;
    skip = skip || (!drop_prefix.empty() && name.rfind(drop_prefix, 0) == 0);
    if (!skip) out.push_back(kv);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

// Where a child runs and what it inherits.
struct SpawnOptions {
  std::string cwd;          // empty: the test's own working directory
  std::string drop_prefix;  // inherited variables with this prefix are not passed on
  int timeout_seconds = 0;  // run_command: killed (SIGKILL) after this long; 0: no limit
};

// out_path and err_path must be absolute when `o.cwd` is given.
inline pid_t spawn(const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env, const std::string& out_path,
                   const std::string& err_path, const SpawnOptions& o = {}) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, o.cwd.c_str());
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Test traffic stays on loopback: no proxy may be configured for children.
  const auto envs = environment_with(
      env, {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"},
      o.drop_prefix);
  std::vector<char*> envp;
  for (const auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args.at(0).c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  return pid;
}

// A wait status as a shell shows it: the exit code, or 128+signal if killed.
inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return exit_code(status);
}

// Waits for `pid` until `deadline`: its exit code (as exit_code(); -1 if it
// cannot be waited for), or nullopt if it is still running then.
inline std::optional<int> wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return exit_code(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace child_detail

// The first sanitizer report in a child's stderr (AddressSanitizer,
// LeakSanitizer, UBSan, ThreadSanitizer), from the start of its line, at most
// 6000 characters of it; empty if there is none. The test suite runs sanitized
// builds: a report is a bug even when the process then exits 0 (UBSan goes on
// after a report unless halt_on_error is set).
inline std::string sanitizer_report(const std::string& err) {
  static const char* const kMarkers[] = {
      "ERROR: AddressSanitizer",       "ERROR: LeakSanitizer",
      "AddressSanitizer:DEADLYSIGNAL", "WARNING: ThreadSanitizer",
      "ERROR: ThreadSanitizer",        "runtime error:",
      "SUMMARY: AddressSanitizer",     "SUMMARY: LeakSanitizer",
      "SUMMARY: ThreadSanitizer",      "SUMMARY: UndefinedBehaviorSanitizer"};
  std::size_t first = std::string::npos;
  for (const char* m : kMarkers) first = std::min(first, err.find(m));
  if (first == std::string::npos) return {};
  const auto line = err.rfind('\n', first);
  return err.substr(line == std::string::npos ? 0 : line + 1, 6000);
}

struct RunResult {
  int exit_code = -1;  // 128+signal if killed; -1 if it ran out of time (then killed)
  std::string out;
  std::string err;
};

// Runs args[0] (looked up on PATH) with args to completion.
inline RunResult run_command(const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env = {},
                             const child_detail::SpawnOptions& options = {}) {
  TempDir tmp;
  const pid_t pid = child_detail::spawn(args, env, tmp / "out", tmp / "err", options);
  RunResult r;
  bool timed_out = false;
  if (options.timeout_seconds > 0) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
    int status = 0;
    pid_t done = 0;
    while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done == pid) {
      r.exit_code = child_detail::exit_code(status);
    } else {
      ::kill(pid, SIGKILL);
      child_detail::wait_for(pid);
      timed_out = true;
    }
  } else {
    r.exit_code = child_detail::wait_for(pid);
  }
  r.out = read_file(tmp / "out");
  r.err = read_file(tmp / "err");
  if (timed_out) {
    r.exit_code = -1;
    r.err += "\n(still running after " + std::to_string(options.timeout_seconds) + " s: killed)";
  }
  return r;
}

// A program running beside the test; SIGTERM and wait when the object dies.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {}) {
    pid_ = child_detail::spawn(args, env, tmp_ / "out", tmp_ / "err");
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Whether it is still running (false once it exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const int code = child_detail::wait_for(pid_);
    pid_ = -1;
    return code;
  }
  std::string out() const { return read_file(tmp_ / "out"); }
  std::string err() const { return read_file(tmp_ / "err"); }

 private:
  TempDir tmp_;
  pid_t pid_ = -1;
};

// A self-signed certificate for 127.0.0.1, localhost and acme.localhost (a
// project's host in the tests) made with the openssl CLI: DIR/cert.pem and
// DIR/key.pem (EC P-256). Throws if openssl fails.
struct Certificate {
  std::string cert;
  std::string key;
};
inline Certificate make_loopback_certificate(const std::string& dir) {
  Certificate c{dir + "/cert.pem", dir + "/key.pem"};
  const auto r =
      run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                   "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:acme.localhost",
                   "-keyout", c.key, "-out", c.cert});
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.err);
  return c;
}

}  // namespace latchkey::test
