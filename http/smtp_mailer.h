#pragma once
// Email over SMTP with libcurl: smtp:// (optionally STARTTLS) or smtps://,
// optional authentication from a credentials file, and a timeout on every
// delivery. Messages are sent by two background threads; the secret a message
// may carry lives only in memory, never in a queue on disk.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "http/config.h"
#include "http/mailer.h"

namespace latchkey::http {

class SmtpMailer final : public Mailer {
 public:
  // Reads the credentials file if configured (it must not be readable by others).
  static Result<std::unique_ptr<SmtpMailer>> create(const Config& config);
  // Waits for the deliveries under way; messages not yet started are reported
  // to their callbacks as unavailable. Every callback has run when it returns.
  ~SmtpMailer() override;

  void send(MailMessage message, std::function<void(Status)> done) override;

 private:
  explicit SmtpMailer(const Config& config) : config_(config) {}
  void run();
  Status deliver(const MailMessage& m) const;

  Config config_;
  std::string user_;
  std::string password_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<MailMessage, std::function<void(Status)>>> queue_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                                                  // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

}  // namespace latchkey::http
