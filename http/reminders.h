#pragma once
// Expiry reminders: once a key is within `expiry_reminder_days` (a setting) of
// its expiry, its owner gets one email. The email.sent event (kind
// expiry_reminder) marks the key reminded in the views, so a restart never
// sends it again; a failed delivery (email.failed) is retried on a later pass.

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/config.h"
#include "http/json_log.h"
#include "http/mailer.h"
#include "http/metrics.h"
#include "projections/live_views.h"
#include "service/command_service.h"

namespace latchkey::http {

struct ReminderDue {
  std::string apikey;
  std::string principal_id;
  std::string email;
  Micros expires_at = 0;
};

// Keys whose reminder is due at `now` (pure; for tests).
std::vector<ReminderDue> reminders_due(const projections::Views& v, Micros now);

class Reminders {
 public:
  Reminders(boost::asio::io_context& ioc, service::CommandService& commands,
            const projections::LiveViews& views, Mailer& mailer, const Clock& clock,
            const Config& config, Metrics& metrics, JsonLog& log);
  void stop();

 private:
  void arm(std::chrono::milliseconds after);
  void pass();

  boost::asio::steady_timer timer_;
  service::CommandService& commands_;
  const projections::LiveViews& views_;
  Mailer& mailer_;
  const Clock& clock_;
  const Config& config_;
  Metrics& metrics_;
  JsonLog& log_;
  std::atomic<bool> stopped_{false};
  // Keys whose reminder is being sent. Shared with the record callbacks,
  // which the writer may run after this object is gone (at shutdown the
  // mailer stops first, the writer last).
  struct InFlight {
    std::mutex mu;
    std::set<std::string> keys;  // GUARDED_BY(mu)
  };
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
};

}  // namespace latchkey::http
