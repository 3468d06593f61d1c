#pragma once
// The real `latchkey` binary in a child process: `latchkey init` on a fresh
// temporary data directory, then `latchkey serve --listen 127.0.0.1:0`. The
// port is read from the server's "listening" log line. Stopped (SIGTERM) when
// the object dies.

#include <sys/types.h>

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

using CommandResult = RunResult;
// Runs `latchkey ARGS...` to completion.
CommandResult run_latchkey(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {});

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
  };

  ServerProcess();
  explicit ServerProcess(Options options);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  std::string url(const std::string& path = "") const;
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  const AdminKeys& admin() const { return admin_; }
  // A fresh admin token from /iam/login.
  std::string admin_token() const;
  // A token for any keys; throws unless the login answers 200.
  std::string login(const std::string& apikey, const std::string& secretkey) const;

  // SIGTERM (or `sig`) and wait; returns the exit status (128+signal if killed).
  int stop(int sig = 15);
  // The exit status once the process has exited on its own (it is then reaped),
  // without sending it anything; nullopt while it runs.
  std::optional<int> exited();
  void start();  // again, on the same data directory
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  void spawn();
  Options options_;
  std::optional<TempDir> temp_;
  std::string data_dir_;
  std::string out_path_, err_path_;
  AdminKeys admin_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace latchkey::test
