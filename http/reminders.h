#pragma once
// Expiry reminders: once a key is within `expiry_reminder_days` (a setting) of
// its expiry, its owner gets one email. The email.sent event (kind
// expiry_reminder) marks the key reminded in the views, so a restart never
// sends it again; a failed delivery (email.failed) is retried on a later pass.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "http/config.h"
#include "http/json_log.h"
#include "http/mailer.h"
#include "http/metrics.h"
#include "http/projects.h"
#include "projections/views.h"

namespace latchkey::http {

struct ReminderDue {
  std::string apikey;
  std::string principal_id;
  std::string email;
  Micros expires_at = 0;
};

// Keys whose reminder is due at `now` (pure; for tests).
std::vector<ReminderDue> reminders_due(const projections::Views& v, Micros now);

// Visits every active project (suspended and deleted ones are skipped) on a
// thread of its own, once shortly after start and then every
// smtp.reminder_check_seconds. An open project is read from its views; one
// that is not open is folded from its log and snapshot (read only), and opened
// only when a reminder of it is due.
class Reminders {
 public:
  Reminders(ProjectDirectory& projects, Mailer& mailer, const Clock& clock, const Config& config,
            Metrics& metrics, JsonLog& log);
  ~Reminders();
  Reminders(const Reminders&) = delete;
  Reminders& operator=(const Reminders&) = delete;
  // Ends the pass under way after its current project and joins the thread;
  // mail already handed to the mailer is finished by the mailer. Idempotent.
  void stop();

 private:
  void run();
  void pass();
  void send(const std::shared_ptr<ProjectRuntime>& rt, Micros now);

  ProjectDirectory& projects_;
  Mailer& mailer_;
  const Clock& clock_;
  const Config& config_;
  Metrics& metrics_;
  JsonLog& log_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)
  // Keys whose reminder is being sent, by project and apikey. Shared with the
  // record callbacks, which the writer may run after this object is gone (at
  // shutdown the mailer stops first, the writer last).
  struct InFlight {
    std::mutex mu;
    std::set<std::string> keys;  // GUARDED_BY(mu)
  };
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
  std::thread thread_;
};

}  // namespace latchkey::http
