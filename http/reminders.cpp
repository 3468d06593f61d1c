#include "http/reminders.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "http/app.h"

namespace latchkey::http {

std::vector<ReminderDue> reminders_due(const projections::Views& v, Micros now) {
  std::vector<ReminderDue> out;
  const std::int64_t days = v.settings.expiry_reminder_days;
  if (days <= 0) return out;
  for (const auto& k : v.keys.all()) {
    if (k.reminded_at != 0 || k.status(now) != projections::KeyStatus::active) continue;
    if (k.expires_at - now > days * kMicrosPerDay) continue;
    const auto& p = v.principals.at(k.principal);
    if (p.email.empty()) continue;
    out.push_back(ReminderDue{k.apikey, p.id, p.email, k.expires_at});
  }
  return out;
}

Reminders::Reminders(boost::asio::io_context& ioc, service::CommandService& commands,
                     const projections::LiveViews& views, Mailer& mailer, const Clock& clock,
                     const Config& config, Metrics& metrics, JsonLog& log)
    : timer_(ioc),
      commands_(commands),
      views_(views),
      mailer_(mailer),
      clock_(clock),
      config_(config),
      metrics_(metrics),
      log_(log) {
  arm(std::chrono::milliseconds(200));
}

void Reminders::stop() {
  stopped_ = true;
  boost::asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

void Reminders::arm(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    pass();
    arm(std::chrono::seconds(config_.reminder_check_seconds));
  });
}

void Reminders::pass() {
  const Micros now = clock_.now();
  const auto due = views_.read([&](const projections::Views& v) { return reminders_due(v, now); });
  const std::string url = public_url_of(config_);
  for (const auto& r : due) {
    {
      std::lock_guard lock(in_flight_->mu);
      if (!in_flight_->keys.insert(r.apikey).second) continue;
    }
    MailMessage m;
    m.to = r.email;
    m.subject =
        "Your latchkey API key expires on " + format_rfc3339_seconds(r.expires_at).substr(0, 10);
    m.body = "Hello,\n\nYour API key " + r.apikey + " on " + url + " expires at " +
             format_rfc3339_seconds(r.expires_at) +
             ".\n\nAfter that it can no longer be used to log in. Ask an administrator for a new "
             "key, or create one "
             "yourself with POST " +
             url + "/iam/me/keys, before then.\n";
    mailer_.send(std::move(m), [this, r](Status st) {
      metrics_.email(st ? "sent" : "failed");
      events::EmailOutcome o{"expiry_reminder", r.apikey, r.principal_id, r.email,
                             st ? std::string() : st.error().message};
      const auto type = st ? events::EventType::email_sent : events::EventType::email_failed;
      commands_.record({events::Draft{type, o, {}}}, events::RequestContext{"system", "", ""},
                       [in_flight = in_flight_, log = &log_,
                        apikey = r.apikey](Result<std::vector<events::Event>> rec) {
                         if (!rec) log->error("cannot record a reminder", {{"apikey", apikey}});
                         std::lock_guard lock(in_flight->mu);
                         in_flight->keys.erase(apikey);
                       });
    });
  }
}

}  // namespace latchkey::http
