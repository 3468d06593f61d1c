#include "tests/support/server_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

namespace latchkey::test {

std::string latchkey_binary() {
  if (const char* b = std::getenv("LATCHKEY_BIN"); b && *b) return b;
  return LATCHKEY_BIN;
}

CommandResult run_latchkey(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env) {
  std::vector<std::string> full{latchkey_binary()};
  full.insert(full.end(), args.begin(), args.end());
  return run_command(full, env);
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
  std::vector<std::string> args{latchkey_binary(), "serve",    "--data",
                                data_dir_,         "--listen", "127.0.0.1:0"};
  args.insert(args.end(), options_.serve_args.begin(), options_.serve_args.end());
  std::map<std::string, std::string> env = options_.env;
  if (!env.count("LATCHKEY_SERVER_ACCESS_LOG")) env["LATCHKEY_SERVER_ACCESS_LOG"] = "stdout";
  pid_ = child_detail::spawn(args, env, out_path_, err_path_);
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
      throw std::runtime_error("latchkey serve exited: " + err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  child_detail::wait_for(pid_);
  pid_ = -1;
  throw std::runtime_error("latchkey serve did not start: " + read_file(err_path_));
}

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const int code = child_detail::wait_for(pid_);
  pid_ = -1;
  return code;
}

std::optional<int> ServerProcess::exited() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return child_detail::exit_code(status);
}

std::string ServerProcess::url(const std::string& path) const {
  return std::string(options_.https ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
         path;
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
