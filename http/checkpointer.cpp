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

Checkpointer::Checkpointer(boost::asio::io_context& ioc, ProjectDirectory& projects,
                           const Config& config, JsonLog& log)
    : timer_(ioc), projects_(projects), config_(config), log_(log) {
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
  if (!projects_.writes()) return;  // a cluster's other node: the writer does it
  const auto now = std::chrono::steady_clock::now();
  auto open = projects_.open_runtimes();
  std::map<std::string, std::shared_ptr<Chain>, std::less<>> seen;
  auto visit = [&](ProjectRuntime& rt) {
    auto it = chains_.find(rt.id);
    auto chain = it != chains_.end() ? it->second : std::make_shared<Chain>();
    tick(rt, chain, now);
    seen.emplace(rt.id, std::move(chain));
  };
  visit(projects_.platform());
  for (const auto& rt : open) visit(*rt);
  // Chains no longer open (deleted projects) are forgotten.
  chains_.swap(seen);
}

void Checkpointer::tick(ProjectRuntime& rt, const std::shared_ptr<Chain>& chain,
                        std::chrono::steady_clock::time_point now) {
  if (chain->in_flight) return;
  const events::Seq head = rt.log->head().seq;
  const events::Seq last =
      rt.views->read([](const projections::Views& v) { return v.last_checkpoint; });
  if (head == last || head == 0) return;
  const bool by_events = config_.checkpoint_every_events > 0 &&
                         head - last >= static_cast<events::Seq>(config_.checkpoint_every_events);
  const bool by_time = config_.checkpoint_every_seconds > 0 &&
                       now - chain->last >= std::chrono::seconds(config_.checkpoint_every_seconds);
  if (!by_events && !by_time) return;
  chain->in_flight = true;
  chain->last = now;
  // The runtime outlives what was submitted for it (its destructor waits).
  rt.commands->submit(
      service::Sequencer::Isolation::exclusive,
      checkpoint_producer(*rt.log, *rt.secrets, *rt.views),
      [chain, log = &log_, project = rt.id](Result<std::vector<events::Event>> r) {
        if (!r)
          log->error("checkpoint failed", {{"project", project}, {"detail", r.error().detail}});
        chain->in_flight = false;
      });
}

}  // namespace latchkey::http
