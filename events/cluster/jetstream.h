#pragma once
// The replicated log's two JetStream pieces (docs/cluster.md), behind types
// free of NATS's own: the stream of blocks, fenced by
// Nats-Expected-Last-Sequence, and the writer's lease in a key-value bucket.
// Only events/cluster/jetstream.cpp includes nats.c.
//
// Thread safety: a Nats connection may be shared by any threads; a
// BlockStream or a Lease is used by one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "events/event.h"

namespace latchkey::events::cluster {

struct NatsOptions {
  std::vector<std::string> urls;  // nats://host:port of one or more servers
  std::string name;               // the connection's name in the servers' monitoring
  int timeout_ms = 2000;          // connecting, JetStream API calls, publish acks
};

// One connection to the NATS servers, with its JetStream context. It
// reconnects on its own, for ever, to any server of `urls` (and those the
// servers announce).
class Nats {
 public:
  // Errors: unavailable when no server answers; invalid_request for a bad URL.
  static Result<std::shared_ptr<Nats>> connect(const NatsOptions& options);
  ~Nats();
  Nats(const Nats&) = delete;
  Nats& operator=(const Nats&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Nats(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct StreamConfig {
  std::string name = "LATCHKEY_LOG";
  std::string subject = "latchkey.log";
  int replicas = 3;
  // The window the stream keeps (nodes keep the whole history): 0, unbounded.
  std::int64_t max_age_seconds = 0;
  std::int64_t max_bytes = 0;
};

// The stream of blocks. Every publish states the sequence of the stream's
// last message it expects: JetStream refuses it otherwise, in log order,
// which is what fences a writer that another has replaced.
class BlockStream {
 public:
  // Binds to the stream, creating it when `create` (idempotent for the same
  // configuration). Errors: not_found when it does not exist and !create;
  // conflict when it exists with another configuration; unavailable when
  // JetStream does not answer (no quorum, no server).
  static Result<std::unique_ptr<BlockStream>> open(std::shared_ptr<Nats> nats, StreamConfig config,
                                                   bool create);
  ~BlockStream();

  // The sequence of the stream's last message (0: empty). Errors: unavailable.
  Result<std::uint64_t> last_seq();

  // Appends `bytes` as message expected_last + 1, and returns its sequence
  // once JetStream acknowledged it (held by a majority of the stream's
  // replicas). Errors: conflict when the stream's last message is not
  // expected_last (nothing was appended: another writer went first);
  // unavailable when no answer came in time: the outcome is unknown, and
  // get(expected_last + 1) tells, once it answers. Never republish blindly.
  Result<std::uint64_t> publish(std::uint64_t expected_last, std::string_view bytes);

  // publish() without waiting: `done` is called once, from a NATS or timer
  // thread, with what publish() would return. Several may be in flight:
  // JetStream checks each one's expected last sequence in log order.
  using Published = std::function<void(Result<std::uint64_t>)>;
  void publish_async(std::uint64_t expected_last, const std::string& bytes, Published done);

  // publish(), retried while JetStream does not answer (a leader election,
  // a lost server), for up to `patience_ms`. A retry is fenced like the
  // first attempt, so it can never store the bytes twice; when it is refused,
  // the message at expected_last + 1 tells whether an earlier attempt landed
  // (these very bytes: success) or another writer's did (conflict). Errors:
  // conflict; unavailable when no answer came within `patience_ms` (the
  // outcome is unknown).
  Result<std::uint64_t> append(std::uint64_t expected_last, std::string_view bytes,
                               int patience_ms);

  // The message at `seq`; nullopt when there is none (past the last, or
  // outside the stream's window). Errors: unavailable.
  Result<std::optional<std::string>> get(std::uint64_t seq);

  // The first sequence the stream still holds (its window's start; 0: empty).
  Result<std::uint64_t> first_seq();

  // The server name of the stream's current leader ("" while it has none).
  Result<std::string> leader();

  // The largest message the connected server takes (its max_payload).
  std::int64_t max_payload() const;

 private:
  struct Impl;
  explicit BlockStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct LeaseConfig {
  std::string bucket = "latchkey_lease";
  int replicas = 3;
  // A holder that has not renewed for this long has lost the lease: its key
  // ages out of the bucket, and any node may take it.
  int ttl_ms = 5000;
};

struct LeaseHolder {
  std::string node;
  std::uint64_t epoch = 0;  // grows with every new holder
};

// Who writes. One key in a JetStream key-value bucket, written only with a
// revision check: taken when absent (or given up), renewed by its holder
// with the revision it last wrote. Epochs are the bucket's revisions at the
// moment of taking, so a later holder always has a larger one.
class Lease {
 public:
  // Binds to the bucket, creating it if needed. Errors as BlockStream::open.
  static Result<std::unique_ptr<Lease>> open(std::shared_ptr<Nats> nats, LeaseConfig config,
                                             std::string node);
  ~Lease();

  // Takes the lease if nobody holds it. true: this node holds it now (under
  // a new epoch); false: another node does, and `*holder` (if given) is
  // that node, when it was read. Errors: unavailable.
  Result<bool> try_acquire(LeaseHolder* holder = nullptr);
  // Renews the held lease. Errors: conflict when it is lost (it aged out and
  // possibly another node took it): stop writing; unavailable when no
  // answer came (retry until the TTL runs out, then count it lost).
  Status renew();
  // Gives a held lease up, so another node need not wait for the TTL. A
  // lease already lost is left alone. Errors: unavailable.
  Status release();
  // The current holder, if any. Errors: unavailable.
  Result<std::optional<LeaseHolder>> holder();

  bool held() const;
  std::uint64_t epoch() const;  // of the held lease; 0 when not held

 private:
  struct Impl;
  explicit Lease(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where each node is, for operators (`latchkey cluster status`): one entry
// per node in a key-value bucket, written by the node itself about every
// second, aging out after `ttl_ms` when the node stops.
class NodeBoard {
 public:
  // Binds to the bucket, creating it if needed. Errors as BlockStream::open.
  static Result<std::unique_ptr<NodeBoard>> open(std::shared_ptr<Nats> nats,
                                                 const std::string& bucket, int replicas,
                                                 int ttl_ms);
  ~NodeBoard();
  // Errors: unavailable.
  Status put(const std::string& node, const std::string& value);
  // Every node's last entry, by node id. Errors: unavailable.
  Result<std::vector<std::pair<std::string, std::string>>> all();

 private:
  struct Impl;
  explicit NodeBoard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace latchkey::events::cluster
