#pragma once
// Ports on 127.0.0.1 that the test holds for as long as the object lives:
// SilentListener takes connections into its backlog and never says a word (a
// server, SMTP say, that hangs); RefusingPort is bound but never listens, so
// every connection to it is refused at once (RST), and no other process can
// take the port meanwhile, as it could a port merely found free.

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

class RefusingPort {
 public:
  RefusingPort();  // fails the test if it cannot bind
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace latchkey::test
