#pragma once
// Signed checkpoints: every N events or M seconds (checkpoints.every_events,
// checkpoints.every_seconds), a `checkpoint` event is appended holding the
// head sequence and hash, signed with the active token signing key, so anyone
// with the log and the JWKS can show nothing before it was altered.

#include <atomic>
#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/config.h"
#include "http/json_log.h"
#include "keys/secret_store.h"
#include "projections/live_views.h"
#include "service/command_service.h"

namespace latchkey::http {

// The producer that appends one checkpoint of the current head (run exclusive,
// so the head is everything committed). No events if the head is a checkpoint.
service::Sequencer::Producer checkpoint_producer(const events::EventLog& log,
                                                 const keys::SecretStore& secrets,
                                                 const projections::LiveViews& views);

class Checkpointer {
 public:
  Checkpointer(boost::asio::io_context& ioc, service::CommandService& commands,
               const keys::SecretStore& secrets, const projections::LiveViews& views,
               const Config& config, JsonLog& log);
  // Cancels the timer. Thread-safe.
  void stop();

 private:
  void arm();
  void tick();

  boost::asio::steady_timer timer_;
  service::CommandService& commands_;
  const keys::SecretStore& secrets_;
  const projections::LiveViews& views_;
  const Config& config_;
  JsonLog& log_;
  std::atomic<bool> in_flight_{false};
  std::atomic<bool> stopped_{false};
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace latchkey::http
