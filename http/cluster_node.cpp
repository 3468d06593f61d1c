#include "http/cluster_node.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "events/binary.h"
#include "events/cluster/cluster_store.h"
#include "events/cluster/jetstream.h"
#include "events/cluster/messaging.h"
#include "http/awaitable.h"
#include "http/error_map.h"

namespace latchkey::http {

namespace net = boost::asio;
namespace cl = events::cluster;
using Steady = std::chrono::steady_clock;

namespace {

void put_pairs(bin::Writer& w, const std::vector<std::pair<std::string, std::string>>& pairs) {
  w.varint(pairs.size());
  for (const auto& [k, v] : pairs) {
    w.bytes(k);
    w.bytes(v);
  }
}

std::vector<std::pair<std::string, std::string>> get_pairs(bin::Reader& r) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::uint64_t n = r.varint();
  if (n > r.remaining()) {
    r.fail();
    return out;
  }
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string k(r.bytes());
    std::string v(r.bytes());
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

std::string encode_request(const Request& q) {
  bin::Writer w;
  w.bytes(q.method);
  w.bytes(q.target);
  w.bytes(q.path);
  w.bytes(q.query);
  put_pairs(w, q.headers);
  w.bytes(q.body);
  w.bytes(q.remote_ip);
  w.bytes(q.host);
  w.bytes(q.request_id);
  w.svarint(q.received_at);
  return w.take();
}

std::optional<Request> decode_request(std::string_view bytes) {
  bin::Reader r(bytes);
  Request q;
  q.method = r.bytes();
  q.target = r.bytes();
  q.path = r.bytes();
  q.query = r.bytes();
  q.headers = get_pairs(r);
  q.body = r.bytes();
  q.remote_ip = r.bytes();
  q.host = r.bytes();
  q.request_id = r.bytes();
  q.received_at = r.svarint();
  if (!r.ok() || !r.at_end()) return std::nullopt;
  q.forwarded = true;
  return q;
}

// The writer's answer, and the replicated log's position once it was given.
std::string encode_response(Response& s, std::uint64_t block) {
  if (s.stream) {  // a streamed body travels whole
    std::string chunk;
    while (s.stream(chunk)) {
      s.body += chunk;
      chunk.clear();
    }
    s.stream = nullptr;
  }
  bin::Writer w;
  w.u16(static_cast<std::uint16_t>(s.status));
  w.bytes(s.content_type);
  put_pairs(w, s.headers);
  w.bytes(s.body);
  w.bytes(s.route);
  w.bytes(s.principal);
  w.bytes(s.log_note);
  w.u64(block);
  return w.take();
}

std::optional<std::pair<Response, std::uint64_t>> decode_response(std::string_view bytes) {
  bin::Reader r(bytes);
  Response s;
  s.status = static_cast<HttpStatus>(r.u16());
  s.content_type = r.bytes();
  s.headers = get_pairs(r);
  s.body = r.bytes();
  s.route = r.bytes();
  s.principal = r.bytes();
  s.log_note = r.bytes();
  const std::uint64_t block = r.u64();
  if (!r.ok() || !r.at_end()) return std::nullopt;
  return std::pair{std::move(s), block};
}

net::awaitable<Response> run_forwarded(ClusterNode::Route route, Request req) {
  auto op = route(req);
  co_return co_await std::move(op);
}

}  // namespace

ClusterNode::ClusterNode(const Config& config, JsonLog& log) : config_(config), log_(log) {}

Result<std::unique_ptr<ClusterNode>> ClusterNode::open(const Config& config,
                                                       events::EventStore& local, JsonLog& log) {
  std::unique_ptr<ClusterNode> node(new ClusterNode(config, log));
  const int timeout = static_cast<int>(config.cluster_timeout_ms);
  auto nats = cl::Nats::connect({config.cluster_nats, "latchkey-" + config.cluster_node, timeout});
  if (!nats) return nats.error();
  node->nats_ = *nats;
  cl::StreamConfig sc;
  sc.name = config.cluster_stream;
  sc.subject = "latchkey.log." + config.cluster_stream;
  sc.replicas = static_cast<int>(config.cluster_replicas);
  sc.max_age_seconds = config.cluster_stream_max_age_seconds;
  sc.max_bytes = config.cluster_stream_max_bytes;
  node->subject_ = "latchkey.writes." + config.cluster_stream;
  node->blocks_subject_ = "latchkey.blocks." + config.cluster_stream;
  node->synced_subject_ = "latchkey.synced." + config.cluster_stream;
  // A NATS cluster that has just started elects its JetStream leader first.
  const auto deadline = Steady::now() + std::chrono::seconds(30);
  std::unique_ptr<cl::BlockStream> stream;
  for (;;) {
    auto s = cl::BlockStream::open(node->nats_, sc, true);
    if (s) {
      stream = std::move(*s);
      break;
    }
    if (s.error().code != Errc::unavailable || Steady::now() > deadline) return s.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  for (;;) {
    auto l =
        cl::Lease::open(node->nats_,
                        {config.cluster_lease_bucket, static_cast<int>(config.cluster_replicas),
                         static_cast<int>(config.cluster_lease_ttl_ms)},
                        config.cluster_node);
    if (l) {
      node->lease_ = std::move(*l);
      break;
    }
    if (Steady::now() > deadline) return l.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  auto board = cl::NodeBoard::open(node->nats_, config.cluster_lease_bucket + "_nodes",
                                   static_cast<int>(config.cluster_replicas),
                                   static_cast<int>(config.cluster_lease_ttl_ms * 3));
  if (!board) return board.error();
  node->board_ = std::move(*board);
  auto store = cl::ClusterStore::open(local, std::move(stream), config.cluster_node,
                                      std::max(timeout * 5, 10'000),
                                      static_cast<std::size_t>(config.cluster_blocks_in_flight));
  if (!store) return store.error();
  node->store_ = std::move(*store);
  node->applied_.reached(node->store_->position().block);
  auto requester = cl::Requester::open(node->nats_);
  if (!requester) return requester.error();
  node->requester_ = *requester;
  return node;
}

ClusterNode::~ClusterNode() { stop(); }

events::EventStore& ClusterNode::store() { return *store_; }

bool ClusterNode::writing() const { return store_->writing(); }

void ClusterNode::set_keys_opener(std::function<std::shared_ptr<events::PersonalKeys>(
                                      std::string_view, std::span<const std::string>)>
                                      f) {
  store_->set_keys_opener(std::move(f));
}

void ClusterNode::set_on_dropped(std::function<void(std::string_view)> f) {
  store_->set_on_dropped(std::move(f));
}

void ClusterNode::set_on_erased(std::function<Status(std::string_view, const std::string&)> f) {
  store_->set_on_erased(std::move(f));
}

service::Sequencer::Puller ClusterNode::puller() {
  service::Sequencer::Puller p;
  p.pull = [this] { return store_->pull(); };
  p.pulled = [this, last_error = std::string(),
              last_logged = Steady::time_point{}](const Status& st) mutable {
    if (st) {
      const std::uint64_t block = store_->position().block;
      if (block > applied_.value()) {
        applied_.reached(block);
        // Synced here: the writer may now acknowledge what waited for it.
        (void)cl::publish(*nats_, synced_subject_,
                          config_.cluster_node + "\n" + std::to_string(block));
      }
      return;
    }
    ++pull_failures_;
    // The same failure repeats every pull: said when it changes, and every 10 s.
    const auto now = Steady::now();
    if (st.error().message != last_error || now - last_logged > std::chrono::seconds(10)) {
      last_error = st.error().message;
      last_logged = now;
      log_.error("cannot apply the replicated log",
                 {{"detail", st.error().message + ": " + st.error().detail},
                  {"block", store_->position().block + 1}});
    }
  };
  // New blocks wake the puller at once (start()); this only catches a
  // wake-up lost to a reconnection.
  p.every = std::chrono::milliseconds(250);
  return p;
}

void ClusterNode::start(net::io_context& ioc, Route route, std::string address) {
  ioc_ = &ioc;
  address_ = std::move(address);
  route_ = std::move(route);
  // The writer announces each block JetStream has acknowledged, with its
  // bytes (what the stream holds at that sequence, its fence having let it
  // in): the other nodes apply it without a request to JetStream. A large
  // block is announced by its number alone, and read from the stream.
  store_->set_on_published([this](std::uint64_t block, const std::string& bytes) {
    constexpr std::size_t kMaxAnnounced = 256 * 1024;
    std::string body = std::to_string(block);
    if (bytes.size() <= kMaxAnnounced) body += "\n" + bytes;
    (void)cl::publish(*nats_, blocks_subject_, body);
  });
  auto watcher =
      cl::Responder::serve(nats_, blocks_subject_, [this](std::string body, cl::Responder::Reply) {
        const auto nl = body.find('\n');
        const std::uint64_t block = std::strtoull(body.c_str(), nullptr, 10);
        if (nl == std::string::npos) {
          store_->expect(block);
        } else {
          store_->offer(block, body.substr(nl + 1));
        }
        if (pull_soon_) pull_soon_();
      });
  // Other nodes' reports of what they synced.
  auto synced =
      cl::Responder::serve(nats_, synced_subject_, [this](std::string body, cl::Responder::Reply) {
        const auto nl = body.find('\n');
        if (nl == std::string::npos || body.compare(0, nl, config_.cluster_node) == 0) return;
        synced_.reached(std::strtoull(body.c_str() + nl + 1, nullptr, 10));
      });
  if (synced) {
    std::lock_guard lock(mu_);
    synced_watch_ = std::move(*synced);
  } else {
    log_.error("cannot hear other nodes' syncs: writes on this node will answer 503",
               {{"detail", synced.error().message}});
  }
  if (watcher) {
    std::lock_guard lock(mu_);
    watcher_ = std::move(*watcher);
  } else {
    log_.error("cannot watch the replicated log: new blocks are applied every 250 ms",
               {{"detail", watcher.error().message}});
  }
  lease_thread_ = std::thread([this] { lease_loop(); });
}

void ClusterNode::stop() {
  std::unique_ptr<cl::Responder> watcher, synced;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    watcher = std::move(watcher_);
    synced = std::move(synced_watch_);
  }
  watcher.reset();  // no wake-up reaches the Sequencer from here on
  synced.reset();
  cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  // Nothing waits past the stop: a write not yet confirmed answers 503.
  applied_.close();
  synced_.close();
}

void ClusterNode::lease_loop() {
  const auto ttl = std::chrono::milliseconds(config_.cluster_lease_ttl_ms);
  // The lease is surely this node's until half its TTL after the request
  // that took or renewed it was sent: the bucket's TTL starts later.
  auto renewed = Steady::now();
  // Every quarter TTL from the last attempt's start, however long the
  // attempt and the board's write took: a renewal is asked for well before
  // the sure time of the one before runs out.
  auto next = Steady::now() + ttl / 4;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next, [&] { return stopping_; });
      if (stopping_) break;
    }
    const auto asked = Steady::now();
    next = asked + ttl / 4;
    if (!lease_->held()) {
      cl::LeaseHolder holder;
      auto got = lease_->try_acquire(&holder);
      if (got && *got) {
        renewed = asked;
        become_writer(asked + ttl / 2);
        holder.epoch = lease_->epoch();
      }
      // A request forwarded to an earlier writer gets its answer soon if
      // that writer lives; if it died with the request, no answer comes.
      if (holder.epoch != 0)
        forwards_->writer_seen(
            holder.epoch, Steady::now() + std::chrono::milliseconds(config_.cluster_timeout_ms));
    } else if (auto st = lease_->renew(); st) {
      renewed = asked;
      store_->hold_until(asked + ttl / 2);
    } else if (st.error().code == Errc::conflict) {
      stop_writing("the lease was lost");
    } else if (Steady::now() - renewed > ttl / 2) {
      // Another node may take it once the TTL runs out: stop well before
      // (the store already refuses appends past that time).
      (void)lease_->release();
      stop_writing("the lease could not be renewed");
    }
    (void)board_->put(config_.cluster_node, status().dump());
    forwards_->cut(Steady::now());
    applied_.expire(Steady::now());
    synced_.expire(Steady::now());
  }
  const bool held = lease_->held();
  (void)lease_->release();
  if (held) stop_writing("the node is stopping");
}

void ClusterNode::become_writer(Steady::time_point until) {
  store_->lead(lease_->epoch(), until);
  ++writer_changes_;
  auto responder =
      cl::Responder::serve(nats_, subject_, [this](std::string body, cl::Responder::Reply reply) {
        serve(std::move(body), std::move(reply));
      });
  if (!responder) {
    log_.error("cannot serve forwarded writes", {{"detail", responder.error().message}});
  }
  {
    std::lock_guard lock(mu_);
    if (responder) responder_ = std::move(*responder);
  }
  log_.info("this node is the cluster's writer",
            {{"node", config_.cluster_node}, {"epoch", lease_->epoch()}});
}

void ClusterNode::stop_writing(const std::string& why) {
  store_->lead(0);
  std::unique_ptr<cl::Responder> gone;
  {
    std::lock_guard lock(mu_);
    gone = std::move(responder_);
  }
  gone.reset();
  log_.info("this node no longer writes", {{"node", config_.cluster_node}, {"reason", why}});
}

void ClusterNode::serve(std::string body, std::function<void(const std::string&)> reply) {
  auto req = decode_request(body);
  if (!req || ioc_ == nullptr) {
    Response bad =
        error_response(make_error(Errc::invalid_request, "a malformed forwarded request"), "");
    reply(encode_response(bad, store_->position().block));
    return;
  }
  net::co_spawn(*ioc_, run_forwarded(route_, std::move(*req)),
                [this, reply = std::move(reply)](std::exception_ptr e, Response r) {
                  if (e) r = error_response(make_error(Errc::internal, "internal error"), "");
                  reply(encode_response(r, store_->position().block));
                });
}

bool ClusterNode::needs_writer(const Request& req) {
  if (req.method == "GET" || req.method == "HEAD") {
    // Reading the audit trail is itself recorded (audit.read).
    return req.path == "/iam/audit" || req.path.starts_with("/iam/audit/");
  }
  return req.path != "/iam/introspect";
}

net::awaitable<Response> ClusterNode::forward(const Request& req) {
  if (req.forwarded) {
    Response r = error_response(
        make_error(Errc::unavailable, "this node no longer writes; try again"), req.request_id);
    r.route = "forwarded";
    co_return r;
  }
  ++forwarded_;
  const std::string bytes = encode_request(req);
  const int timeout =
      static_cast<int>(std::max<std::int64_t>(config_.cluster_timeout_ms * 5, 10'000));
  auto requester = requester_;
  const std::string subject = subject_;
  // Named first: GCC 12 mishandles temporaries inside a co_await expression.
  std::function<void(std::function<void(Result<std::string>)>)> start =
      [requester, subject, bytes, timeout,
       forwards = forwards_](std::function<void(Result<std::string>)> done) {
        // Answered by the writer, by the timeout, or sooner once another
        // writer is seen (the one asked may have died with the request).
        const std::uint64_t id = forwards->add(std::move(done));
        requester->request(subject, bytes, timeout, [forwards, id](Result<std::string> r) {
          forwards->answer(id, std::move(r));
        });
      };
  auto op = reply_of(std::move(start));
  auto reply = co_await std::move(op);
  std::optional<std::pair<Response, std::uint64_t>> answer;
  if (reply) answer = decode_response(*reply);
  if (!answer) {
    ++forward_failures_;
    Response r = error_response(
        reply ? make_error(Errc::internal, "the writer's answer is malformed")
              : make_error(Errc::unavailable,
                           "the cluster has no writer at the moment; try again shortly"),
        req.request_id);
    r.route = "forwarded";
    if (!reply) r.log_note = reply.error().message;
    co_return r;
  }
  // Read your writes: answer once this node's views hold the write. (A
  // node that does not get there in time still answers: the write is in
  // the log, and a 503 would invite a second one.)
  if (applied_.value() < answer->second) {
    store_->expect(answer->second);
    if (pull_soon_) pull_soon_();
  }
  auto applied = reach(applied_, answer->second);
  (void)co_await std::move(applied);
  co_return std::move(answer->first);
}

std::uint64_t ClusterNode::Forwards::add(std::function<void(Result<std::string>)> done) {
  std::lock_guard lock(mu);
  const std::uint64_t id = ++next;
  pending.emplace(id, Pending{writer_epoch, Steady::time_point::max(), std::move(done)});
  return id;
}

void ClusterNode::Forwards::answer(std::uint64_t id, Result<std::string> r) {
  std::function<void(Result<std::string>)> done;
  {
    std::lock_guard lock(mu);
    auto it = pending.find(id);
    if (it == pending.end()) return;  // answered already
    done = std::move(it->second.done);
    pending.erase(it);
  }
  done(std::move(r));
}

void ClusterNode::Forwards::writer_seen(std::uint64_t epoch, Steady::time_point until) {
  std::lock_guard lock(mu);
  if (epoch == writer_epoch) return;
  const bool changed = writer_epoch != 0;  // not the first read
  writer_epoch = epoch;
  if (!changed) return;
  for (auto& [id, p] : pending)
    if (p.epoch != epoch) p.cut = std::min(p.cut, until);
}

void ClusterNode::Forwards::cut(Steady::time_point now) {
  std::vector<std::function<void(Result<std::string>)>> due;
  {
    std::lock_guard lock(mu);
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.cut > now) {
        ++it;
        continue;
      }
      due.push_back(std::move(it->second.done));
      it = pending.erase(it);
    }
  }
  for (auto& done : due)
    done(make_error(Errc::unavailable, "the writer changed while the request waited for it"));
}

net::awaitable<Response> ClusterNode::confirmed(Response answer, std::string request_id) {
  const unsigned status = code(answer.status);
  if (status < 200 || status >= 300) co_return answer;
  auto op = reach(synced_, store_->position().block);
  if (co_await std::move(op)) co_return answer;
  Response r = error_response(
      make_error(Errc::unavailable,
                 "the change is in the replicated log, but no other node confirmed it in "
                 "time; it is not acknowledged"),
      request_id);
  r.route = answer.route;
  r.log_note = "not_confirmed";
  co_return r;
}

net::awaitable<bool> ClusterNode::reach(Waiters& waiters, std::uint64_t block) {
  if (waiters.value() >= block) co_return true;
  const auto deadline = Steady::now() + std::chrono::milliseconds(std::max<std::int64_t>(
                                            config_.cluster_timeout_ms * 5, 10'000));
  std::function<void(std::function<void(Result<std::string>)>)> start =
      [&waiters, block, deadline](std::function<void(Result<std::string>)> done) {
        waiters.wait(block, deadline, [done](bool ok) {
          if (ok)
            done(std::string());
          else
            done(make_error(Errc::unavailable, "not in time"));
        });
      };
  auto op = reply_of(std::move(start));
  auto r = co_await std::move(op);
  co_return r.has_value();
}

void ClusterNode::Waiters::wait(std::uint64_t block, Steady::time_point deadline,
                                std::function<void(bool)> done) {
  bool reached = false;
  {
    std::lock_guard lock(mu_);
    reached = value_ >= block;
    if (!reached && !closed_) {
      waiting_.emplace(block, Waiter{deadline, std::move(done)});
      return;
    }
  }
  done(reached);
}

void ClusterNode::Waiters::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  expire(Steady::time_point::max());
}

void ClusterNode::Waiters::reached(std::uint64_t block) {
  std::vector<std::function<void(bool)>> ready;
  {
    std::lock_guard lock(mu_);
    if (block <= value_) return;
    value_ = block;
    const auto end = waiting_.upper_bound(block);
    for (auto it = waiting_.begin(); it != end; ++it) ready.push_back(std::move(it->second.done));
    waiting_.erase(waiting_.begin(), end);
  }
  for (auto& d : ready) d(true);
}

void ClusterNode::Waiters::expire(Steady::time_point now) {
  std::vector<std::function<void(bool)>> late;
  {
    std::lock_guard lock(mu_);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.deadline <= now) {
        late.push_back(std::move(it->second.done));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : late) d(false);
}

std::uint64_t ClusterNode::Waiters::value() const {
  std::lock_guard lock(mu_);
  return value_;
}

void ClusterNode::add_metrics(Metrics& metrics) {
  metrics.add_gauge("latchkey_cluster_writer", "1 while this node is the cluster's writer.",
                    [this] { return writing() ? 1.0 : 0.0; });
  metrics.add_gauge("latchkey_cluster_applied_block",
                    "The last block of the replicated log that this node has applied.",
                    [this] { return static_cast<double>(store_->position().block); });
  metrics.add_collector([this](std::vector<Metrics::Sample>& out) {
    using Type = Metrics::Sample::Type;
    out.push_back({"latchkey_cluster_forwarded_total", "Writes this node forwarded to the writer.",
                   Type::counter, static_cast<double>(forwarded_.load())});
    out.push_back({"latchkey_cluster_forward_failures_total",
                   "Forwarded writes that got no answer from a writer (answered 503).",
                   Type::counter, static_cast<double>(forward_failures_.load())});
    out.push_back({"latchkey_cluster_writer_changes_total",
                   "Times this node became the cluster's writer.", Type::counter,
                   static_cast<double>(writer_changes_.load())});
    out.push_back({"latchkey_cluster_pull_failures_total",
                   "Failed attempts to apply the replicated log.", Type::counter,
                   static_cast<double>(pull_failures_.load())});
  });
}

nlohmann::json ClusterNode::status() const {
  const auto pos = store_->position();
  return {{"node", config_.cluster_node},
          {"address", address_},
          {"writing", writing()},
          {"epoch", store_->epoch()},
          {"applied_block", pos.block},
          {"forwarded", forwarded_.load()},
          {"time", std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()}};
}

Result<std::string> ClusterNode::cluster_status(const Config& config) {
  const int timeout = static_cast<int>(config.cluster_timeout_ms);
  auto nats = cl::Nats::connect({config.cluster_nats, "latchkey-status", timeout});
  if (!nats) return nats.error();
  cl::StreamConfig sc;
  sc.name = config.cluster_stream;
  auto stream = cl::BlockStream::open(*nats, sc, false);
  if (!stream) return stream.error();
  auto last = (*stream)->last_seq();
  if (!last) return last.error();
  auto first = (*stream)->first_seq();
  if (!first) return first.error();
  auto leader = (*stream)->leader();
  if (!leader) return leader.error();
  auto lease =
      cl::Lease::open(*nats,
                      {config.cluster_lease_bucket, static_cast<int>(config.cluster_replicas),
                       static_cast<int>(config.cluster_lease_ttl_ms)},
                      "latchkey-status");
  if (!lease) return lease.error();
  auto holder = (*lease)->holder();
  if (!holder) return holder.error();
  auto board = cl::NodeBoard::open(*nats, config.cluster_lease_bucket + "_nodes",
                                   static_cast<int>(config.cluster_replicas),
                                   static_cast<int>(config.cluster_lease_ttl_ms * 3));
  if (!board) return board.error();
  auto entries = (*board)->all();
  if (!entries) return entries.error();
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& [id, value] : *entries) {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    const std::uint64_t applied = j.value("applied_block", std::uint64_t{0});
    j["lag_blocks"] = *last > applied ? *last - applied : 0;
    nodes.push_back(std::move(j));
  }
  nlohmann::json out = {{"stream",
                         {{"name", config.cluster_stream},
                          {"last_block", *last},
                          {"first_block", *first},
                          {"leader", *leader}}},
                        {"writer", nullptr},
                        {"epoch", 0},
                        {"nodes", std::move(nodes)}};
  if (*holder) {
    out["writer"] = (*holder)->node;
    out["epoch"] = (*holder)->epoch;
  }
  return out.dump(2);
}

}  // namespace latchkey::http
