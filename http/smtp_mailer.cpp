#include "http/smtp_mailer.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "domain/credentials.h"
#include "keys/ids.h"

namespace latchkey::http {

namespace {

struct Payload {
  std::string data;
  std::size_t offset = 0;
};

std::size_t read_payload(char* buffer, std::size_t size, std::size_t nitems, void* userp) {
  auto* p = static_cast<Payload*>(userp);
  const std::size_t room = size * nitems;
  const std::size_t n = std::min(room, p->data.size() - p->offset);
  std::memcpy(buffer, p->data.data() + p->offset, n);
  p->offset += n;
  return n;
}

std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (char c : text) {
    if (c == '\n')
      out += "\r\n";
    else if (c != '\r')
      out.push_back(c);
  }
  return out;
}

std::string rfc5322_date() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

bool header_safe(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

}  // namespace

Result<std::unique_ptr<SmtpMailer>> SmtpMailer::create(const Config& config) {
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!curl_ready) return make_error(Errc::internal, "cannot initialise libcurl");
  if (config.smtp_url.rfind("smtp://", 0) != 0 && config.smtp_url.rfind("smtps://", 0) != 0) {
    return make_error(Errc::invalid_request, "smtp.url must start with smtp:// or smtps://");
  }
  std::unique_ptr<SmtpMailer> m(new SmtpMailer(config));
  if (!config.smtp_credentials_file.empty()) {
    struct stat st {};
    if (::stat(config.smtp_credentials_file.c_str(), &st) != 0) {
      return make_error(Errc::invalid_request,
                        "cannot read smtp.credentials_file " + config.smtp_credentials_file);
    }
    if ((st.st_mode & 077) != 0) {
      return make_error(Errc::invalid_request,
                        "refusing to start: " + config.smtp_credentials_file +
                            " can be read by other users (chmod 600)");
    }
    std::ifstream in(config.smtp_credentials_file);
    std::string line;
    std::getline(in, line);
    const auto colon = line.find(':');
    if (colon == std::string::npos) {
      return make_error(Errc::invalid_request,
                        "smtp.credentials_file must hold user:password on its first line");
    }
    m->user_ = line.substr(0, colon);
    m->password_ = line.substr(colon + 1);
  }
  for (int i = 0; i < 2; ++i) m->workers_.emplace_back([p = m.get()] { p->run(); });
  return m;
}

SmtpMailer::~SmtpMailer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : workers_) t.join();
}

void SmtpMailer::send(MailMessage message, std::function<void(Status)> done) {
  std::lock_guard lock(mu_);
  queue_.emplace_back(std::move(message), std::move(done));
  cv_.notify_one();
}

void SmtpMailer::run() {
  for (;;) {
    std::pair<MailMessage, std::function<void(Status)>> item;
    bool abandon = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to send
      item = std::move(queue_.front());
      queue_.pop_front();
      // Stopping: what is under way finishes, what has not started is reported
      // unsent at once, so a stop never waits on a long queue of deliveries.
      abandon = stopping_;
    }
    Status st = abandon ? Status(make_error(Errc::unavailable, "not sent: the server is stopping"))
                        : deliver(item.first);
    // Forget the message (it may hold a secret) before reporting.
    item.first = MailMessage{};
    item.second(std::move(st));
  }
}

Status SmtpMailer::deliver(const MailMessage& m) const {
  if (!header_safe(m.to) || !header_safe(m.subject) || !header_safe(config_.smtp_from)) {
    return make_error(Errc::invalid_request, "an address or subject holds a line break");
  }
  CURL* curl = curl_easy_init();
  if (!curl) return make_error(Errc::unavailable, "cannot start an SMTP session");
  const std::string domain = config_.smtp_from.substr(config_.smtp_from.find('@') + 1);
  Payload payload;
  payload.data = "Date: " + rfc5322_date() + "\r\n" + "To: <" + m.to + ">\r\n" +
                 "From: latchkey <" + config_.smtp_from + ">\r\n" + "Subject: " + m.subject +
                 "\r\n" + "Message-ID: <" + keys::new_request_id() + "@" + domain + ">\r\n" +
                 "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n" +
                 crlf(m.body);
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + m.to + ">").c_str());
  const std::string from = "<" + config_.smtp_from + ">";
  curl_easy_setopt(curl, CURLOPT_URL, config_.smtp_url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_payload);
  curl_easy_setopt(curl, CURLOPT_READDATA, &payload);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.smtp_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.smtp_timeout_ms));
  if (config_.smtp_starttls)
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, config_.smtp_verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, config_.smtp_verify_tls ? 2L : 0L);
  if (!config_.smtp_ca_file.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, config_.smtp_ca_file.c_str());
  if (!user_.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, user_.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, password_.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  // Scrub the copy that held the message.
  std::fill(payload.data.begin(), payload.data.end(), '\0');
  if (rc != CURLE_OK) {
    std::string why = curl_easy_strerror(rc);
    if (code != 0) why += " (SMTP " + std::to_string(code) + ")";
    return make_error(Errc::unavailable, why);
  }
  return {};
}

}  // namespace latchkey::http
