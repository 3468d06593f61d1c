#pragma once
// Hosts for the tests that cut a network: each host is a network namespace
// with one address, joined to the others by a bridge in the test's own
// namespace, from which every host stays reachable. isolate() cuts a host
// off from the other hosts (both ways), as a partition of the network
// would; heal() joins it again. Processes run on a host through prefix().
// Needs root (the cluster tests run as root in CI).

#include <string>
#include <vector>

namespace latchkey::test {

class NetworkLab {
 public:
  // Whether this process can make network namespaces (root, `ip netns`).
  static bool available();
  // Throws std::runtime_error naming the command that failed.
  explicit NetworkLab(int hosts);
  // Removes the namespaces and the bridge. Processes still running on a
  // host keep it alive until they exit: stop them first.
  ~NetworkLab();
  NetworkLab(const NetworkLab&) = delete;
  NetworkLab& operator=(const NetworkLab&) = delete;

  int size() const { return static_cast<int>(hosts_.size()); }
  const std::string& ip(int host) const;
  // The command prefix that runs a program on `host`: ip netns exec NAME.
  std::vector<std::string> prefix(int host) const;
  // No packet passes between `host` and the other hosts any more (sending
  // one fails at once, as with an unreachable network). The lab's own
  // namespace still reaches it.
  void isolate(int host);
  void heal(int host);

 private:
  void ip_cmd(const std::vector<std::string>& args) const;
  std::string tag_;  // unique per process: names of the namespaces and links
  std::string bridge_;
  std::string subnet_;  // "10.213.N."
  struct Host {
    std::string ns, ip;
    bool isolated = false;
  };
  std::vector<Host> hosts_;
};

}  // namespace latchkey::test
