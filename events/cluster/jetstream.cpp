#include "events/cluster/jetstream.h"

#include "events/cluster/messaging.h"
#include "events/cluster/nats_internal.h"

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

namespace latchkey::events::cluster {
namespace {

constexpr const char* kExpectedLastSeq = "Nats-Expected-Last-Sequence";
constexpr const char* kLeaseKey = "writer";

std::string status_text(natsStatus s) {
  std::string out = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  if (const char* text = nats_GetLastError(&last); text != nullptr && *text != '\0') {
    out += ": ";
    out += text;
  }
  return out;
}

Error unavailable(const std::string& what, natsStatus s,
                  jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string detail = status_text(s);
  if (code != 0) detail += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return make_error(Errc::unavailable, what, detail);
}

// A lease value: the holder's node id, a newline, and its epoch; no epoch
// (written when taking) means the epoch is the entry's own revision. An
// empty value is a lease given up.
std::optional<LeaseHolder> parse_holder(std::string_view value, std::uint64_t revision) {
  if (value.empty()) return std::nullopt;
  const auto nl = value.find('\n');
  LeaseHolder h;
  h.node = std::string(value.substr(0, nl));
  h.epoch = revision;
  if (nl != std::string_view::npos && nl + 1 < value.size()) {
    const std::string_view e = value.substr(nl + 1);
    std::uint64_t epoch = 0;
    if (std::from_chars(e.data(), e.data() + e.size(), epoch).ec == std::errc{}) h.epoch = epoch;
  }
  return h;
}

}  // namespace

Nats::Nats(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nats::~Nats() = default;

Result<std::shared_ptr<Nats>> Nats::connect(const NatsOptions& options) {
  if (options.urls.empty())
    return make_error(Errc::invalid_request, "no NATS server URL is configured");
  natsOptions* o = nullptr;
  if (natsOptions_Create(&o) != NATS_OK) return make_error(Errc::internal, "out of memory");
  std::vector<const char*> urls;
  for (const auto& u : options.urls) urls.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK && !options.name.empty()) s = natsOptions_SetName(o, options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, options.timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  // A server that a partition cut off sends no error: TCP keeps retrying
  // in silence. Pings find it out: two unanswered, and the connection
  // moves to a server on this side (within about three intervals).
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, std::max(options.timeout_ms / 2, 250));
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 2);
  if (s != NATS_OK) {
    natsOptions_Destroy(o);
    return make_error(Errc::invalid_request, "bad NATS options", status_text(s));
  }
  auto impl = std::make_unique<Impl>();
  impl->timeout_ms = options.timeout_ms;
  s = natsConnection_Connect(&impl->nc, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) return unavailable("cannot connect to NATS", s);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.timeout_ms;
  s = natsConnection_JetStream(&impl->js, impl->nc, &jo);
  if (s != NATS_OK) return unavailable("cannot open a JetStream context", s);
  return std::shared_ptr<Nats>(new Nats(std::move(impl)));
}

// ---- the stream of blocks ----

struct BlockStream::Impl {
  std::shared_ptr<Nats> nats;
  StreamConfig config;
  std::shared_ptr<Requester> requester;  // for publish_async
  jsCtx* js() { return nats->impl().js; }

  Result<jsStreamInfo*> info() {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetStreamInfo(&si, js(), config.name.c_str(), nullptr, &code);
    if (s == NATS_OK) return si;
    if (code == JSStreamNotFoundErr || s == NATS_NOT_FOUND)
      return make_error(Errc::not_found, "the stream " + config.name + " does not exist");
    return unavailable("JetStream does not answer about the stream " + config.name, s, code);
  }
};

BlockStream::BlockStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlockStream::~BlockStream() = default;

Result<std::unique_ptr<BlockStream>> BlockStream::open(std::shared_ptr<Nats> nats,
                                                       StreamConfig config, bool create) {
  auto impl = std::make_unique<Impl>();
  impl->nats = std::move(nats);
  impl->config = std::move(config);
  auto requester = Requester::open(impl->nats);
  if (!requester) return requester.error();
  impl->requester = std::move(*requester);
  const StreamConfig& c = impl->config;
  if (!create) {
    auto si = impl->info();
    if (!si) return si.error();
    jsStreamInfo_Destroy(*si);
    return std::unique_ptr<BlockStream>(new BlockStream(std::move(impl)));
  }
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = c.name.c_str();
  const char* subjects[1] = {c.subject.c_str()};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Retention = js_LimitsPolicy;
  sc.Discard = js_DiscardOld;
  sc.Replicas = c.replicas;
  sc.MaxAge = c.max_age_seconds > 0 ? c.max_age_seconds * 1'000'000'000 : 0;
  sc.MaxBytes = c.max_bytes > 0 ? c.max_bytes : -1;
  jsStreamInfo* si = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_AddStream(&si, impl->js(), &sc, nullptr, &code);
  if (s != NATS_OK) {
    if (code == JSStreamNameExistErr)
      return make_error(Errc::conflict,
                        "the stream " + c.name + " exists with another configuration");
    return unavailable("cannot create the stream " + c.name, s, code);
  }
  jsStreamInfo_Destroy(si);
  return std::unique_ptr<BlockStream>(new BlockStream(std::move(impl)));
}

Result<std::uint64_t> BlockStream::last_seq() {
  auto si = impl_->info();
  if (!si) return si.error();
  const std::uint64_t seq = (*si)->State.LastSeq;
  jsStreamInfo_Destroy(*si);
  return seq;
}

Result<std::uint64_t> BlockStream::first_seq() {
  auto si = impl_->info();
  if (!si) return si.error();
  const std::uint64_t seq = (*si)->State.Msgs == 0 ? 0 : (*si)->State.FirstSeq;
  jsStreamInfo_Destroy(*si);
  return seq;
}

std::int64_t BlockStream::max_payload() const {
  return natsConnection_GetMaxPayload(impl_->nats->impl().nc);
}

Result<std::string> BlockStream::leader() {
  auto si = impl_->info();
  if (!si) return si.error();
  std::string name;
  if ((*si)->Cluster != nullptr && (*si)->Cluster->Leader != nullptr) name = (*si)->Cluster->Leader;
  jsStreamInfo_Destroy(*si);
  return name;
}

Result<std::uint64_t> BlockStream::publish(std::uint64_t expected_last, std::string_view bytes) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, impl_->config.subject.c_str(), nullptr, bytes.data(),
                                static_cast<int>(bytes.size()));
  if (s != NATS_OK) return make_error(Errc::internal, "cannot make a message", status_text(s));
  const std::string expected = std::to_string(expected_last);
  s = natsMsgHeader_Set(msg, kExpectedLastSeq, expected.c_str());
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return make_error(Errc::internal, "cannot make a message", status_text(s));
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = impl_->nats->impl().timeout_ms;
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_PublishMsg(&ack, impl_->js(), msg, &po, &code);
  natsMsg_Destroy(msg);
  if (s != NATS_OK) {
    if (code == JSStreamWrongLastSequenceErr)
      return make_error(Errc::conflict, "the replicated log moved on: another writer appended",
                        "expected last sequence " + expected);
    return unavailable("no acknowledgement from JetStream: the append's outcome is unknown", s,
                       code);
  }
  const std::uint64_t seq = ack->Sequence;
  jsPubAck_Destroy(ack);
  if (seq != expected_last + 1)
    return make_error(
        Errc::internal, "JetStream stored a block out of place",
        "at " + std::to_string(seq) + ", expected " + std::to_string(expected_last + 1));
  return seq;
}

namespace {

// JetStream's answer to a publish: {"stream":..,"seq":N}, or {"error":{..}}.
Result<std::uint64_t> parse_ack(const std::string& reply, std::uint64_t expected_last) {
  const auto j = nlohmann::json::parse(reply, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::unavailable, "JetStream's acknowledgement is malformed");
  if (const auto e = j.find("error"); e != j.end() && e->is_object()) {
    const int code = e->value("err_code", 0);
    const std::string text = e->value("description", std::string());
    if (code == JSStreamWrongLastSequenceErr)
      return make_error(Errc::conflict, "the replicated log moved on: another writer appended",
                        "expected last sequence " + std::to_string(expected_last));
    return make_error(Errc::unavailable,
                      "JetStream refused the block: the append's outcome is unknown", text);
  }
  const std::uint64_t seq = j.value("seq", std::uint64_t{0});
  if (seq != expected_last + 1)
    return make_error(
        Errc::internal, "JetStream stored a block out of place",
        "at " + std::to_string(seq) + ", expected " + std::to_string(expected_last + 1));
  return seq;
}

}  // namespace

void BlockStream::publish_async(std::uint64_t expected_last, const std::string& bytes,
                                Published done) {
  impl_->requester->request(
      impl_->config.subject, bytes, {{kExpectedLastSeq, std::to_string(expected_last)}},
      impl_->nats->impl().timeout_ms,
      [expected_last, done = std::move(done)](Result<std::string> reply) {
        if (!reply) {
          Error e = reply.error();
          e.message = "no acknowledgement from JetStream: the append's outcome is unknown";
          done(e);
          return;
        }
        done(parse_ack(*reply, expected_last));
      });
}

Result<std::uint64_t> BlockStream::append(std::uint64_t expected_last, std::string_view bytes,
                                          int patience_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(patience_ms);
  Error last = make_error(Errc::unavailable, "no answer from JetStream");
  bool attempted = false;
  while (!attempted || std::chrono::steady_clock::now() < deadline) {
    attempted = true;
    auto seq = publish(expected_last, bytes);
    if (seq) return seq;
    if (seq.error().code == Errc::conflict) {
      // Refused: is the message after expected_last ours, from an attempt
      // whose acknowledgement was lost?
      for (;;) {
        auto there = get(expected_last + 1);
        if (there) {
          if (*there && **there == bytes) return expected_last + 1;
          return seq.error();
        }
        if (std::chrono::steady_clock::now() >= deadline) return there.error();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (seq.error().code != Errc::unavailable) return seq.error();
    last = seq.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return last;
}

Result<std::optional<std::string>> BlockStream::get(std::uint64_t seq) {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_GetMsg(&msg, impl_->js(), impl_->config.name.c_str(), seq, nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::optional<std::string>{};
  if (s != NATS_OK)
    return unavailable("cannot read message " + std::to_string(seq) + " of the replicated log", s,
                       code);
  std::string out(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  return std::optional<std::string>(std::move(out));
}

// ---- the writer's lease ----

struct Lease::Impl {
  std::shared_ptr<Nats> nats;
  LeaseConfig config;
  std::string node;
  kvStore* kv = nullptr;
  std::uint64_t revision = 0;  // of our last write, while held
  std::uint64_t epoch = 0;     // while held
  ~Impl() {
    if (kv != nullptr) kvStore_Destroy(kv);
  }
  // The entry, or nullopt with no key (never written, aged out or deleted).
  Result<std::optional<std::pair<std::string, std::uint64_t>>> entry() {
    kvEntry* e = nullptr;
    const natsStatus s = kvStore_Get(&e, kv, kLeaseKey);
    if (s == NATS_NOT_FOUND) return std::optional<std::pair<std::string, std::uint64_t>>{};
    if (s != NATS_OK) return unavailable("cannot read the writer's lease", s);
    std::pair<std::string, std::uint64_t> out{
        std::string(static_cast<const char*>(kvEntry_Value(e)),
                    static_cast<std::size_t>(kvEntry_ValueLen(e))),
        kvEntry_Revision(e)};
    kvEntry_Destroy(e);
    return std::optional(std::move(out));
  }
};

Lease::Lease(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Lease::~Lease() = default;

Result<std::unique_ptr<Lease>> Lease::open(std::shared_ptr<Nats> nats, LeaseConfig config,
                                           std::string node) {
  auto impl = std::make_unique<Impl>();
  impl->nats = std::move(nats);
  impl->config = std::move(config);
  impl->node = std::move(node);
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = impl->config.bucket.c_str();
  kc.History = 1;
  kc.TTL = static_cast<std::int64_t>(impl->config.ttl_ms) * 1'000'000;  // nanoseconds
  kc.Replicas = impl->config.replicas;
  kc.StorageType = js_FileStorage;
  natsStatus s = js_CreateKeyValue(&impl->kv, impl->nats->impl().js, &kc);
  if (s != NATS_OK) {
    // Created by another node with this configuration meanwhile, or before:
    // bind to it.
    s = js_KeyValue(&impl->kv, impl->nats->impl().js, impl->config.bucket.c_str());
    if (s != NATS_OK) return unavailable("cannot open the lease bucket " + impl->config.bucket, s);
  }
  return std::unique_ptr<Lease>(new Lease(std::move(impl)));
}

Result<bool> Lease::try_acquire(LeaseHolder* holder) {
  Impl& m = *impl_;
  auto current = m.entry();
  if (!current) return current.error();
  const std::string value = m.node + "\n";
  std::uint64_t rev = 0;
  natsStatus s = NATS_OK;
  if (!*current) {
    s = kvStore_Create(&rev, m.kv, kLeaseKey, value.data(), static_cast<int>(value.size()));
  } else if ((*current)->first.empty()) {  // given up: take it over that revision
    s = kvStore_Update(&rev, m.kv, kLeaseKey, value.data(), static_cast<int>(value.size()),
                       (*current)->second);
  } else {
    if (holder != nullptr) {
      if (auto h = parse_holder((*current)->first, (*current)->second)) *holder = std::move(*h);
    }
    return false;
  }
  if (s == NATS_OK) {
    m.revision = rev;
    m.epoch = rev;
    return true;
  }
  if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
      s == NATS_CONNECTION_DISCONNECTED || s == NATS_NO_SERVER)
    return unavailable("cannot take the writer's lease", s);
  return false;  // another node took it first
}

Status Lease::renew() {
  Impl& m = *impl_;
  if (m.epoch == 0) return make_error(Errc::conflict, "this node does not hold the lease");
  const std::string value = m.node + "\n" + std::to_string(m.epoch);
  std::uint64_t rev = 0;
  const natsStatus s = kvStore_Update(&rev, m.kv, kLeaseKey, value.data(),
                                      static_cast<int>(value.size()), m.revision);
  if (s == NATS_OK) {
    m.revision = rev;
    return {};
  }
  if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
      s == NATS_CONNECTION_DISCONNECTED || s == NATS_NO_SERVER)
    return unavailable("cannot renew the writer's lease", s);
  m.epoch = 0;
  m.revision = 0;
  return make_error(Errc::conflict, "the writer's lease was lost", status_text(s));
}

Status Lease::release() {
  Impl& m = *impl_;
  if (m.epoch == 0) return {};
  std::uint64_t rev = 0;
  const natsStatus s = kvStore_Update(&rev, m.kv, kLeaseKey, "", 0, m.revision);
  m.epoch = 0;
  m.revision = 0;
  if (s == NATS_OK || s == NATS_ERR) return {};  // NATS_ERR: already lost, nothing to give up
  return unavailable("cannot give the writer's lease up", s);
}

Result<std::optional<LeaseHolder>> Lease::holder() {
  auto current = impl_->entry();
  if (!current) return current.error();
  if (!*current) return std::optional<LeaseHolder>{};
  return parse_holder((*current)->first, (*current)->second);
}

bool Lease::held() const { return impl_->epoch != 0; }
std::uint64_t Lease::epoch() const { return impl_->epoch; }

// ---- the nodes' board ----

struct NodeBoard::Impl {
  std::shared_ptr<Nats> nats;
  kvStore* kv = nullptr;
  ~Impl() {
    if (kv != nullptr) kvStore_Destroy(kv);
  }
};

NodeBoard::NodeBoard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeBoard::~NodeBoard() = default;

Result<std::unique_ptr<NodeBoard>> NodeBoard::open(std::shared_ptr<Nats> nats,
                                                   const std::string& bucket, int replicas,
                                                   int ttl_ms) {
  auto impl = std::make_unique<Impl>();
  impl->nats = std::move(nats);
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = bucket.c_str();
  kc.History = 1;
  kc.TTL = static_cast<std::int64_t>(ttl_ms) * 1'000'000;  // nanoseconds
  kc.Replicas = replicas;
  kc.StorageType = js_MemoryStorage;  // figures of the moment: nothing to keep
  natsStatus s = js_CreateKeyValue(&impl->kv, impl->nats->impl().js, &kc);
  if (s != NATS_OK) s = js_KeyValue(&impl->kv, impl->nats->impl().js, bucket.c_str());
  if (s != NATS_OK) return unavailable("cannot open the bucket " + bucket, s);
  return std::unique_ptr<NodeBoard>(new NodeBoard(std::move(impl)));
}

Status NodeBoard::put(const std::string& node, const std::string& value) {
  std::uint64_t rev = 0;
  const natsStatus s =
      kvStore_Put(&rev, impl_->kv, node.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return unavailable("cannot write this node's entry", s);
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> NodeBoard::all() {
  std::vector<std::pair<std::string, std::string>> out;
  kvKeysList keys{};
  natsStatus s = kvStore_Keys(&keys, impl_->kv, nullptr);
  if (s == NATS_NOT_FOUND) return out;  // no node has written yet
  if (s != NATS_OK) return unavailable("cannot list the nodes", s);
  for (int i = 0; i < keys.Count; ++i) {
    kvEntry* e = nullptr;
    if (kvStore_Get(&e, impl_->kv, keys.Keys[i]) != NATS_OK) continue;  // aged out meanwhile
    out.emplace_back(keys.Keys[i], std::string(static_cast<const char*>(kvEntry_Value(e)),
                                               static_cast<std::size_t>(kvEntry_ValueLen(e))));
    kvEntry_Destroy(e);
  }
  kvKeysList_Destroy(&keys);
  return out;
}

}  // namespace latchkey::events::cluster
