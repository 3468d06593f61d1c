#pragma once
// The event store of a cluster node (docs/cluster.md): the node's own
// RocksDB store, kept equal to the replicated log of blocks on JetStream.
//
// The writer (the node holding the lease) appends a group commit by making
// it ready (EventStore::prepare), publishing it as one block fenced on the
// block before, and only once JetStream has acknowledged it, writing it to
// its own store with the block's position. Several blocks may be in flight
// (send, then complete in order): each is prepared after the blocks sent
// before it and fenced on the last of them. Every other node applies the
// blocks in stream order through the same write (pull()), so all nodes store
// the very same bytes, chains and indexes. A node that is not the writer, or
// a writer still behind the stream, refuses to append (unavailable): the
// drafts were made from views that are not the newest.
//
// Threads: send on the writer thread, complete and append on the appending
// thread (the Sequencer's syncer), pull and recover only with nothing in
// flight; lead and the figures on any thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "events/cluster/block.h"
#include "events/cluster/jetstream.h"
#include "events/event_log.h"
#include "events/personal.h"

namespace latchkey::events::cluster {

class ClusterStore final : public EventStore {
 public:
  // `local` outlives the store. Reads the local replica position.
  // At most `blocks_in_flight` blocks are published and not yet completed.
  static Result<std::unique_ptr<ClusterStore>> open(EventStore& local,
                                                    std::unique_ptr<BlockStream> stream,
                                                    std::string node, int patience_ms,
                                                    std::size_t blocks_in_flight = 1);

  // ---- EventStore ----
  EventLog& log(std::string_view project) override;
  // Errors: unavailable when this node is not the writer, or is behind the
  // stream (nothing published), or JetStream did not acknowledge the block
  // in time; conflict never (a refused block means "behind": unavailable).
  Result<std::vector<std::vector<Event>>> append(std::span<const Part> parts, Micros time) override;
  // Pipelined appends: send() prepares and publishes a block without
  // waiting; complete() waits for its acknowledgement (retrying a lost one,
  // fenced, as append() does) and writes it here. Errors as append().
  std::size_t max_in_flight() const override { return blocks_in_flight_; }
  std::unique_ptr<Sent> send(std::span<const Part> parts, Micros time) override;
  Result<std::vector<std::vector<Event>>> complete(Sent& sent) override;
  // The local store's recovery, then every block not yet applied.
  Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> recover() override;
  // Publishes a block that removes the project's records (fenced as any
  // block), then removes them here: every node removes them at that block
  // of the stream. Errors as append(). REQUIRES: nothing in flight.
  Status drop(std::string_view project) override;
  Result<std::vector<std::string>> projects() const override { return local_.projects(); }
  std::optional<StorageStats> storage_stats() const override { return local_.storage_stats(); }
  Status refresh() override { return local_.refresh(); }
  Result<std::vector<PreparedPart>> prepare(std::span<const Part> parts, Micros time) override {
    return local_.prepare(parts, time);
  }
  Status write_prepared(std::span<const PreparedPart> parts,
                        const std::optional<ReplicaPosition>& position) override {
    return local_.write_prepared(parts, position);
  }
  Result<ReplicaPosition> replica_position() const override { return local_.replica_position(); }

  // ---- the cluster ----
  // Applies the blocks after the local position, up to `max_blocks`, and
  // returns their events per log (for the views). Errors: corruption when a
  // block does not decode or does not link to the one before or to a
  // project's head (the node stops applying); unavailable when JetStream
  // or the local store cannot be read or written.
  Result<std::vector<std::pair<EventLog*, std::vector<Event>>>> pull(std::size_t max_blocks = 256);

  // Where pull() stores the data keys of a project whose log has none set
  // (its views are not loaded on this node): the project's key store, or
  // null if it cannot be opened. It is given the key records of the part
  // at hand: a new project's first part carries the project's own secrets
  // (docs/cluster.md), from which its store is made. Set before the first pull.
  using KeysOpener = std::function<std::shared_ptr<PersonalKeys>(
      std::string_view project, std::span<const std::string> records)>;
  void set_keys_opener(KeysOpener opener) { keys_opener_ = std::move(opener); }

  // Called on the appending thread after each block JetStream has
  // acknowledged (and before it is written here), with its bytes: the other
  // nodes can read it from the stream from then on. Set before the first
  // append.
  using Published = std::function<void(std::uint64_t block, const std::string& bytes)>;
  void set_on_published(Published f) { on_published_ = std::move(f); }

  // Called on pull()'s thread for each principal.erased a block brings,
  // once the principal's data key is destroyed and before the event is
  // written: the node's stored snapshots must then stop showing the
  // principal's personal data (an error stops the pull, which repeats it).
  // Set before the first pull.
  using Erased = std::function<Status(std::string_view project, const std::string& principal)>;
  void set_on_erased(Erased f) { on_erased_ = std::move(f); }

  // Called on pull()'s thread once a block that drops a project's records
  // has been applied here (what else the node keeps of the project goes
  // too). Set before the first pull.
  using Dropped = std::function<void(std::string_view project)>;
  void set_on_dropped(Dropped f) { on_dropped_ = std::move(f); }

  // The bytes of block `seq`, as the writer announced them once JetStream
  // had acknowledged them: pull() applies them without reading the stream
  // (it still checks every link). Any thread.
  void offer(std::uint64_t seq, std::string bytes);
  // Block `seq` exists (a forwarded write's): pull() reads up to it. Any thread.
  void expect(std::uint64_t seq);

  // This node now holds the lease under `epoch` (0: it does not), surely
  // until `until` (a renewal moves it on). Appends are taken once a pull()
  // has found nothing more to apply, and never after `until`: a node cut off
  // from the lease's bucket stops appending then, even while its renewal
  // still waits for an answer.
  void lead(std::uint64_t epoch, std::chrono::steady_clock::time_point until =
                                     std::chrono::steady_clock::time_point::max());
  void hold_until(std::chrono::steady_clock::time_point until);
  std::uint64_t epoch() const { return epoch_.load(); }
  // Writing: the lease is held (and not past its sure time) and nothing in
  // the stream is left to apply.
  bool writing() const;
  // The last block applied locally.
  ReplicaPosition position() const;
  const std::string& node() const { return node_; }

 private:
  struct SentBlock;
  ClusterStore(EventStore& local, std::unique_ptr<BlockStream> stream, std::string node,
               int patience_ms, std::size_t blocks_in_flight, ReplicaPosition position);
  std::string project_of(const EventLog* log);
  // Why this node may not publish a block under `epoch` now, if it may not.
  std::optional<Error> refusal(std::uint64_t epoch) const;
  void keep_unsent(std::map<const EventLog*, std::vector<std::string>>& keys);

  EventStore& local_;
  std::unique_ptr<BlockStream> stream_;
  const std::string node_;
  const int patience_ms_;
  const std::size_t blocks_in_flight_;
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<std::chrono::steady_clock::rep> held_until_{0};  // since the clock's epoch
  std::atomic<bool> caught_up_{false};
  // A block in flight failed: every later one fails too, until recover().
  std::atomic<bool> broken_{false};
  mutable std::mutex mu_;
  ReplicaPosition position_;                         // GUARDED_BY(mu_)
  std::map<const EventLog*, std::string> projects_;  // GUARDED_BY(mu_)
  // Data keys taken from a log's key store whose block was not published
  // or failed (the next block of that log carries them).
  std::map<const EventLog*, std::vector<std::string>> unsent_keys_;  // GUARDED_BY(mu_)
  std::size_t in_flight_ = 0;                                        // GUARDED_BY(mu_)
  // The sender's: the last block sent and each log's head after it (valid
  // while blocks are in flight). Writer thread only.
  ReplicaPosition sent_;
  std::map<const EventLog*, Head> sent_heads_;
  KeysOpener keys_opener_;
  Published on_published_;
  Dropped on_dropped_;
  Erased on_erased_;
  // A block that drops a project, read after other blocks in one pull: it
  // is applied alone, first in the next pull. Pull's thread only.
  std::optional<Block> held_;
  // Blocks announced by the writer, not yet applied; and the newest block
  // known to exist. pull() reads the stream itself when a block is missing
  // here, and at least every 2 s (an announcement is sent once, and may be lost).
  std::map<std::uint64_t, std::string> offered_;     // GUARDED_BY(mu_)
  std::uint64_t known_ = 0;                          // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point checked_{};  // pull's thread only
};

}  // namespace latchkey::events::cluster
