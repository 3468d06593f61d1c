#include "events/cluster/cluster_store.h"

#include "events/cluster/block.h"
#include "events/codec.h"

#include <algorithm>
#include <condition_variable>

namespace latchkey::events::cluster {

ClusterStore::ClusterStore(EventStore& local, std::unique_ptr<BlockStream> stream, std::string node,
                           int patience_ms, std::size_t blocks_in_flight, ReplicaPosition position)
    : local_(local),
      stream_(std::move(stream)),
      node_(std::move(node)),
      patience_ms_(patience_ms),
      blocks_in_flight_(std::max<std::size_t>(1, blocks_in_flight)),
      position_(position) {}

Result<std::unique_ptr<ClusterStore>> ClusterStore::open(EventStore& local,
                                                         std::unique_ptr<BlockStream> stream,
                                                         std::string node, int patience_ms,
                                                         std::size_t blocks_in_flight) {
  auto position = local.replica_position();
  if (!position) return position.error();
  return std::unique_ptr<ClusterStore>(new ClusterStore(local, std::move(stream), std::move(node),
                                                        patience_ms, blocks_in_flight, *position));
}

EventLog& ClusterStore::log(std::string_view project) {
  EventLog& log = local_.log(project);
  std::lock_guard lock(mu_);
  projects_.try_emplace(&log, project);
  return log;
}

std::string ClusterStore::project_of(const EventLog* log) {
  std::lock_guard lock(mu_);
  auto it = projects_.find(log);
  return it == projects_.end() ? std::string() : it->second;
}

EventStore::ReplicaPosition ClusterStore::position() const {
  std::lock_guard lock(mu_);
  return position_;
}

void ClusterStore::lead(std::uint64_t epoch, std::chrono::steady_clock::time_point until) {
  if (epoch != epoch_.load()) caught_up_ = false;  // a new term starts with a pull
  hold_until(until);
  epoch_ = epoch;
}

void ClusterStore::hold_until(std::chrono::steady_clock::time_point until) {
  held_until_ = until.time_since_epoch().count();
}

namespace {
bool before(const std::atomic<std::chrono::steady_clock::rep>& until) {
  return std::chrono::steady_clock::now().time_since_epoch().count() < until.load();
}
}  // namespace

std::optional<Error> ClusterStore::refusal(std::uint64_t epoch) const {
  if (epoch == 0) return make_error(Errc::unavailable, "this node is not the cluster's writer");
  if (!caught_up_.load())
    return make_error(Errc::unavailable, "the cluster's writer is catching up");
  if (!before(held_until_))
    return make_error(Errc::unavailable, "the writer's lease could not be renewed in time");
  if (broken_.load())
    return make_error(Errc::unavailable, "an earlier block of this writer failed");
  return std::nullopt;
}

bool ClusterStore::writing() const {
  return epoch_.load() != 0 && caught_up_.load() && before(held_until_);
}

// A block sent and not yet completed.
struct ClusterStore::SentBlock final : EventStore::Sent {
  std::optional<Error> error;  // refused before it was published
  bool empty = false;          // nothing to publish
  std::size_t parts = 0;
  std::vector<PreparedPart> prepared;
  std::map<const EventLog*, std::vector<std::string>> keys;  // the data keys it carries
  std::string bytes;
  std::uint64_t expected_last = 0;
  Digest hash{};
  // JetStream's answer, from a NATS or timer thread.
  struct Ack {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<std::uint64_t>> result;  // GUARDED_BY(mu)
  };
  std::shared_ptr<Ack> ack = std::make_shared<Ack>();
};

void ClusterStore::keep_unsent(std::map<const EventLog*, std::vector<std::string>>& keys) {
  std::lock_guard lock(mu_);
  for (auto& [log, records] : keys) {
    if (records.empty()) continue;
    auto& mine = unsent_keys_[log];
    mine.insert(mine.end(), std::make_move_iterator(records.begin()),
                std::make_move_iterator(records.end()));
  }
  keys.clear();
}

Result<std::vector<std::vector<Event>>> ClusterStore::append(std::span<const Part> parts,
                                                             Micros time) {
  auto sent = send(parts, time);
  return complete(*sent);
}

std::unique_ptr<EventStore::Sent> ClusterStore::send(std::span<const Part> parts, Micros time) {
  auto block = std::make_unique<SentBlock>();
  block->parts = parts.size();
  {
    std::lock_guard lock(mu_);
    if (in_flight_++ == 0) {
      // Nothing in flight: the next block follows what this node holds.
      sent_ = position_;
      sent_heads_.clear();
    }
  }
  const std::uint64_t epoch = epoch_.load();
  if (auto refused = refusal(epoch)) {
    block->error = std::move(*refused);
    return block;
  }
  std::vector<Part> chained(parts.begin(), parts.end());
  for (auto& part : chained) {
    if (auto it = sent_heads_.find(part.log); it != sent_heads_.end()) part.after = it->second;
    if (auto keys = part.log->personal_keys()) keys->keep_new_records();
  }
  auto prepared = local_.prepare(chained, time);
  // Keys made while preparing, and those of earlier blocks that were not
  // published: this block carries them.
  {
    std::lock_guard lock(mu_);
    for (const auto& part : parts) {
      auto keys = part.log->personal_keys();
      if (!keys) continue;
      auto& mine = block->keys[part.log];
      if (auto it = unsent_keys_.find(part.log); it != unsent_keys_.end()) {
        mine = std::move(it->second);
        unsent_keys_.erase(it);
      }
      for (auto& k : keys->take_new_records()) mine.push_back(std::move(k));
    }
  }
  if (!prepared) {
    keep_unsent(block->keys);
    block->error = prepared.error();
    return block;
  }
  cluster::Block encoded;
  encoded.epoch = epoch;
  encoded.writer = node_;
  encoded.prev = sent_.hash;
  for (auto& part : *prepared) {
    if (part.events.empty()) continue;
    const std::string project = project_of(part.log);
    if (project.empty()) {
      keep_unsent(block->keys);
      block->error = make_error(Errc::internal, "a log this store did not open");
      return block;
    }
    std::vector<std::string> keys;
    if (auto it = block->keys.find(part.log); it != block->keys.end()) keys = it->second;
    encoded.parts.push_back(BlockPart{project, {}, part.records, std::move(keys)});
  }
  if (encoded.parts.empty()) {
    keep_unsent(block->keys);
    block->empty = true;
    return block;
  }
  block->bytes = encode_block(encoded);
  if (const auto limit = stream_->max_payload();
      limit > 0 && block->bytes.size() > static_cast<std::size_t>(limit)) {
    // NATS would refuse it (and every retry): refused here, nothing published.
    keep_unsent(block->keys);
    block->error = make_error(
        Errc::unavailable, "a group commit is too large for one NATS message",
        std::to_string(block->bytes.size()) + " bytes, the servers take " + std::to_string(limit));
    return block;
  }
  block->hash = encoded.hash;
  block->expected_last = sent_.block;
  block->prepared = std::move(*prepared);
  sent_ = ReplicaPosition{sent_.block + 1, encoded.hash};
  for (const auto& part : block->prepared) {
    if (part.events.empty()) continue;
    const Event& last = part.events.back();
    sent_heads_[part.log] = Head{last.seq, last.time, last.hash};
  }
  stream_->publish_async(block->expected_last, block->bytes,
                         [ack = block->ack](Result<std::uint64_t> r) {
                           {
                             std::lock_guard lock(ack->mu);
                             ack->result = std::move(r);
                           }
                           ack->cv.notify_all();
                         });
  return block;
}

Result<std::vector<std::vector<Event>>> ClusterStore::complete(Sent& sent) {
  auto& block = static_cast<SentBlock&>(sent);
  struct Completed {
    ClusterStore& self;
    ~Completed() {
      std::lock_guard lock(self.mu_);
      --self.in_flight_;
    }
  } completed{*this};
  if (block.error) return *block.error;
  if (block.empty) return std::vector<std::vector<Event>>(block.parts);
  const auto fail = [&](Error e) -> Error {
    // Refused: another writer's block is there, so this node is behind and
    // its views were not the newest. Unknown: the block may be in the
    // stream; the next pull applies it if so. Either way nothing was
    // written here, and the blocks after it cannot be.
    caught_up_ = false;
    broken_ = true;
    keep_unsent(block.keys);
    if (e.code != Errc::internal) e.code = Errc::unavailable;
    return e;
  };
  if (broken_.load())
    return fail(make_error(Errc::unavailable, "an earlier block of this writer failed"));
  Result<std::uint64_t> seq = make_error(Errc::unavailable, "no acknowledgement from JetStream");
  {
    std::unique_lock lock(block.ack->mu);
    block.ack->cv.wait(lock, [&] { return block.ack->result.has_value(); });
    seq = std::move(*block.ack->result);
  }
  if (!seq && seq.error().code == Errc::unavailable) {
    // No answer: retried, fenced as before, which also finds out whether
    // the first attempt landed. Never republished blindly.
    seq = stream_->append(block.expected_last, block.bytes, patience_ms_);
  }
  if (!seq) return fail(seq.error());
  if (on_published_) on_published_(*seq, block.bytes);
  const ReplicaPosition after{*seq, block.hash};
  if (auto st = local_.write_prepared(block.prepared, after); !st) {
    // In the replicated log, not here: the next pull applies it.
    caught_up_ = false;
    broken_ = true;
    return st.error();
  }
  {
    std::lock_guard lock(mu_);
    position_ = after;
  }
  std::vector<std::vector<Event>> out(block.parts);
  for (std::size_t i = 0; i < block.parts; ++i) out[i] = std::move(block.prepared[i].events);
  return out;
}

Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> ClusterStore::pull(
    std::size_t max_blocks) {
  // The blocks read are written here together, as one synced write: a node
  // that is behind catches up with one sync for many blocks.
  constexpr std::size_t kMaxEventsPerWrite = 8192;
  ReplicaPosition at = position();
  std::vector<PreparedPart> parts;
  std::map<const EventLog*, std::size_t> part_of;
  std::size_t events = 0;
  bool more = true;  // false once the end of the stream was reached
  std::size_t n = 0;
  // One block's parts, merged into `parts`; its data keys stored and its
  // erasures carried out first, so that what its events seal opens here too,
  // and an erased principal's key is gone before the erasure is written
  // (repeated if a crash comes in between).
  const auto take = [&](Block& block) -> Status {
    for (auto& p : block.parts) {
      EventLog& l = log(p.project);
      if (p.drop) {
        // Applied alone (see the loop below): nothing gathered can follow it.
        if (auto st = local_.drop(p.project); !st) return st;
        if (on_dropped_) on_dropped_(p.project);
        continue;
      }
      if (!p.keys.empty()) {
        auto keys = l.personal_keys();
        if (!keys && keys_opener_) keys = keys_opener_(p.project, p.keys);
        if (!keys)
          return make_error(Errc::unavailable,
                            "cannot store the data keys of project " + p.project);
        for (const auto& k : p.keys)
          if (auto st = keys->import_record(k); !st) return st;
      }
      for (const auto& e : p.events) {
        if (e.type != EventType::principal_erased) continue;
        auto keys = l.personal_keys();
        if (!keys && keys_opener_) keys = keys_opener_(p.project, p.keys);
        if (!keys) return make_error(Errc::unavailable, "cannot erase a principal's data key");
        const std::string& principal = std::get<PrincipalErased>(e.data).id;
        if (auto st = keys->erase(principal); !st) return st;
        if (on_erased_) {
          if (auto st = on_erased_(p.project, principal); !st) return st;
        }
      }
    }
    // Nothing can fail from here on: a block is merged whole or not at all.
    for (auto& p : block.parts) {
      if (p.drop) continue;
      EventLog& l = log(p.project);
      events += p.events.size();
      auto [it, fresh] = part_of.try_emplace(&l, parts.size());
      if (fresh) {
        parts.push_back(PreparedPart{&l, std::move(p.events), std::move(p.records)});
      } else {
        auto& into = parts[it->second];
        into.events.insert(into.events.end(), std::make_move_iterator(p.events.begin()),
                           std::make_move_iterator(p.events.end()));
        into.records.insert(into.records.end(), std::make_move_iterator(p.records.begin()),
                            std::make_move_iterator(p.records.end()));
      }
    }
    return {};
  };
  // The next block: nullopt at the end of the stream.
  const auto next = [&]() -> Result<std::optional<Block>> {
    if (held_) {
      std::optional<Block> b = std::move(held_);
      held_.reset();
      if (b->prev == at.hash) return b;  // else read again, and checked, below
    }
    Result<std::optional<std::string>> bytes = std::optional<std::string>{};
    bool announced = false;
    bool past_known = false;
    {
      std::lock_guard lock(mu_);
      offered_.erase(offered_.begin(), offered_.upper_bound(at.block));
      if (auto it = offered_.find(at.block + 1); it != offered_.end()) {
        bytes = std::optional<std::string>(std::move(it->second));
        offered_.erase(it);
        announced = true;
      }
      past_known = at.block >= known_;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!announced) {
      // Nothing announced beyond this node: the end, unless an announcement
      // was lost; the stream itself is asked when a newer block is known to
      // exist, when taking over as the writer, and every 2 s.
      if (past_known && caught_up_.load() && now - checked_ < std::chrono::seconds(2))
        return std::optional<Block>{};
      checked_ = now;
      bytes = stream_->get(at.block + 1);
    }
    if (!bytes) return bytes.error();
    if (!*bytes && !caught_up_.load()) {
      // Nothing after this node's position: the end of the stream, or a
      // position the stream's window has passed (then this node can never
      // catch up from the stream: it needs a peer's copy).
      auto last = stream_->last_seq();
      if (!last) return last.error();
      if (*last > at.block) {
        bytes = stream_->get(at.block + 1);
        if (!bytes) return bytes.error();
        if (!*bytes)
          return make_error(Errc::corruption,
                            "this node is at block " + std::to_string(at.block) +
                                ", which the replicated log no longer holds: start it "
                                "from a copy of another node's data (docs/cluster.md)");
      }
    }
    if (!*bytes) return std::optional<Block>{};
    auto block = decode_block(**bytes);
    if (!block) return block.error();
    if (block->prev != at.hash)
      return make_error(Errc::corruption,
                        "block " + std::to_string(at.block + 1) +
                            " of the replicated log does not follow the block before it");
    return std::optional<Block>(std::move(*block));
  };
  // An error after some blocks: those are written, and the next pull meets it again.
  std::optional<Error> failed;
  while (n < max_blocks && events < kMaxEventsPerWrite) {
    auto block = next();
    if (!block) {
      failed = block.error();
      break;
    }
    if (!*block) {
      more = false;
      break;
    }
    const bool drops = std::any_of((*block)->parts.begin(), (*block)->parts.end(),
                                   [](const BlockPart& p) { return p.drop; });
    if (drops && n > 0) {
      // The blocks before it are written first: a drop removes what is
      // stored, not what is still gathered here.
      held_ = std::move(**block);
      more = true;
      break;
    }
    if (auto st = take(**block); !st) {
      failed = st.error();
      break;
    }
    at = ReplicaPosition{at.block + 1, (*block)->hash};
    ++n;
  }
  if (failed && n == 0) return *failed;
  if (failed) more = true;
  std::vector<std::pair<EventLog*, std::vector<Event>>> found;
  if (n > 0) {
    if (auto st = local_.write_prepared(parts, at); !st) {
      if (st.error().code == Errc::conflict)
        return make_error(Errc::corruption,
                          "blocks up to " + std::to_string(at.block) +
                              " of the replicated log do not follow this node's log",
                          st.error().detail);
      return st.error();
    }
    {
      std::lock_guard lock(mu_);
      position_ = at;
    }
    for (auto& p : parts) {
      // The views take the events as this node's log reads them: personal
      // data opened with the project's keys (the block's decoding had none).
      if (auto keys = p.log->personal_keys()) {
        for (std::size_t i = 0; i < p.events.size(); ++i) {
          auto opened = decode_stored(p.records[i], keys.get());
          if (!opened) return opened.error();
          p.events[i] = std::move(*opened);
        }
      }
      found.emplace_back(p.log, std::move(p.events));
    }
  }
  caught_up_ = !more;  // with more left, the next pull goes on
  return found;
}

void ClusterStore::offer(std::uint64_t seq, std::string bytes) {
  constexpr std::size_t kMaxOffered = 4096;  // a node that stopped applying keeps no more
  std::lock_guard lock(mu_);
  if (seq <= position_.block) return;
  known_ = std::max(known_, seq);
  offered_.emplace(seq, std::move(bytes));
  while (offered_.size() > kMaxOffered) offered_.erase(std::prev(offered_.end()));
}

void ClusterStore::expect(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  known_ = std::max(known_, seq);
}

Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> ClusterStore::recover() {
  broken_ = false;
  auto found = local_.recover();
  if (!found) return found.error();
  auto position = local_.replica_position();
  if (!position) return position.error();
  {
    std::lock_guard lock(mu_);
    position_ = *position;
  }
  auto pulled = pull();
  if (!pulled) return pulled.error();
  for (auto& f : *pulled) found->push_back(std::move(f));
  return found;
}

Status ClusterStore::drop(std::string_view project) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ != 0)
      return make_error(Errc::internal, "a project is dropped with blocks in flight");
  }
  const std::uint64_t epoch = epoch_.load();
  if (auto refused = refusal(epoch)) return *refused;
  const ReplicaPosition at = position();
  Block block;
  block.epoch = epoch;
  block.writer = node_;
  block.prev = at.hash;
  BlockPart gone;
  gone.project = std::string(project);
  gone.drop = true;
  block.parts.push_back(std::move(gone));
  const std::string bytes = encode_block(block);
  // Fenced on the last block, and on a lost answer read back, never
  // published twice: as every block.
  auto seq = stream_->append(at.block, bytes, patience_ms_);
  if (!seq) {
    // Refused: this node is behind. Unknown: the block may be there; the
    // next pull applies it, here too, if it is.
    caught_up_ = false;
    Error e = seq.error();
    if (e.code != Errc::internal) e.code = Errc::unavailable;
    return e;
  }
  if (on_published_) on_published_(*seq, bytes);
  const ReplicaPosition after{*seq, block.hash};
  // Dropped, then the position: a crash in between drops it again at the
  // next start's pull (a drop of nothing is nothing).
  auto st = local_.drop(project);
  if (st) st = local_.write_prepared({}, after);
  if (!st) {
    caught_up_ = false;
    broken_ = true;
    return st.error().code == Errc::internal
               ? st.error()
               : make_error(Errc::unavailable, st.error().message, st.error().detail);
  }
  std::lock_guard lock(mu_);
  position_ = after;
  return {};
}

}  // namespace latchkey::events::cluster
