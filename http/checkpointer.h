#pragma once
// Signed checkpoints: every N events or M seconds (checkpoints.every_events,
// checkpoints.every_seconds), a `checkpoint` event is appended to a chain,
// holding its head sequence and hash signed with the chain's active token
// signing key, so anyone with the log and the JWKS can show nothing before it
// was altered. Every chain in memory is checkpointed: the platform's and each
// open project's. A project that is not open has nothing new since it was
// last open; it gets its checkpoint when it is next opened.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/config.h"
#include "http/json_log.h"
#include "http/projects.h"
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
  Checkpointer(boost::asio::io_context& ioc, ProjectDirectory& projects, const Config& config,
               JsonLog& log);
  // Cancels the timer. Thread-safe.
  void stop();

 private:
  // One chain's state, shared with the callback of its checkpoint in flight.
  struct Chain {
    std::atomic<bool> in_flight{false};
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  };

  void arm();
  void tick();
  void tick(ProjectRuntime& rt, const std::shared_ptr<Chain>& chain,
            std::chrono::steady_clock::time_point now);

  boost::asio::steady_timer timer_;
  ProjectDirectory& projects_;
  const Config& config_;
  JsonLog& log_;
  std::atomic<bool> stopped_{false};
  // Timer handlers only (one at a time): the chains seen on the last tick.
  std::map<std::string, std::shared_ptr<Chain>, std::less<>> chains_;
};

}  // namespace latchkey::http
