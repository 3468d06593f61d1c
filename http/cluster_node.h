#pragma once
// A server's part in a cluster (docs/cluster.md): its store kept equal to the
// replicated log, the writer's lease, and writes forwarded to the writer.
//
// Every node applies the writer's blocks through its Sequencer's puller, so
// its views follow the log like the writer's. The node holding the lease
// writes, and serves the writes other nodes forward to it; the others send
// every write there and answer once they have applied it themselves, so a
// client that writes through one node reads its write there at once.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <thread>

#include "events/event_log.h"
#include "events/personal.h"
#include "http/config.h"
#include "http/json_log.h"
#include "http/metrics.h"
#include "http/types.h"
#include "service/sequencer.h"

namespace latchkey::events::cluster {
class ClusterStore;
class Lease;
class NodeBoard;
class Nats;
class Requester;
class Responder;
}  // namespace latchkey::events::cluster

namespace latchkey::http {

class ClusterNode {
 public:
  using Route = std::function<boost::asio::awaitable<Response>(const Request&)>;

  // Connects to NATS and binds (creating if needed) the stream and the lease
  // bucket. `local` outlives the node. Errors: unavailable when NATS or
  // JetStream does not answer; conflict for a stream configured otherwise.
  static Result<std::unique_ptr<ClusterNode>> open(const Config& config, events::EventStore& local,
                                                   JsonLog& log);
  ~ClusterNode();  // stop()s

  // The store the server's Sequencer appends to.
  events::EventStore& store();
  // Where the data keys of a project not loaded on this node are stored
  // when a block brings some (see ClusterStore::set_keys_opener).
  void set_keys_opener(std::function<std::shared_ptr<events::PersonalKeys>(
                           std::string_view project, std::span<const std::string> records)>
                           f);
  // What else the node keeps of a project whose records a block dropped
  // (see ClusterStore::set_on_dropped).
  void set_on_dropped(std::function<void(std::string_view project)> f);
  // What rewrites the node's snapshots after an erasure a block brought
  // (see ClusterStore::set_on_erased).
  void set_on_erased(
      std::function<Status(std::string_view project, const std::string& principal)> f);
  // For the server's Sequencer: applies the blocks of other writers.
  service::Sequencer::Puller puller();
  // How to make the Sequencer pull at once (Sequencer::pull_soon): a
  // forwarded write's answer names a block this node has not applied yet.
  void set_pull_soon(std::function<void()> pull_soon) { pull_soon_ = std::move(pull_soon); }
  // Starts the lease loop; when this node becomes the writer, it serves
  // forwarded writes by running them through `route` on `ioc`.
  void start(boost::asio::io_context& ioc, Route route, std::string address);
  // Gives the lease up (if held) and stops serving forwarded writes.
  void stop();

  // Whether a request changes state, so that only the writer may run it.
  static bool needs_writer(const Request& req);
  // This node holds the lease and has applied everything: it writes.
  bool writing() const;
  // Sends `req` to the writer and returns its answer once this node has
  // applied what it wrote; 503 when no writer answers in time.
  boost::asio::awaitable<Response> forward(const Request& req);
  // On the writer, for a write it ran itself: `answer` once another node
  // has reported that it synced what this node wrote so far (a 200 then
  // survives the loss of the writer's disk); 503 when none does in time.
  boost::asio::awaitable<Response> confirmed(Response answer, std::string request_id);

  void add_metrics(Metrics& metrics);
  // This node's entry on the nodes' board.
  nlohmann::json status() const;
  // `latchkey cluster status`: the writer, the stream, and every node's
  // position and lag, read from NATS. Errors: unavailable.
  static Result<std::string> cluster_status(const Config& config);  // JSON

 private:
  ClusterNode(const Config& config, JsonLog& log);
  void lease_loop();
  void become_writer(std::chrono::steady_clock::time_point until);
  void stop_writing(const std::string& why);
  void serve(std::string body, std::function<void(const std::string&)> reply);

  // Coroutines waiting for a block number to be reached (applied here, or
  // synced by another node), each with a deadline.
  class Waiters {
   public:
    // done(true) once reached() has seen `block` or more, done(false) at the
    // deadline (found by expire()). `done` runs on the caller of reached,
    // expire or wait: it must only hand the result off.
    void wait(std::uint64_t block, std::chrono::steady_clock::time_point deadline,
              std::function<void(bool)> done);
    void reached(std::uint64_t block);
    void expire(std::chrono::steady_clock::time_point now);
    // Fails every waiter, and every later one at once (the node stops).
    void close();
    std::uint64_t value() const;

   private:
    struct Waiter {
      std::chrono::steady_clock::time_point deadline;
      std::function<void(bool)> done;
    };
    mutable std::mutex mu_;
    std::uint64_t value_ = 0;                       // GUARDED_BY(mu_)
    bool closed_ = false;                           // GUARDED_BY(mu_)
    std::multimap<std::uint64_t, Waiter> waiting_;  // GUARDED_BY(mu_)
  };
  boost::asio::awaitable<bool> reach(Waiters& waiters, std::uint64_t block);

  // The forwarded requests waiting for the writer's answer, each with the
  // writer's epoch as this node knew it when sending. Shared with the
  // requests' callbacks, which may come after the node is gone.
  struct Forwards {
    struct Pending {
      std::uint64_t epoch = 0;
      std::chrono::steady_clock::time_point cut = std::chrono::steady_clock::time_point::max();
      std::function<void(Result<std::string>)> done;  // called once, once taken out
    };
    std::mutex mu;
    std::uint64_t writer_epoch = 0;            // GUARDED_BY(mu)
    std::uint64_t next = 0;                    // GUARDED_BY(mu)
    std::map<std::uint64_t, Pending> pending;  // GUARDED_BY(mu)
    // Registers `done` under the writer's epoch known now; its id.
    std::uint64_t add(std::function<void(Result<std::string>)> done);
    // Calls the pending one's `done` (if still pending) with `r`.
    void answer(std::uint64_t id, Result<std::string> r);
    // The lease's holder as the lease loop read it: forwards sent to an
    // earlier writer (dead, or fenced) wait until `cut` at most.
    void writer_seen(std::uint64_t epoch, std::chrono::steady_clock::time_point cut);
    // Answers 503 to the forwards whose cut has come.
    void cut(std::chrono::steady_clock::time_point now);
  };

  Config config_;
  JsonLog& log_;
  std::string subject_;         // where forwarded writes go
  std::string blocks_subject_;  // where the writer announces new blocks
  std::shared_ptr<events::cluster::Nats> nats_;
  std::unique_ptr<events::cluster::ClusterStore> store_;
  std::unique_ptr<events::cluster::Lease> lease_;
  std::unique_ptr<events::cluster::NodeBoard> board_;
  std::string address_;
  std::shared_ptr<events::cluster::Requester> requester_;
  boost::asio::io_context* ioc_ = nullptr;
  Route route_;
  std::function<void()> pull_soon_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                  // GUARDED_BY(mu_)
  std::unique_ptr<events::cluster::Responder> responder_;  // GUARDED_BY(mu_)
  std::unique_ptr<events::cluster::Responder> watcher_;    // GUARDED_BY(mu_)
  std::thread lease_thread_;

  Waiters applied_;  // the last block whose events this node's views have
  Waiters synced_;   // the last block another node reported synced (on the writer)
  std::string synced_subject_;
  std::unique_ptr<events::cluster::Responder> synced_watch_;  // GUARDED_BY(mu_)
  std::shared_ptr<Forwards> forwards_ = std::make_shared<Forwards>();
  std::atomic<std::uint64_t> forwarded_{0};
  std::atomic<std::uint64_t> forward_failures_{0};
  std::atomic<std::uint64_t> writer_changes_{0};
  std::atomic<std::uint64_t> pull_failures_{0};
};

}  // namespace latchkey::http
