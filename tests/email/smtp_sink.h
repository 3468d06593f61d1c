#pragma once
// A real SMTP server for the tests: Debian's aiosmtpd (python3-aiosmtpd) on a
// free loopback port, with its stock Mailbox handler storing every message
// it accepts in a Maildir that the test reads.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

namespace latchkey::email_test {

struct Mail {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string raw;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline Mail parse_mail(const std::string& raw) {
  Mail m;
  m.raw = raw;
  std::string text = raw;
  text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
  const auto split = text.find("\n\n");
  const std::string head = text.substr(0, split);
  m.body = split == std::string::npos ? std::string() : text.substr(split + 2);
  std::string name;
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto end = head.find('\n', pos);
    if (end == std::string::npos) end = head.size();
    const std::string line = head.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !name.empty()) {
      m.headers[name] += " " + line.substr(line.find_first_not_of(" \t"));
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    m.headers[name] = value;
  }
  return m;
}

// A port on 127.0.0.1 that was free a moment ago.
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class SmtpSink {
 public:
  enum class Tls { none, starttls, smtps };
  // With TLS, `cert` and `key` are the server's certificate and key (PEM).
  explicit SmtpSink(Tls tls = Tls::none, const std::string& cert = {},
                    const std::string& key = {}) {
    maildir_ = dir_ / "maildir";
    for (int attempt = 0; attempt < 5 && !proc_; ++attempt) {
      port_ = free_loopback_port();
      std::vector<std::string> args{
          "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + std::to_string(port_)};
      if (tls == Tls::starttls) {
        // aiosmtpd then requires STARTTLS before it accepts a message.
        args.insert(args.end(), {"--tlscert", cert, "--tlskey", key});
      } else if (tls == Tls::smtps) {
        args.insert(args.end(), {"--smtpscert", cert, "--smtpskey", key});
      }
      args.insert(args.end(), {"-c", "aiosmtpd.handlers.Mailbox", maildir_});
      auto p = std::make_unique<test::ChildProcess>(args);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (std::chrono::steady_clock::now() < deadline && p->running()) {
        if (accepts_connections(port_)) {
          proc_ = std::move(p);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!proc_) last_error_ = p->err();
    }
    if (!proc_) throw std::runtime_error("aiosmtpd did not start: " + last_error_);
    tls_ = tls;
  }

  int port() const { return port_; }
  std::string url() const {
    return std::string(tls_ == Tls::smtps ? "smtps" : "smtp") +
           "://127.0.0.1:" + std::to_string(port_);
  }

  // Every message stored so far (Maildir new/ and cur/), oldest first by file time.
  std::vector<Mail> messages() const {
    std::vector<std::pair<std::filesystem::file_time_type, std::string>> files;
    for (const char* sub : {"new", "cur"}) {
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(maildir_ + "/" + sub, ec)) {
        if (e.is_regular_file()) files.emplace_back(e.last_write_time(), e.path().string());
      }
    }
    std::sort(files.begin(), files.end());
    std::vector<Mail> out;
    for (const auto& f : files) out.push_back(parse_mail(test::read_file(f.second)));
    return out;
  }

  // Messages whose body or subject contains `text`.
  std::vector<Mail> messages_with(const std::string& text) const {
    std::vector<Mail> out;
    for (auto& m : messages()) {
      if (m.raw.find(text) != std::string::npos) out.push_back(std::move(m));
    }
    return out;
  }

  const std::string& maildir() const { return maildir_; }

 private:
  test::TempDir dir_;
  std::string maildir_;
  int port_ = 0;
  Tls tls_ = Tls::none;
  std::string last_error_;
  std::unique_ptr<test::ChildProcess> proc_;
};

}  // namespace latchkey::email_test
