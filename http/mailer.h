#pragma once
// Outgoing email. The interface lets the API stay free of the transport;
// smtp_mailer.h is the real one (libcurl SMTP).

#include <functional>
#include <string>

#include "base/error.h"

namespace latchkey::http {

struct MailMessage {
  std::string to;
  std::string subject;
  std::string body;  // text/plain, UTF-8
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  // Sends in the background; done runs on a mailer thread with ok or
  // unavailable (the server's reply, never the message, in the detail).
  virtual void send(MailMessage message, std::function<void(Status)> done) = 0;
};

}  // namespace latchkey::http
