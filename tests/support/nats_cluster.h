#pragma once
// Real `nats-server` processes for the cluster tests: a JetStream cluster of
// N servers on free loopback ports (client, route and monitoring), each with
// its own store in a temporary directory. A server can be killed (SIGKILL)
// and started again on its store, as a crash and a restart.
//
// Every server stopped by the test or by the destructor (SIGINT) must exit 0,
// and no server's stderr may hold a fatal line or a Go panic, killed or not;
// anything else is reported with report_child_failure.

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace latchkey::test {

// Whether nats-server is installed (tools/install-deps test installs it).
bool have_nats_server();

class NetworkLab;

class NatsCluster {
 public:
  explicit NatsCluster(int servers = 3);
  // Server i runs on host i of `lab` (which outlives the cluster), at its address.
  NatsCluster(int servers, const NetworkLab& lab);
  ~NatsCluster();
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  int size() const { return static_cast<int>(servers_.size()); }
  std::vector<std::string> urls() const;  // nats://HOST:PORT of every server
  std::string url(int i) const;
  std::string name(int i) const;                // its server_name: "nats-0", ...
  int index_of(const std::string& name) const;  // -1 for none
  int monitor_port(int i) const;
  std::string monitor_url(int i, const std::string& path) const;  // http://HOST:PORT/path

  // SIGKILL, on purpose: its exit status is not checked, its stderr is.
  void kill(int i);
  // SIGINT, nats-server's graceful stop; it must exit 0 within 30 s.
  void stop(int i);
  // Starts server i (again, on its own store) and waits until it accepts
  // connections.
  void start(int i);
  bool running(int i) const { return servers_.at(static_cast<std::size_t>(i)).pid > 0; }
  std::string stderr_text(int i) const;

 private:
  NatsCluster(int servers, const NetworkLab* lab);
  struct Server {
    std::string name, conf, out, err;
    std::string host = "127.0.0.1";
    std::vector<std::string> prefix;  // runs it on a host of a NetworkLab
    int client_port = 0, route_port = 0, monitor_port = 0;
    pid_t pid = -1;
  };
  void check_stderr(int i) const;
  TempDir dir_;
  std::vector<Server> servers_;
};

}  // namespace latchkey::test
