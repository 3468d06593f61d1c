#pragma once
// The write side of latchkey: turns commands into events through the rules
// (domain/decide.h) and the group-committing writer, and keeps the live views
// current.
//
//   caller -> execute(cmd) -> writer thread: decide(views, cmd, now)
//          -> EventLog::append (one synced batch) -> views apply
//          -> commit listeners (e.g. the snapshotter) -> done(events)
//
// Views change only from committed events. All methods are thread-safe; every
// completion runs on the writer thread and must only hand its result off.

#include <functional>
#include <memory>
#include <span>

#include "domain/commands.h"
#include "domain/decide.h"
#include "domain/throttle.h"
#include "events/event_log.h"
#include "projections/live_views.h"
#include "service/sequencer.h"

namespace latchkey::service {

using domain::Command;
using domain::LoginAttempt;
using domain::LoginDecision;

class CommandService {
 public:
  using Done = std::function<void(Result<std::vector<events::Event>>)>;
  using LoginDone = std::function<void(Result<LoginDecision>)>;
  // Hears of every committed event, after the views applied it, on the
  // writer thread: must be quick (e.g. wake another thread).
  using CommitListener = std::function<void(std::span<const events::Event>)>;

  // With a writer of its own, for one log.
  CommandService(events::EventLog& log, projections::LiveViews& views, const Clock& clock,
                 CommitListener on_commit = {}, Sequencer::Options options = {});
  // On a writer shared with other projects' services (`log` is one of the
  // store's logs the sequencer serves), each its own target.
  CommandService(Sequencer& shared, events::EventLog& log, projections::LiveViews& views,
                 CommitListener on_commit = {});
  CommandService(const CommandService&) = delete;
  CommandService& operator=(const CommandService&) = delete;
  ~CommandService();

  // An admin or self-service command. Runs alone (exclusive), so it sees every
  // earlier change. done: the committed events (none if nothing changed), the
  // rule's rejection, or unavailable if the log could not be written.
  void execute(Command cmd, events::RequestContext ctx, Done done);

  // A login, grouped with concurrent ones into one synced append. done: the
  // decision once its events (if any) are durable, or unavailable. The
  // throttle's counts change with the group: undone if it is not committed.
  void login(LoginAttempt attempt, events::RequestContext ctx, LoginDone done);

  // Appends records that decide nothing (email outcomes, audit reads), grouped.
  void record(std::vector<events::Draft> drafts, events::RequestContext ctx, Done done);

  // A raw producer, for work that needs the log's head (e.g. checkpoints).
  void submit(Sequencer::Isolation isolation, Sequencer::Producer producer, Done done);

  // Blocking forms for tools and tests; never on an I/O thread.
  [[nodiscard]] Result<std::vector<events::Event>> execute_and_wait(Command cmd,
                                                                    events::RequestContext ctx);
  [[nodiscard]] Result<LoginDecision> login_and_wait(LoginAttempt attempt,
                                                     events::RequestContext ctx);

  // Of an own writer only (a shared one is observed by its owner).
  void set_batch_observer(Sequencer::BatchObserver observer);
  projections::LiveViews& views() { return views_; }
  events::EventLog& log() { return log_; }

  // Finishes what was submitted and stops the writer thread (an own one);
  // on a shared writer, waits for what was submitted and refuses what comes after.
  void stop();

 private:
  // The writer's hooks; writer thread only.
  [[nodiscard]] Sequencer::Hooks hooks();
  void committed(std::span<const events::Event> events);
  void sealed();
  void settled(bool durable);
  void submit_to_writer(Sequencer::Isolation isolation, Sequencer::Producer producer, Done done);

  events::EventLog& log_;
  projections::LiveViews& views_;
  CommitListener on_commit_;
  // Writer thread only: the counts, the undo records of the changes made
  // since the last settled group, and how many of those records each
  // sealed group not yet settled ends with (oldest first).
  domain::LoginThrottle throttle_;
  std::vector<domain::LoginThrottle::Undo> unsettled_;
  // A vector, not a deque: a server holds one CommandService per loaded
  // project, and an empty deque already costs a 512-byte node.
  std::vector<std::size_t> sealed_;
  std::unique_ptr<Sequencer> own_sequencer_;
  Sequencer& sequencer_;
  std::shared_ptr<Sequencer::Target> target_;
};

}  // namespace latchkey::service
