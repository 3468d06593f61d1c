#include "tests/support/network_lab.h"

#include <unistd.h>

#include <stdexcept>

#include "tests/support/child_process.h"

namespace latchkey::test {

bool NetworkLab::available() {
  if (::geteuid() != 0) return false;
  const std::string probe = "lkprobe" + std::to_string(::getpid());
  if (run_command({"ip", "netns", "add", probe}).exit_code != 0) return false;
  run_command({"ip", "netns", "del", probe});
  return true;
}

NetworkLab::NetworkLab(int hosts) {
  const auto pid = static_cast<unsigned>(::getpid());
  tag_ = std::to_string(pid % 100000);
  bridge_ = "lkb" + tag_;
  subnet_ = "10.213." + std::to_string(pid % 250) + ".";
  ip_cmd({"link", "add", bridge_, "type", "bridge"});
  ip_cmd({"addr", "add", subnet_ + "254/24", "dev", bridge_});
  ip_cmd({"link", "set", bridge_, "up"});
  for (int i = 0; i < hosts; ++i) {
    Host h;
    h.ns = "lkt" + tag_ + "-" + std::to_string(i);
    h.ip = subnet_ + std::to_string(i + 1);
    const std::string outside = "lkv" + tag_ + "o" + std::to_string(i);
    const std::string inside = "lkv" + tag_ + "i" + std::to_string(i);
    hosts_.push_back(h);
    ip_cmd({"netns", "add", h.ns});
    ip_cmd({"link", "add", outside, "type", "veth", "peer", "name", inside});
    ip_cmd({"link", "set", inside, "netns", h.ns});
    ip_cmd({"link", "set", outside, "master", bridge_, "up"});
    ip_cmd({"-n", h.ns, "addr", "add", h.ip + "/24", "dev", inside});
    ip_cmd({"-n", h.ns, "link", "set", inside, "up"});
    ip_cmd({"-n", h.ns, "link", "set", "lo", "up"});
  }
}

NetworkLab::~NetworkLab() {
  // Deleting a namespace deletes its end of the veth pair, and with it the other end.
  for (const auto& h : hosts_) run_command({"ip", "netns", "del", h.ns});
  run_command({"ip", "link", "del", bridge_});
}

void NetworkLab::ip_cmd(const std::vector<std::string>& args) const {
  std::vector<std::string> cmd{"ip"};
  cmd.insert(cmd.end(), args.begin(), args.end());
  const auto r = run_command(cmd);
  if (r.exit_code != 0) {
    std::string line;
    for (const auto& a : cmd) line += a + " ";
    throw std::runtime_error("network lab: `" + line + "` failed: " + r.err);
  }
}

const std::string& NetworkLab::ip(int host) const {
  return hosts_.at(static_cast<std::size_t>(host)).ip;
}

std::vector<std::string> NetworkLab::prefix(int host) const {
  return {"ip", "netns", "exec", hosts_.at(static_cast<std::size_t>(host)).ns};
}

void NetworkLab::isolate(int host) {
  Host& cut = hosts_.at(static_cast<std::size_t>(host));
  if (cut.isolated) return;
  for (const auto& other : hosts_) {
    if (other.ns == cut.ns) continue;
    // "unreachable": a send fails at once, so both sides see the break
    // without waiting for a keep-alive to time out.
    ip_cmd({"-n", cut.ns, "route", "add", "unreachable", other.ip + "/32"});
    ip_cmd({"-n", other.ns, "route", "add", "unreachable", cut.ip + "/32"});
  }
  cut.isolated = true;
}

void NetworkLab::heal(int host) {
  Host& cut = hosts_.at(static_cast<std::size_t>(host));
  if (!cut.isolated) return;
  for (const auto& other : hosts_) {
    if (other.ns == cut.ns) continue;
    ip_cmd({"-n", cut.ns, "route", "del", "unreachable", other.ip + "/32"});
    ip_cmd({"-n", other.ns, "route", "del", "unreachable", cut.ip + "/32"});
  }
  cut.isolated = false;
}

}  // namespace latchkey::test
