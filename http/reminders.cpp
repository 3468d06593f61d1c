#include "http/reminders.h"

#include <nlohmann/json.hpp>

#include "http/app.h"
#include "replay/rebuild.h"

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

Reminders::Reminders(ProjectDirectory& projects, Mailer& mailer, const Clock& clock,
                     const Config& config, Metrics& metrics, JsonLog& log)
    : projects_(projects),
      mailer_(mailer),
      clock_(clock),
      config_(config),
      metrics_(metrics),
      log_(log),
      thread_([this] { run(); }) {}

Reminders::~Reminders() { stop(); }

void Reminders::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopped_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Reminders::run() {
  auto wait = std::chrono::milliseconds(200);
  for (;;) {
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_for(lock, wait, [this] { return stopped_; })) return;
    }
    pass();
    wait = std::chrono::seconds(config_.reminder_check_seconds);
  }
}

void Reminders::pass() {
  if (!projects_.writes()) return;  // a cluster's other node: the writer does it
  const Micros now = clock_.now();
  std::string cursor;
  for (;;) {
    const auto page = projects_.registry().list("", cursor, 256);
    for (const auto& info : page.items) {
      {
        std::lock_guard lock(stop_mu_);
        if (stopped_) return;
      }
      if (info.status != projections::ProjectStatus::active) continue;
      std::shared_ptr<ProjectRuntime> rt = projects_.open_runtime(info.id);
      if (!rt) {
        // Not open: fold it read-only, and open it only if something is due.
        events::EventLog& log = projects_.log_of(info.id);
        auto views = replay::rebuild(log, log.head().seq, true);
        if (!views) {
          log_.error("cannot read a project for its reminders",
                     {{"project", info.id}, {"detail", views.error().message}});
          continue;
        }
        if (reminders_due(*views, now).empty()) continue;
        rt = projects_.runtime(info.id);
        if (!rt) continue;
      }
      send(rt, now);
    }
    if (page.next.empty()) return;
    cursor = page.next;
  }
}

void Reminders::send(const std::shared_ptr<ProjectRuntime>& rt, Micros now) {
  const auto due =
      rt->views->read([&](const projections::Views& v) { return reminders_due(v, now); });
  const std::string url = public_url_of(config_, rt->public_url);
  for (const auto& r : due) {
    const std::string flight = rt->id + '/' + r.apikey;
    {
      std::lock_guard lock(in_flight_->mu);
      if (!in_flight_->keys.insert(flight).second) continue;
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
    // The callback holds the runtime: its writes are submitted before it goes.
    mailer_.send(std::move(m), [rt, r, flight, in_flight = in_flight_, metrics = &metrics_,
                                log = &log_](Status st) {
      metrics->email(st ? "sent" : "failed");
      events::EmailOutcome o{"expiry_reminder", r.apikey, r.principal_id, r.email,
                             st ? std::string() : st.error().message};
      const auto type = st ? events::EventType::email_sent : events::EventType::email_failed;
      rt->commands->record({events::Draft{type, o, {}}}, events::RequestContext{"system", "", ""},
                           [in_flight, log, flight](Result<std::vector<events::Event>> rec) {
                             if (!rec) log->error("cannot record a reminder", {{"key", flight}});
                             std::lock_guard lock(in_flight->mu);
                             in_flight->keys.erase(flight);
                           });
    });
  }
}

}  // namespace latchkey::http
