#pragma once
// The real `latchkey` binary in a child process: `latchkey init` on a fresh
// temporary data directory, then `latchkey serve --listen 127.0.0.1:0`. The
// port is read from the server's "listening" log line.
//
// Every way a server or a command ends is checked, and a failed check fails
// the running test (see report_child_failure): a server stopped with SIGTERM
// or SIGINT (by stop(), or by the destructor if the test did not stop it) must
// exit 0 within a generous deadline, and no process may leave a sanitizer
// report on its stderr. The one exemption is explicit: kill_on_purpose(), for
// the tests that crash a server with SIGKILL; even then its stderr is scanned.

#include <sys/types.h>
#include <atomic>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace latchkey::test {

// The path of the latchkey binary under test.
std::string latchkey_binary();

// How a failed check of a child process is reported. By default it is a
// Boost.Test error (BOOST_ERROR) of the running test case, or of the module
// when it happens in a global fixture's teardown, so the test binary exits
// non-zero either way. A program without Boost.Test's runner (the crash test)
// must install its own reporter before it starts anything.
using ChildFailureReporter = std::function<void(const std::string& message)>;
void set_child_failure_reporter(ChildFailureReporter reporter);
void report_child_failure(const std::string& message);

// Reports a sanitizer report found in `err`, the stderr of `what`.
// Returns whether there was one.
bool report_sanitizer_output(const std::string& what, const std::string& err);

using CommandResult = RunResult;
// Runs `latchkey ARGS...` to completion and checks it succeeded: exit status
// 0 and no sanitizer report on its stderr (else report_child_failure). The
// child inherits no LATCHKEY_* variable of the test's environment, only `env`.
CommandResult run_latchkey(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {},
                           const std::string& cwd = {});
// Runs `latchkey ARGS...` that must fail cleanly: an exit status from 1 to 127
// (128 and above is a death by signal: a crash is not a refusal), a message on
// stderr, and no sanitizer report. The caller checks the message.
CommandResult run_latchkey_failing(const std::vector<std::string>& args,
                                   const std::map<std::string, std::string>& env = {},
                                   const std::string& cwd = {});

struct AdminKeys {
  std::string principal_id;
  std::string apikey;
  std::string secretkey;
};

class ServerProcess {
 public:
  struct Options {
    std::vector<std::string> serve_args;  // extra arguments to `serve`
    std::map<std::string, std::string> env;
    std::string data_dir;  // empty: a fresh temporary one, initialised
    bool https = false;    // URLs use https (give --tls-cert/--tls-key in serve_args)
    // `--listen` given to serve; empty: none (the configured or default address).
    std::string listen = "127.0.0.1:0";
    bool data_flag = true;  // false: no --data (the configured or default directory)
    std::string cwd;        // the server's working directory; empty: the test's
    // Put before the command (e.g. NetworkLab::prefix: on a host of a lab);
    // it must exec the server, so that the server keeps its pid.
    std::vector<std::string> prefix;
  };

  // How long a stopped server may take to exit before it counts as hung.
  static constexpr int kStopDeadlineSeconds = 120;

  ServerProcess();
  explicit ServerProcess(Options options);
  // Stops a running server as stop() does, with the same checks.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::string url(const std::string& path = "") const;
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const AdminKeys& admin() const { return admin_; }
  // The platform operator's keys printed by `latchkey init` (under "platform").
  const AdminKeys& platform() const { return platform_; }
  // A fresh admin token from /iam/login.
  std::string admin_token() const;
  // A token for any keys; throws unless the login answers 200.
  std::string login(const std::string& apikey, const std::string& secretkey) const;

  // A graceful stop: SIGTERM (or SIGINT), then waits up to kStopDeadlineSeconds
  // (then SIGKILL). Checks exit status 0 and a stderr free of sanitizer
  // reports, and reports anything else. Returns the exit status (128+signal if
  // killed); -1 if it was not running.
  int stop(int sig = 15);
  // A crash on purpose: SIGKILL, then waits. The exit status (137) is not
  // checked; stderr still is, for a sanitizer report written before the kill.
  int kill_on_purpose();
  // The exit status once the process has exited on its own (it is then
  // reaped), without sending it anything; nullopt while it runs. A process
  // ends gracefully or not at all, so the same checks as stop() apply.
  std::optional<int> exited();
  void start();  // again, on the same data directory
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  void spawn();
  // The checks of a reaped process; `status` is its exit status.
  void check_end(int status, bool graceful, const std::string& how);
  Options options_;
  std::optional<TempDir> temp_;
  std::string data_dir_;
  std::string out_path_, err_path_;
  AdminKeys admin_;
  AdminKeys platform_;
  pid_t pid_ = -1;
  // Read by clients on other threads while a restart (start()) sets it.
  std::atomic<int> port_{0};
};

}  // namespace latchkey::test
