#pragma once
// Requests between the nodes of a cluster over NATS request/reply, in types
// free of NATS's own: a follower forwards a write to the writer and gets the
// writer's answer back (docs/cluster.md). The bytes are the caller's.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "events/cluster/jetstream.h"

namespace latchkey::events::cluster {

// Sends requests and waits for their replies without holding a thread: one
// subscription to a private inbox receives every reply.
class Requester {
 public:
  using Done = std::function<void(Result<std::string>)>;
  // Errors: unavailable when the inbox cannot be subscribed to.
  static Result<std::shared_ptr<Requester>> open(std::shared_ptr<Nats> nats);
  ~Requester();
  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;

  // Sends `body` to `subject`; `done` is called once, from a NATS or timer
  // thread, with the reply, or unavailable when nobody serves the subject
  // or no reply came within `timeout_ms`.
  void request(const std::string& subject, const std::string& body, int timeout_ms, Done done);
  // The same, with NATS headers on the request (e.g. a JetStream publish's).
  using Headers = std::vector<std::pair<std::string, std::string>>;
  void request(const std::string& subject, const std::string& body, const Headers& headers,
               int timeout_ms, Done done);

  struct Impl;

 private:
  explicit Requester(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Publishes `bytes` to `subject`, without waiting (core NATS: delivered at
// most once to whoever listens now). Errors: unavailable.
Status publish(Nats& nats, const std::string& subject, const std::string& bytes);

// Serves a subject: `handle` gets each request's bytes and a `reply` to call
// once, from any thread, with the answer.
class Responder {
 public:
  using Reply = std::function<void(const std::string&)>;
  using Handle = std::function<void(std::string body, Reply reply)>;
  // Errors: unavailable when the subject cannot be subscribed to.
  static Result<std::unique_ptr<Responder>> serve(std::shared_ptr<Nats> nats,
                                                  const std::string& subject, Handle handle);
  // Unsubscribes; requests in flight may still be replied to.
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  struct Impl;

 private:
  explicit Responder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace latchkey::events::cluster
