#pragma once
// A TCP listener on 127.0.0.1 that takes connections into its backlog and
// never says a word: a server (SMTP, say) that hangs.

#include <vector>

namespace latchkey::test {

class SilentListener {
 public:
  SilentListener();  // fails the test if it cannot listen
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int port() const { return port_; }
  // Takes a waiting connection, if there is one, and keeps it open and silent.
  bool accept_one();

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> accepted_;
};

}  // namespace latchkey::test
