#include "tests/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"

extern char** environ;

namespace latchkey::test {

namespace {

std::vector<std::string> env_with(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string kv(*e);
    const auto name = kv.substr(0, kv.find('='));
    if (!extra.count(name)) out.push_back(kv);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

pid_t spawn_process(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env, const std::string& out_path,
                    const std::string& err_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto envs = env_with(env);
  std::vector<char*> envp;
  for (const auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  return pid;
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return exit_code(status);
}

}  // namespace

std::string latchkey_binary() {
  if (const char* b = std::getenv("LATCHKEY_BIN"); b && *b) return b;
  return LATCHKEY_BIN;
}

CommandResult run_latchkey(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env) {
  TempDir tmp;
  std::vector<std::string> full{latchkey_binary()};
  full.insert(full.end(), args.begin(), args.end());
  const pid_t pid = spawn_process(full, env, tmp / "out", tmp / "err");
  CommandResult r;
  r.exit_code = wait_exit(pid);
  r.out = read_file(tmp / "out");
  r.err = read_file(tmp / "err");
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
  pid_ = spawn_process(args, env, out_path_, err_path_);
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
  wait_exit(pid_);
  pid_ = -1;
  throw std::runtime_error("latchkey serve did not start: " + read_file(err_path_));
}

int ServerProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const int code = wait_exit(pid_);
  pid_ = -1;
  return code;
}

std::optional<int> ServerProcess::exited() {
  if (pid_ <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return exit_code(status);
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
