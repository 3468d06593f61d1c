#include "events/cluster/cluster_store.h"

#include "events/cluster/block.h"
#include "events/codec.h"

namespace latchkey::events::cluster {

ClusterStore::ClusterStore(EventStore& local, std::unique_ptr<BlockStream> stream, std::string node,
                           int patience_ms, ReplicaPosition position)
    : local_(local),
      stream_(std::move(stream)),
      node_(std::move(node)),
      patience_ms_(patience_ms),
      position_(position) {}

Result<std::unique_ptr<ClusterStore>> ClusterStore::open(EventStore& local,
                                                         std::unique_ptr<BlockStream> stream,
                                                         std::string node, int patience_ms) {
  auto position = local.replica_position();
  if (!position) return position.error();
  return std::unique_ptr<ClusterStore>(
      new ClusterStore(local, std::move(stream), std::move(node), patience_ms, *position));
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

void ClusterStore::lead(std::uint64_t epoch) {
  if (epoch != epoch_.load()) caught_up_ = false;  // a new term starts with a pull
  epoch_ = epoch;
}

Result<std::vector<std::vector<Event>>> ClusterStore::append(std::span<const Part> parts,
                                                             Micros time) {
  const std::uint64_t epoch = epoch_.load();
  if (epoch == 0) return make_error(Errc::unavailable, "this node is not the cluster's writer");
  if (!caught_up_.load())
    return make_error(Errc::unavailable, "the cluster's writer is catching up");
  for (const auto& part : parts)
    if (auto keys = part.log->personal_keys()) keys->keep_new_records();
  auto prepared = local_.prepare(parts, time);
  // Keys made while preparing, and those of earlier blocks that were not
  // published: this block carries them.
  std::map<const EventLog*, std::vector<std::string>> new_keys;
  for (const auto& part : parts) {
    auto keys = part.log->personal_keys();
    if (!keys) continue;
    auto& mine = new_keys[part.log];
    if (auto it = unsent_keys_.find(part.log); it != unsent_keys_.end()) {
      mine = std::move(it->second);
      unsent_keys_.erase(it);
    }
    for (auto& k : keys->take_new_records()) mine.push_back(std::move(k));
  }
  const auto keep_unsent = [&] {
    for (auto& [log, keys] : new_keys)
      if (!keys.empty()) unsent_keys_[log] = std::move(keys);
  };
  if (!prepared) {
    keep_unsent();
    return prepared.error();
  }
  const ReplicaPosition before = position();
  Block block;
  block.epoch = epoch;
  block.writer = node_;
  block.prev = before.hash;
  for (auto& part : *prepared) {
    if (part.events.empty()) continue;
    const std::string project = project_of(part.log);
    if (project.empty()) return make_error(Errc::internal, "a log this store did not open");
    std::vector<std::string> keys;
    if (auto it = new_keys.find(part.log); it != new_keys.end()) keys = it->second;
    block.parts.push_back(BlockPart{project, {}, part.records, std::move(keys)});
  }
  if (block.parts.empty()) {
    keep_unsent();
    std::vector<std::vector<Event>> none(parts.size());
    return none;
  }
  const std::string bytes = encode_block(block);
  auto seq = stream_->append(before.block, bytes, patience_ms_);
  if (!seq) {
    // Refused: another writer's block is there, so this node is behind and
    // its views were not the newest. Unknown: the block may be in the stream;
    // the next pull applies it if so. Either way nothing was written here.
    caught_up_ = false;
    keep_unsent();
    Error e = seq.error();
    e.code = Errc::unavailable;
    return e;
  }
  if (on_published_) on_published_(*seq);
  const ReplicaPosition after{*seq, block.hash};
  if (auto st = local_.write_prepared(*prepared, after); !st) {
    // In the replicated log, not here: the next pull applies it.
    caught_up_ = false;
    return st.error();
  }
  {
    std::lock_guard lock(mu_);
    position_ = after;
  }
  std::vector<std::vector<Event>> out(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) out[i] = std::move((*prepared)[i].events);
  return out;
}

Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> ClusterStore::pull(
    std::size_t max_blocks) {
  std::vector<std::pair<EventLog*, std::vector<Event>>> found;
  for (std::size_t n = 0; n < max_blocks; ++n) {
    const ReplicaPosition at = position();
    auto bytes = stream_->get(at.block + 1);
    if (!bytes) return bytes.error();
    if (!*bytes) {
      if (!caught_up_.load()) {
        // Nothing after this node's position: the end of the stream, or
        // a position the stream's window has passed (then this node can
        // never catch up from the stream: it needs a peer's copy).
        auto last = stream_->last_seq();
        if (!last) return last.error();
        if (*last > at.block) {
          auto again = stream_->get(at.block + 1);
          if (!again) return again.error();
          if (!*again)
            return make_error(Errc::corruption,
                              "this node is at block " + std::to_string(at.block) +
                                  ", which the replicated log no longer holds: start it "
                                  "from a copy of another node's data (docs/cluster.md)");
          continue;
        }
      }
      caught_up_ = true;
      return found;
    }
    auto block = decode_block(**bytes);
    if (!block) return block.error();
    if (block->prev != at.hash)
      return make_error(Errc::corruption,
                        "block " + std::to_string(at.block + 1) +
                            " of the replicated log does not follow the block before it");
    std::vector<PreparedPart> parts;
    parts.reserve(block->parts.size());
    for (auto& p : block->parts) {
      EventLog& l = log(p.project);
      if (!p.keys.empty()) {
        // Before the events: what they seal must open here too.
        auto keys = l.personal_keys();
        if (!keys && keys_opener_) keys = keys_opener_(p.project);
        if (!keys)
          return make_error(Errc::unavailable,
                            "cannot store the data keys of project " + p.project);
        for (const auto& k : p.keys)
          if (auto st = keys->import_record(k); !st) return st.error();
      }
      // An erasure is carried out here too, before its event is written
      // (repeated if a crash comes in between): the principal's key goes.
      for (const auto& e : p.events) {
        if (e.type != EventType::principal_erased) continue;
        auto keys = l.personal_keys();
        if (!keys && keys_opener_) keys = keys_opener_(p.project);
        if (!keys) return make_error(Errc::unavailable, "cannot erase a principal's data key");
        if (auto st = keys->erase(std::get<PrincipalErased>(e.data).id); !st) return st.error();
      }
      parts.push_back(PreparedPart{&l, std::move(p.events), std::move(p.records)});
    }
    const ReplicaPosition next{at.block + 1, block->hash};
    if (auto st = local_.write_prepared(parts, next); !st) {
      if (st.error().code == Errc::conflict)
        return make_error(Errc::corruption,
                          "block " + std::to_string(next.block) +
                              " of the replicated log does not follow this node's log",
                          st.error().detail);
      return st.error();
    }
    {
      std::lock_guard lock(mu_);
      position_ = next;
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
  caught_up_ = false;  // more may be left
  return found;
}

Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> ClusterStore::recover() {
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

Status ClusterStore::drop(std::string_view /*project*/) {
  // Not yet a block of its own: dropping on one node alone would make the
  // nodes' stores differ.
  return make_error(Errc::unavailable, "deleting a project's data is not replicated yet");
}

}  // namespace latchkey::events::cluster
