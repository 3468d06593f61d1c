#pragma once
// The write side's calls as awaitables, for handler coroutines. A coroutine
// that awaits one is suspended, not a thread: the writer (or the mailer) runs
// the work on its own thread, and its completion resumes the coroutine on the
// coroutine's own executor (the connection's strand). While it waits, the
// io_context counts it as outstanding work, so a graceful stop finishes it
// instead of returning under it.

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "domain/commands.h"
#include "domain/decide.h"
#include "events/event.h"
#include "http/mailer.h"
#include "service/command_service.h"

namespace latchkey::http {

using Committed = Result<std::vector<events::Event>>;

// CommandService::execute: the committed events, the rule's rejection, or unavailable.
[[nodiscard]] boost::asio::awaitable<Committed> execute(service::CommandService& commands,
                                                        domain::Command command,
                                                        events::RequestContext context);

// CommandService::login: the decision once its events are durable, or unavailable.
[[nodiscard]] boost::asio::awaitable<Result<domain::LoginDecision>> login(
    service::CommandService& commands, domain::LoginAttempt attempt,
    events::RequestContext context);

// CommandService::record: the committed records, or unavailable.
[[nodiscard]] boost::asio::awaitable<Committed> record(service::CommandService& commands,
                                                       std::vector<events::Draft> drafts,
                                                       events::RequestContext context);

// A reply from another node: `start(done)` sends the request, and `done`,
// called once from any thread, brings the reply or the failure.
[[nodiscard]] boost::asio::awaitable<Result<std::string>> reply_of(
    std::function<void(std::function<void(Result<std::string>)>)> start);

// Mailer::send: ok, or unavailable with the server's reply in the detail.
[[nodiscard]] boost::asio::awaitable<Status> send(Mailer& mailer, MailMessage message);

}  // namespace latchkey::http
