#include "tests/support/nats_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/support/child_process.h"
#include "tests/support/network_lab.h"
#include "tests/support/server_process.h"

namespace latchkey::test {
namespace {

// Distinct free loopback ports, found by binding port 0 while all are held.
std::vector<int> free_ports(std::size_t n) {
  std::vector<int> fds, ports;
  for (std::size_t i = 0; i < n; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("no free loopback port");
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (const int fd : fds) ::close(fd);
  return ports;
}

bool accepts(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool have_nats_server() {
  return run_command({"sh", "-c", "command -v nats-server"}).exit_code == 0;
}

NatsCluster::NatsCluster(int servers) : NatsCluster(servers, nullptr) {}

NatsCluster::NatsCluster(int servers, const NetworkLab& lab) : NatsCluster(servers, &lab) {}

NatsCluster::NatsCluster(int servers, const NetworkLab* lab) {
  const auto ports = free_ports(static_cast<std::size_t>(servers) * 3);
  for (int i = 0; i < servers; ++i) {
    Server s;
    s.name = "nats-" + std::to_string(i);
    s.client_port = ports[static_cast<std::size_t>(i) * 3];
    s.route_port = ports[static_cast<std::size_t>(i) * 3 + 1];
    s.monitor_port = ports[static_cast<std::size_t>(i) * 3 + 2];
    s.conf = dir_ / (s.name + ".conf");
    s.out = dir_ / (s.name + ".out");
    s.err = dir_ / (s.name + ".err");
    if (lab != nullptr) {
      s.host = lab->ip(i);
      s.prefix = lab->prefix(i);
    }
    servers_.push_back(s);
  }
  for (auto& s : servers_) {
    std::ofstream c(s.conf);
    c << "server_name: " << s.name << "\n"
      << "listen: " << s.host << ":" << s.client_port << "\n"
      << "http: " << s.host << ":" << s.monitor_port << "\n"
      << "jetstream {\n  store_dir: \"" << (dir_ / s.name) << "\"\n"
      << "  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n"
      << "cluster {\n  name: latchkey-test\n  listen: " << s.host << ":" << s.route_port
      << "\n  routes: [\n";
    for (const auto& o : servers_)
      if (o.name != s.name) c << "    nats-route://" << o.host << ":" << o.route_port << "\n";
    c << "  ]\n}\n";
  }
  for (int i = 0; i < servers; ++i) start(i);
}

NatsCluster::~NatsCluster() {
  for (int i = 0; i < size(); ++i)
    if (running(i)) stop(i);
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(url(i));
  return out;
}

std::string NatsCluster::url(int i) const {
  const Server& s = servers_.at(static_cast<std::size_t>(i));
  return "nats://" + s.host + ":" + std::to_string(s.client_port);
}

std::string NatsCluster::monitor_url(int i, const std::string& path) const {
  const Server& s = servers_.at(static_cast<std::size_t>(i));
  return "http://" + s.host + ":" + std::to_string(s.monitor_port) + path;
}

std::string NatsCluster::name(int i) const { return servers_.at(static_cast<std::size_t>(i)).name; }

int NatsCluster::index_of(const std::string& name) const {
  for (int i = 0; i < size(); ++i)
    if (servers_[static_cast<std::size_t>(i)].name == name) return i;
  return -1;
}

int NatsCluster::monitor_port(int i) const {
  return servers_.at(static_cast<std::size_t>(i)).monitor_port;
}

std::string NatsCluster::stderr_text(int i) const {
  return read_file(servers_.at(static_cast<std::size_t>(i)).err);
}

void NatsCluster::check_stderr(int i) const {
  const std::string err = stderr_text(i);
  for (const char* bad : {"[FTL]", "panic:"})
    if (err.find(bad) != std::string::npos)
      report_child_failure(name(i) + " wrote a fatal line:\n" + err.substr(0, 4000));
}

void NatsCluster::start(int i) {
  Server& s = servers_.at(static_cast<std::size_t>(i));
  if (s.pid > 0) throw std::runtime_error(s.name + " is already running");
  // Appends, so a restarted server's earlier lines stay readable.
  std::vector<std::string> cmd = s.prefix;  // `ip netns exec` execs what follows: same pid
  for (const std::string a : {"sh", "-c", "exec nats-server -c \"$0\" 2>>\"$1\""}) cmd.push_back(a);
  cmd.push_back(s.conf);
  cmd.push_back(s.err);
  s.pid = child_detail::spawn(cmd, {}, s.out, dir_ / (s.name + ".sh.err"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!accepts(s.host, s.client_port)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(s.name + " did not start:\n" + stderr_text(i));
    int status = 0;
    if (::waitpid(s.pid, &status, WNOHANG) == s.pid) {
      s.pid = -1;
      throw std::runtime_error(s.name + " exited at start:\n" + stderr_text(i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void NatsCluster::kill(int i) {
  Server& s = servers_.at(static_cast<std::size_t>(i));
  if (s.pid <= 0) return;
  ::kill(s.pid, SIGKILL);
  child_detail::wait_for(s.pid);
  s.pid = -1;
  check_stderr(i);
}

void NatsCluster::stop(int i) {
  Server& s = servers_.at(static_cast<std::size_t>(i));
  if (s.pid <= 0) return;
  ::kill(s.pid, SIGINT);  // nats-server's graceful stop (SIGTERM exits 1)
  const auto code =
      child_detail::wait_until(s.pid, std::chrono::steady_clock::now() + std::chrono::seconds(30));
  if (!code) {
    ::kill(s.pid, SIGKILL);
    child_detail::wait_for(s.pid);
    report_child_failure(s.name + " did not stop within 30 s of SIGINT");
  } else if (*code != 0) {
    report_child_failure(s.name + " exited with status " + std::to_string(*code) + ":\n" +
                         stderr_text(i).substr(0, 4000));
  }
  s.pid = -1;
  check_stderr(i);
}

}  // namespace latchkey::test
