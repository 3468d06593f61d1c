#include "service/command_service.h"

#include <future>

namespace latchkey::service {

using domain::decide;
using domain::decide_login;

CommandService::CommandService(events::EventLog& log, projections::LiveViews& views,
                               const Clock& clock, CommitListener on_commit,
                               Sequencer::Options options)
    : log_(log),
      views_(views),
      on_commit_(std::move(on_commit)),
      own_sequencer_(std::make_unique<Sequencer>(log, clock, hooks(), options)),
      sequencer_(*own_sequencer_) {}

CommandService::CommandService(Sequencer& shared, events::EventLog& log,
                               projections::LiveViews& views, CommitListener on_commit)
    : log_(log), views_(views), on_commit_(std::move(on_commit)), sequencer_(shared) {
  target_ = sequencer_.add_target(log, hooks());
}

Sequencer::Hooks CommandService::hooks() {
  return Sequencer::Hooks{[this](std::span<const events::Event> evs) { committed(evs); },
                          [this](bool durable) { settled(durable); }, [this] { sealed(); }};
}

void CommandService::committed(std::span<const events::Event> events) {
  views_.apply(events);
  if (on_commit_) on_commit_(events);
}

void CommandService::sealed() { sealed_.push_back(unsettled_.size()); }

void CommandService::settled(bool durable) {
  if (!durable) {
    // Every later group fails too: nothing staged since this one stands.
    for (auto it = unsettled_.rbegin(); it != unsettled_.rend(); ++it) throttle_.undo(*it);
    unsettled_.clear();
    sealed_.clear();
    return;
  }
  if (sealed_.empty()) return;
  const std::size_t kept = sealed_.front();
  sealed_.erase(sealed_.begin());  // at most the groups in flight
  unsettled_.erase(unsettled_.begin(), unsettled_.begin() + static_cast<long>(kept));
  for (auto& n : sealed_) n -= kept;
}

CommandService::~CommandService() { stop(); }

void CommandService::stop() {
  if (own_sequencer_) {
    own_sequencer_->stop();
  } else {
    sequencer_.remove_target(target_);
  }
}

void CommandService::set_batch_observer(Sequencer::BatchObserver observer) {
  if (own_sequencer_) own_sequencer_->set_batch_observer(std::move(observer));
}

void CommandService::submit_to_writer(Sequencer::Isolation isolation, Sequencer::Producer producer,
                                      Done done) {
  if (own_sequencer_) {
    own_sequencer_->submit(isolation, std::move(producer), std::move(done));
  } else {
    sequencer_.submit(target_, isolation, std::move(producer), std::move(done));
  }
}

void CommandService::execute(Command cmd, events::RequestContext ctx, Done done) {
  submit_to_writer(
      Sequencer::Isolation::exclusive,
      [this, cmd = std::move(cmd),
       ctx = std::move(ctx)](Micros now) -> Result<std::vector<events::Draft>> {
        auto drafts = decide(views_.writer_view(), cmd, now);
        if (!drafts) return drafts.error();
        for (auto& d : *drafts) d.context = ctx;
        return drafts;
      },
      std::move(done));
}

void CommandService::login(LoginAttempt attempt, events::RequestContext ctx, LoginDone done) {
  auto decision = std::make_shared<LoginDecision>();
  submit_to_writer(
      Sequencer::Isolation::shared,
      [this, attempt = std::move(attempt), ctx = std::move(ctx),
       decision](Micros now) -> Result<std::vector<events::Draft>> {
        const auto& views = views_.writer_view();
        *decision = decide_login(views, throttle_, attempt, now);
        if (!decision->throttle.empty())
          unsettled_.push_back(throttle_.apply(decision->throttle, now, views.settings));
        std::vector<events::Draft> drafts = std::move(decision->events);
        decision->events.clear();
        for (auto& d : drafts) d.context = ctx;
        return drafts;
      },
      [decision, done = std::move(done)](Result<std::vector<events::Event>> r) {
        if (!r) {
          done(r.error());
        } else {
          done(std::move(*decision));
        }
      });
}

void CommandService::record(std::vector<events::Draft> drafts, events::RequestContext ctx,
                            Done done) {
  for (auto& d : drafts) d.context = ctx;
  submit_to_writer(
      Sequencer::Isolation::shared,
      [drafts = std::move(drafts)](Micros) mutable -> Result<std::vector<events::Draft>> {
        return std::move(drafts);
      },
      std::move(done));
}

void CommandService::submit(Sequencer::Isolation isolation, Sequencer::Producer producer,
                            Done done) {
  submit_to_writer(isolation, std::move(producer), std::move(done));
}

Result<std::vector<events::Event>> CommandService::execute_and_wait(Command cmd,
                                                                    events::RequestContext ctx) {
  std::promise<Result<std::vector<events::Event>>> p;
  auto f = p.get_future();
  execute(std::move(cmd), std::move(ctx),
          [&p](Result<std::vector<events::Event>> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<LoginDecision> CommandService::login_and_wait(LoginAttempt attempt,
                                                     events::RequestContext ctx) {
  std::promise<Result<LoginDecision>> p;
  auto f = p.get_future();
  login(std::move(attempt), std::move(ctx),
        [&p](Result<LoginDecision> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace latchkey::service
