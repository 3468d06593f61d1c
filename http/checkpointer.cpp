#include "http/checkpointer.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

namespace latchkey::http {

service::Sequencer::Producer checkpoint_producer(const events::EventLog& log,
                                                 const keys::SecretStore& secrets,
                                                 const projections::LiveViews& views) {
  return [&log, &secrets, &views](Micros) -> Result<std::vector<events::Draft>> {
    const events::Head head = log.head();
    const auto& v = views.writer_view();
    if (head.seq == 0 || head.seq == v.last_checkpoint) return std::vector<events::Draft>{};
    const auto* active = v.signing.active();
    if (!active) return make_error(Errc::internal, "no signing key");
    const auto key = secrets.signing_key(active->kid);
    if (!key) return make_error(Errc::internal, "the active signing key is not on disk");
    events::Checkpoint cp;
    cp.head_seq = head.seq;
    cp.head_hash = head.hash;
    cp.kid = key->kid();
    cp.alg = alg_name(key->alg());
    cp.signature = base64url_encode(key->sign(events::checkpoint_message(head.seq, head.hash)));
    return std::vector<events::Draft>{
        events::Draft{events::EventType::checkpoint, std::move(cp), {}}};
  };
}

Checkpointer::Checkpointer(boost::asio::io_context& ioc, service::CommandService& commands,
                           const keys::SecretStore& secrets, const projections::LiveViews& views,
                           const Config& config, JsonLog& log)
    : timer_(ioc),
      commands_(commands),
      secrets_(secrets),
      views_(views),
      config_(config),
      log_(log) {
  if (config_.checkpoint_every_events > 0 || config_.checkpoint_every_seconds > 0) arm();
}

void Checkpointer::stop() {
  stopped_ = true;
  boost::asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
}

void Checkpointer::arm() {
  timer_.expires_after(std::chrono::milliseconds(500));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    tick();
    arm();
  });
}

void Checkpointer::tick() {
  if (in_flight_) return;
  const events::Seq head = commands_.log().head().seq;
  const events::Seq last =
      views_.read([](const projections::Views& v) { return v.last_checkpoint; });
  if (head == last || head == 0) return;
  const auto now = std::chrono::steady_clock::now();
  const bool by_events = config_.checkpoint_every_events > 0 &&
                         head - last >= static_cast<events::Seq>(config_.checkpoint_every_events);
  const bool by_time = config_.checkpoint_every_seconds > 0 &&
                       now - last_ >= std::chrono::seconds(config_.checkpoint_every_seconds);
  if (!by_events && !by_time) return;
  in_flight_ = true;
  last_ = now;
  commands_.submit(service::Sequencer::Isolation::exclusive,
                   checkpoint_producer(commands_.log(), secrets_, views_),
                   [this](Result<std::vector<events::Event>> r) {
                     if (!r) log_.error("checkpoint failed", {{"detail", r.error().detail}});
                     in_flight_ = false;
                   });
}

}  // namespace latchkey::http
