#include "tests/support/server_process.h"

#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

namespace latchkey::test {

namespace {

ChildFailureReporter& reporter() {
  static ChildFailureReporter r;
  return r;
}

// The children of a test get no LATCHKEY_* variable from the test's own
// environment (a developer's LATCHKEY_SERVER_LISTEN, say): only what the test
// passes, so that every run sees the same configuration.
constexpr const char* kInheritNone = "LATCHKEY_";
// A command that has not finished after this long is hung (or is a server
// that should have refused to start): it is killed and reported.
constexpr int kCommandDeadlineSeconds = 600;

CommandResult run(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env, const std::string& cwd) {
  std::vector<std::string> full{latchkey_binary()};
  full.insert(full.end(), args.begin(), args.end());
  return run_command(full, env,
                     child_detail::SpawnOptions{cwd, kInheritNone, kCommandDeadlineSeconds});
}

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "latchkey";
  for (const auto& a : args) s += " " + a;
  return s;
}

}  // namespace

void set_child_failure_reporter(ChildFailureReporter r) { reporter() = std::move(r); }

void report_child_failure(const std::string& message) {
  if (reporter()) {
    reporter()(message);
  } else {
    BOOST_ERROR(message);
  }
}

bool report_sanitizer_output(const std::string& what, const std::string& err) {
  const std::string report = sanitizer_report(err);
  if (report.empty()) return false;
  report_child_failure(what + " left a sanitizer report on stderr:\n" + report);
  return true;
}

std::string latchkey_binary() {
  if (const char* b = std::getenv("LATCHKEY_BIN"); b && *b) return b;
  return LATCHKEY_BIN;
}

CommandResult run_latchkey(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env, const std::string& cwd) {
  auto r = run(args, env, cwd);
  const std::string what = command_line(args);
  report_sanitizer_output(what, r.err);
  if (r.exit_code != 0)
    report_child_failure(what + " exited " + std::to_string(r.exit_code) + ": " + r.err);
  return r;
}

CommandResult run_latchkey_failing(const std::vector<std::string>& args,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& cwd) {
  auto r = run(args, env, cwd);
  const std::string what = command_line(args);
  report_sanitizer_output(what, r.err);
  if (r.exit_code < 1 || r.exit_code > 127) {
    report_child_failure(what + " should have failed with a message, but exited " +
                         std::to_string(r.exit_code) + ": " + r.err);
  } else if (r.err.empty()) {
    report_child_failure(what + " failed (exit " + std::to_string(r.exit_code) +
                         ") without a word on stderr");
  }
  return r;
}

ServerProcess::ServerProcess() : ServerProcess(Options{}) {}

ServerProcess::ServerProcess(Options options) : options_(std::move(options)) {
  temp_.emplace();
  out_path_ = *temp_ / "server.out";
  err_path_ = *temp_ / "server.err";
  if (options_.data_dir.empty()) {
    data_dir_ = *temp_ / "data";
    const auto r = run_latchkey({"init", "--data", data_dir_});
    if (r.exit_code != 0) throw std::runtime_error("latchkey init failed: " + r.err);
    const auto j = nlohmann::json::parse(r.out);
    admin_ = AdminKeys{j["principal_id"], j["apikey"], j["secretkey"]};
    if (j.contains("platform")) {
      const auto& p = j["platform"];
      platform_ = AdminKeys{p["principal_id"], p["apikey"], p["secretkey"]};
    }
  } else {
    data_dir_ = options_.data_dir;
  }
  spawn();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) stop();
}

void ServerProcess::start() {
  if (pid_ > 0) throw std::logic_error("already running");
  spawn();
}

void ServerProcess::spawn() {
  std::vector<std::string> args = options_.prefix;
  args.insert(args.end(), {latchkey_binary(), "serve"});
  if (options_.data_flag) args.insert(args.end(), {"--data", data_dir_});
  if (!options_.listen.empty()) args.insert(args.end(), {"--listen", options_.listen});
  args.insert(args.end(), options_.serve_args.begin(), options_.serve_args.end());
  pid_ = child_detail::spawn(args, options_.env, out_path_, err_path_,
                             child_detail::SpawnOptions{options_.cwd, kInheritNone});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string err = read_file(err_path_);
    std::size_t pos = 0;
    while ((pos = err.find("\"msg\":\"listening\"", pos)) != std::string::npos) {
      const auto start = err.rfind('\n', pos);
      const auto end = err.find('\n', pos);
      const auto line = nlohmann::json::parse(
          err.substr(start == std::string::npos ? 0 : start + 1,
                     end == std::string::npos ? std::string::npos : end - start - 1),
          nullptr, false);
      if (line.is_object() && line.contains("address")) {
        const std::string addr = line["address"];
        port_ = std::stoi(addr.substr(addr.rfind(':') + 1));
        return;
      }
      ++pos;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      // A refusal to start is a clean exit with a message; a crash is not.
      const int code = child_detail::exit_code(status);
      const std::string err_now = read_file(err_path_);
      report_sanitizer_output("latchkey serve (refusing to start)", err_now);
      if (code < 1 || code > 127)
        report_child_failure("latchkey serve ended with status " + std::to_string(code) +
                             " before listening: " + err_now);
      throw std::runtime_error("latchkey serve exited (" + std::to_string(code) + "): " + err_now);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  child_detail::wait_for(pid_);
  pid_ = -1;
  const std::string err = read_file(err_path_);
  report_sanitizer_output("latchkey serve (not started within 60 s)", err);
  throw std::runtime_error("latchkey serve did not start: " + err);
}

void ServerProcess::check_end(int status, bool graceful, const std::string& how) {
  const std::string err = read_file(err_path_);
  const bool reported = report_sanitizer_output("latchkey serve (" + how + ")", err);
  if (graceful && status != 0) {
    report_child_failure("latchkey serve (" + how + ") exited with status " +
                         std::to_string(status) + " instead of 0" +
                         (reported ? std::string(" (see the sanitizer report)")
                                   : "; the end of its stderr:\n" +
                                         err.substr(err.size() > 3000 ? err.size() - 3000 : 0)));
  }
}

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  const std::string how = sig == SIGINT    ? "SIGINT"
                          : sig == SIGTERM ? "SIGTERM"
                                           : "signal " + std::to_string(sig);
  ::kill(pid_, sig);
  auto code = child_detail::wait_until(
      pid_, std::chrono::steady_clock::now() + std::chrono::seconds(kStopDeadlineSeconds));
  if (!code) {
    report_child_failure("latchkey serve did not exit within " +
                         std::to_string(kStopDeadlineSeconds) + " s of " + how + ": killed");
    ::kill(pid_, SIGKILL);
    code = child_detail::wait_for(pid_);
  }
  pid_ = -1;
  check_end(*code, true, how);
  return *code;
}

int ServerProcess::kill_on_purpose() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGKILL);
  const int code = child_detail::wait_for(pid_);
  pid_ = -1;
  check_end(code, false, "SIGKILL on purpose");
  return code;
}

std::optional<int> ServerProcess::exited() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  const int code = child_detail::exit_code(status);
  check_end(code, true, "exited by itself");
  return code;
}

std::string ServerProcess::url(const std::string& path) const {
  // An IPv6 listen address ("[::1]:0") is reached at that address, an
  // IPv4 one at its own address unless it is any or none.
  const std::string& l = options_.listen;
  std::string host = "127.0.0.1";
  if (!l.empty() && l.front() == '[') {
    host = l.substr(0, l.find(']') + 1);
  } else if (const auto colon = l.rfind(':');
             colon != std::string::npos && colon > 0 && l.substr(0, colon) != "0.0.0.0") {
    host = l.substr(0, colon);
  }
  return std::string(options_.https ? "https" : "http") + "://" + host + ":" +
         std::to_string(port_) + path;
}

std::string ServerProcess::login(const std::string& apikey, const std::string& secretkey) const {
  const auto r = post_json(url("/iam/login"),
                           {{"auth_mode", "apikey"}, {"apikey", apikey}, {"secretkey", secretkey}});
  if (r.status != 200)
    throw std::runtime_error("login failed: " + std::to_string(r.status) + " " + r.body);
  return r.json()["access_token"];
}

std::string ServerProcess::admin_token() const { return login(admin_.apikey, admin_.secretkey); }

std::string ServerProcess::stdout_text() const { return read_file(out_path_); }
std::string ServerProcess::stderr_text() const { return read_file(err_path_); }

}  // namespace latchkey::test
