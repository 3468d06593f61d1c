#include "events/cluster/messaging.h"

#include "events/cluster/nats_internal.h"

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace latchkey::events::cluster {
namespace {
// Stops a subscription and returns once no callback of it runs any more (a
// drain; a plain unsubscribe may leave one running on the delivery thread).
void stop_delivery(natsSubscription* sub) {
  if (natsSubscription_Drain(sub) == NATS_OK)
    (void)natsSubscription_WaitForDrainCompletion(sub, 5000);
  else
    (void)natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
}
}  // namespace

// ---- Requester ----

struct Requester::Impl {
  std::shared_ptr<Nats> nats;
  std::string inbox;  // replies come to inbox + "." + id
  natsSubscription* sub = nullptr;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;   // GUARDED_BY(mu)
  std::uint64_t next = 1;  // GUARDED_BY(mu)
  struct Waiting {
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  std::map<std::uint64_t, Waiting> waiting;  // GUARDED_BY(mu)
  std::thread timer;

  // The Waiting of `id`, taken out; empty if it already finished.
  Done take(std::uint64_t id) {
    std::lock_guard lock(mu);
    auto it = waiting.find(id);
    if (it == waiting.end()) return {};
    Done d = std::move(it->second.done);
    waiting.erase(it);
    return d;
  }

  static void on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    const std::string subject = natsMsg_GetSubject(msg);
    const auto dot = subject.rfind('.');
    const std::uint64_t id = std::strtoull(subject.c_str() + dot + 1, nullptr, 10);
    Done done = self->take(id);
    if (done) {
      if (natsMsg_IsNoResponders(msg)) {
        done(make_error(Errc::unavailable, "nobody serves the request now"));
      } else {
        done(std::string(natsMsg_GetData(msg),
                         static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
      }
    }
    natsMsg_Destroy(msg);
  }

  void expire() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      const auto now = std::chrono::steady_clock::now();
      std::vector<Done> late;
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (it->second.deadline <= now) {
          late.push_back(std::move(it->second.done));
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
      lock.unlock();
      for (auto& d : late) d(make_error(Errc::unavailable, "no answer came in time"));
      lock.lock();
    }
    std::map<std::uint64_t, Waiting> left;
    left.swap(waiting);
    lock.unlock();
    for (auto& [_, w] : left) w.done(make_error(Errc::unavailable, "the node is stopping"));
  }
};

Requester::Requester(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Requester::~Requester() {
  if (impl_->sub != nullptr) stop_delivery(impl_->sub);
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->timer.joinable()) impl_->timer.join();
}

Result<std::shared_ptr<Requester>> Requester::open(std::shared_ptr<Nats> nats) {
  auto impl = std::make_shared<Impl>();
  impl->nats = std::move(nats);
  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) return make_error(Errc::internal, "out of memory");
  impl->inbox = inbox;
  natsInbox_Destroy(inbox);
  const std::string wildcard = impl->inbox + ".*";
  const natsStatus s = natsConnection_Subscribe(&impl->sub, impl->nats->impl().nc, wildcard.c_str(),
                                                &Impl::on_reply, impl.get());
  if (s != NATS_OK)
    return make_error(Errc::unavailable, "cannot subscribe to a reply inbox",
                      natsStatus_GetText(s));
  impl->timer = std::thread([raw = impl.get()] { raw->expire(); });
  return std::shared_ptr<Requester>(new Requester(std::move(impl)));
}

void Requester::request(const std::string& subject, const std::string& body, int timeout_ms,
                        Done done) {
  request(subject, body, Headers{}, timeout_ms, std::move(done));
}

void Requester::request(const std::string& subject, const std::string& body, const Headers& headers,
                        int timeout_ms, Done done) {
  std::uint64_t id = 0;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) {
      done(make_error(Errc::unavailable, "the node is stopping"));
      return;
    }
    id = impl_->next++;
    impl_->waiting.emplace(
        id, Impl::Waiting{std::move(done), std::chrono::steady_clock::now() +
                                               std::chrono::milliseconds(timeout_ms)});
  }
  const std::string reply = impl_->inbox + "." + std::to_string(id);
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), reply.c_str(), body.data(),
                                static_cast<int>(body.size()));
  for (const auto& [name, value] : headers) {
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, name.c_str(), value.c_str());
  }
  if (s == NATS_OK) s = natsConnection_PublishMsg(impl_->nats->impl().nc, msg);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) {
    if (Done d = impl_->take(id))
      d(make_error(Errc::unavailable, "cannot send the request", natsStatus_GetText(s)));
  }
}

Status publish(Nats& nats, const std::string& subject, const std::string& bytes) {
  const natsStatus s = natsConnection_Publish(nats.impl().nc, subject.c_str(), bytes.data(),
                                              static_cast<int>(bytes.size()));
  if (s != NATS_OK)
    return make_error(Errc::unavailable, "cannot publish to " + subject, natsStatus_GetText(s));
  return {};
}

// ---- Responder ----

struct Responder::Impl {
  std::shared_ptr<Nats> nats;
  Handle handle;
  natsSubscription* sub = nullptr;

  static void on_request(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    const char* reply_to = natsMsg_GetReply(msg);
    std::string body(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    Reply reply;
    if (reply_to != nullptr) {
      reply = [nats = self->nats, to = std::string(reply_to)](const std::string& answer) {
        (void)natsConnection_Publish(nats->impl().nc, to.c_str(), answer.data(),
                                     static_cast<int>(answer.size()));
      };
    } else {
      reply = [](const std::string&) {};
    }
    natsMsg_Destroy(msg);
    self->handle(std::move(body), std::move(reply));
  }
};

Responder::Responder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Responder::~Responder() {
  if (impl_->sub != nullptr) stop_delivery(impl_->sub);
}

Result<std::unique_ptr<Responder>> Responder::serve(std::shared_ptr<Nats> nats,
                                                    const std::string& subject, Handle handle) {
  auto impl = std::make_unique<Impl>();
  impl->nats = std::move(nats);
  impl->handle = std::move(handle);
  const natsStatus s = natsConnection_Subscribe(&impl->sub, impl->nats->impl().nc, subject.c_str(),
                                                &Impl::on_request, impl.get());
  if (s != NATS_OK)
    return make_error(Errc::unavailable, "cannot serve " + subject, natsStatus_GetText(s));
  // The subscription is known to the server before this returns, so a
  // request sent right after finds it.
  (void)natsConnection_Flush(impl->nats->impl().nc);
  return std::unique_ptr<Responder>(new Responder(std::move(impl)));
}

}  // namespace latchkey::events::cluster
