#include "events/codec.h"

#include <nlohmann/json.hpp>

#include "events/binary.h"
#include "events/personal.h"

namespace latchkey::events {
namespace {

// 1: every field in clear. 2: personal fields and the source address carry
// a tag byte and are sealed where there is a principal to seal them for
// (events/personal.h).
constexpr std::uint8_t kFormatClear = 1;
constexpr std::uint8_t kFormat = 2;

struct TypeInfo {
  const char* name;
  std::size_t data_index;
  std::uint16_t version;
};

// The index of T among Data's alternatives, without constructing a Data
// (clang cannot evaluate that at compile time: it holds strings).
template <class T, class... Ts>
constexpr std::size_t index_in(const std::variant<Ts...>*) {
  constexpr bool same[] = {std::is_same_v<T, Ts>...};
  for (std::size_t i = 0; i < sizeof...(Ts); ++i) {
    if (same[i]) return i;
  }
  return sizeof...(Ts);
}

template <class T>
constexpr std::size_t idx() {
  return index_in<T>(static_cast<const Data*>(nullptr));
}

// Indexed by wire id; entry 0 is unused. Frozen: append only.
const TypeInfo kTypes[kMaxEventType + 1] = {
    {nullptr, 0, 0},
    {"system.initialized", idx<SystemInitialized>(), 1},
    {"user.created", idx<PrincipalCreated>(), 1},
    {"user.updated", idx<PrincipalUpdated>(), 1},
    {"user.deleted", idx<PrincipalDeleted>(), 1},
    {"service_account.created", idx<PrincipalCreated>(), 1},
    {"service_account.updated", idx<PrincipalUpdated>(), 1},
    {"service_account.deleted", idx<PrincipalDeleted>(), 1},
    {"key.created", idx<KeyCreated>(), 2},
    {"key.disabled", idx<KeyChanged>(), 1},
    {"key.enabled", idx<KeyChanged>(), 1},
    {"key.deleted", idx<KeyChanged>(), 1},
    {"token.issued", idx<TokenIssued>(), 1},
    {"login.failed", idx<LoginFailed>(), 1},
    {"login.locked", idx<LoginLocked>(), 1},
    {"settings.changed", idx<SettingsChanged>(), 1},
    {"email.sent", idx<EmailOutcome>(), 2},
    {"email.failed", idx<EmailOutcome>(), 2},
    {"signing_key.rotated", idx<SigningKeyRotated>(), 1},
    {"audit.read", idx<AuditRead>(), 1},
    {"checkpoint", idx<Checkpoint>(), 1},
    {"key.updated", idx<KeyUpdated>(), 1},
    {"project.created", idx<ProjectChanged>(), 2},
    {"project.updated", idx<ProjectChanged>(), 2},
    {"project.suspended", idx<ProjectChanged>(), 2},
    {"project.resumed", idx<ProjectChanged>(), 2},
    {"project.deleted", idx<ProjectChanged>(), 2},
    {"token.revoked", idx<TokenRevoked>(), 1},
    {"principal.erased", idx<PrincipalErased>(), 1},
    {"log.archived", idx<LogCut>(), 1},
    {"log.history_deleted", idx<LogCut>(), 1},
};

bool known(std::uint16_t t) { return t >= 1 && t <= kMaxEventType; }

// Reads at most `limit` fields, leaving the rest at their defaults: data
// written by an older schema version has fewer fields.
struct LimitedReader {
  bin::FieldReader inner;
  std::uint64_t limit;
  std::uint64_t seen = 0;
  template <class T>
  void operator()(const char* n, T& v, FieldKind k = FieldKind::plain) {
    if (seen++ < limit) inner(n, v, k);
  }
};

// The upcasting hook: turns data decoded under an older schema version into
// the current one. So far every new version only appended fields whose
// defaults mean what the older events meant (key.created v2: a key without
// limits; email.sent/failed v2: no network), so there is nothing to convert;
// a change that needs more adds its case here, e.g.
//   case EventType::key_created: if (from < 3) { ...fill the new field... }
void upcast(EventType, std::uint16_t /*from_version*/, Data&) {}

// ---- JSON ----
struct JsonWriter {
  nlohmann::json& out;
  void operator()(const char* n, const std::string& v, FieldKind = FieldKind::plain) { out[n] = v; }
  void operator()(const char* n, const bool& v, FieldKind = FieldKind::plain) { out[n] = v; }
  void operator()(const char* n, const std::int64_t& v, FieldKind k = FieldKind::plain) {
    // Microsecond instants print as RFC 3339; plain counts and JWT seconds as numbers.
    if (k == FieldKind::instant) {
      out[n] = v == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_rfc3339(v));
    } else {
      out[n] = v;
    }
  }
  void operator()(const char* n, const std::uint64_t& v, FieldKind = FieldKind::plain) {
    out[n] = v;
  }
  void operator()(const char* n, const Digest& v, FieldKind k = FieldKind::plain) {
    if (k == FieldKind::secret) return;  // never printed
    out[n] = to_hex(v);
  }
  void operator()(const char* n, const LockScope& v, FieldKind = FieldKind::plain) {
    out[n] = scope_name(v);
  }
  void operator()(const char* n, const std::vector<std::string>& v, FieldKind = FieldKind::plain) {
    out[n] = v;
  }
  template <class T>
  void operator()(const char* n, const std::optional<T>& v, FieldKind k = FieldKind::plain) {
    if (v) (*this)(n, *v, k);
  }
  template <class T>
  requires requires(T& t, JsonWriter& w) { t.fields(w); }
  void operator()(const char* n, const std::vector<T>& v, FieldKind = FieldKind::plain) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : v) {
      nlohmann::json obj = nlohmann::json::object();
      JsonWriter w{obj};
      const_cast<T&>(e).fields(w);
      arr.push_back(std::move(obj));
    }
    out[n] = std::move(arr);
  }
};

}  // namespace

const char* scope_name(LockScope s) noexcept {
  return s == LockScope::source ? "source" : "apikey";
}

std::optional<LockScope> scope_from_name(std::string_view name) noexcept {
  if (name == "apikey") return LockScope::apikey;
  if (name == "source") return LockScope::source;
  return std::nullopt;
}

const char* type_name(EventType t) noexcept {
  const auto v = static_cast<std::uint16_t>(t);
  return known(v) ? kTypes[v].name : nullptr;
}

std::optional<EventType> type_from_name(std::string_view name) noexcept {
  for (std::uint16_t i = 1; i <= kMaxEventType; ++i) {
    if (name == kTypes[i].name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::uint16_t current_version(EventType t) noexcept {
  const auto v = static_cast<std::uint16_t>(t);
  return known(v) ? kTypes[v].version : 0;
}

std::size_t data_index_for(EventType t) noexcept {
  const auto v = static_cast<std::uint16_t>(t);
  return known(v) ? kTypes[v].data_index : std::variant_npos;
}

std::string checkpoint_message(std::uint64_t head_seq, const Digest& head_hash) {
  return "latchkey-checkpoint:v1:" + std::to_string(head_seq) + ":" + to_hex(head_hash);
}

std::string cut_message(EventType type, std::uint64_t through, const Digest& through_hash,
                        const Digest& snapshot_hash) {
  return std::string("latchkey-cut:v1:") + type_name(type) + ":" + std::to_string(through) + ":" +
         to_hex(through_hash) + ":" + to_hex(snapshot_hash);
}

Subjects subjects_of(const Event& e) {
  Subjects s;
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, PrincipalCreated> || std::is_same_v<T, PrincipalUpdated> ||
                      std::is_same_v<T, PrincipalErased>) {
          s.principal_id = d.id;
        } else if constexpr (std::is_same_v<T, PrincipalDeleted>) {
          s.principal_id = d.id;
          s.apikeys = d.keys_deactivated;
        } else if constexpr (std::is_same_v<T, KeyCreated> || std::is_same_v<T, KeyChanged> ||
                             std::is_same_v<T, KeyUpdated> || std::is_same_v<T, TokenIssued> ||
                             std::is_same_v<T, LoginFailed> || std::is_same_v<T, EmailOutcome> ||
                             std::is_same_v<T, TokenRevoked>) {
          s.principal_id = d.principal_id;
          if (!d.apikey.empty()) s.apikeys.push_back(d.apikey);
        } else if constexpr (std::is_same_v<T, LoginLocked>) {
          if (d.scope == LockScope::apikey) s.apikeys.push_back(d.subject);
        }
      },
      e.data);
  return s;
}

std::string encode_data(const Data& d) {
  bin::Writer w;
  std::visit(
      [&](const auto& data) {
        using T = std::decay_t<decltype(data)>;
        bin::FieldCounter counter;
        const_cast<T&>(data).fields(counter);
        w.varint(counter.n);
        bin::FieldWriter fw{w};
        const_cast<T&>(data).fields(fw);
      },
      d);
  return w.take();
}

Result<Data> decode_data(EventType type, std::uint16_t version, std::string_view bytes) {
  const auto t = static_cast<std::uint16_t>(type);
  if (!known(t)) return make_error(Errc::corruption, "unknown event type " + std::to_string(t));
  if (version == 0 || version > kTypes[t].version) {
    return make_error(Errc::corruption, "unsupported schema version " + std::to_string(version) +
                                            " of " + kTypes[t].name);
  }
  Data data;
  bool ok = false;
  bin::Reader r(bytes);
  const std::uint64_t count = r.varint();
  auto decode = [&]<class T>(std::in_place_type_t<T>) {
    T value{};
    bin::FieldCounter counter;
    value.fields(counter);
    // A newer writer may have appended fields this version cannot read.
    if (count > counter.n && version == kTypes[t].version) return;
    LimitedReader lr{bin::FieldReader{r}, count};
    value.fields(lr);
    if (r.ok() && r.at_end()) {
      data = std::move(value);
      ok = true;
    }
  };
  switch (kTypes[t].data_index) {
    case idx<SystemInitialized>(): decode(std::in_place_type<SystemInitialized>); break;
    case idx<PrincipalCreated>(): decode(std::in_place_type<PrincipalCreated>); break;
    case idx<PrincipalUpdated>(): decode(std::in_place_type<PrincipalUpdated>); break;
    case idx<PrincipalDeleted>(): decode(std::in_place_type<PrincipalDeleted>); break;
    case idx<KeyCreated>(): decode(std::in_place_type<KeyCreated>); break;
    case idx<KeyChanged>(): decode(std::in_place_type<KeyChanged>); break;
    case idx<TokenIssued>(): decode(std::in_place_type<TokenIssued>); break;
    case idx<LoginFailed>(): decode(std::in_place_type<LoginFailed>); break;
    case idx<LoginLocked>(): decode(std::in_place_type<LoginLocked>); break;
    case idx<SettingsChanged>(): decode(std::in_place_type<SettingsChanged>); break;
    case idx<EmailOutcome>(): decode(std::in_place_type<EmailOutcome>); break;
    case idx<SigningKeyRotated>(): decode(std::in_place_type<SigningKeyRotated>); break;
    case idx<AuditRead>(): decode(std::in_place_type<AuditRead>); break;
    case idx<Checkpoint>(): decode(std::in_place_type<Checkpoint>); break;
    case idx<LogCut>(): decode(std::in_place_type<LogCut>); break;
    case idx<KeyUpdated>(): decode(std::in_place_type<KeyUpdated>); break;
    case idx<ProjectChanged>(): decode(std::in_place_type<ProjectChanged>); break;
    case idx<TokenRevoked>(): decode(std::in_place_type<TokenRevoked>); break;
    case idx<PrincipalErased>(): decode(std::in_place_type<PrincipalErased>); break;
    default: break;
  }
  if (!ok) return make_error(Errc::corruption, std::string("malformed data of ") + kTypes[t].name);
  if (version < kTypes[t].version) upcast(type, version, data);
  return data;
}

namespace {

// Calls fn on each personal string field of a struct (events/personal.h).
template <class Fn>
struct PersonalFields {
  Fn& fn;
  void operator()(const char*, std::string& v, FieldKind k = FieldKind::plain) {
    if (k == FieldKind::personal) fn(v);
  }
  void operator()(const char*, std::optional<std::string>& v, FieldKind k = FieldKind::plain) {
    if (v && k == FieldKind::personal) fn(*v);
  }
  template <class T>
  void operator()(const char*, T&, FieldKind = FieldKind::plain) {}
};

template <class Fn>
void each_personal(Data& d, Fn&& fn) {
  std::visit(
      [&](auto& data) {
        PersonalFields<std::remove_reference_t<Fn>> v{fn};
        data.fields(v);
      },
      d);
}

bool has_personal(const Data& d) {
  bool any = false;
  each_personal(const_cast<Data&>(d), [&](std::string&) { any = true; });
  return any;
}

// The principal an event's personal data fields are about ("" if none).
std::string_view principal_of(const Data& d) {
  return std::visit(
      [](const auto& data) -> std::string_view {
        using T = std::decay_t<decltype(data)>;
        if constexpr (std::is_same_v<T, PrincipalCreated> || std::is_same_v<T, PrincipalUpdated> ||
                      std::is_same_v<T, PrincipalDeleted> || std::is_same_v<T, PrincipalErased>) {
          return data.id;
        } else if constexpr (requires { data.principal_id; }) {
          return data.principal_id;
        } else {
          return {};
        }
      },
      d);
}

bool sealable(std::string_view subject) {
  return !subject.empty() && subject != "system" && subject != kAnonymousActor;
}

// Whose the source address is: the actor's when a principal acted, else (a
// login, whose actor is anonymous) the principal the event is about.
std::string_view address_subject(const Event& e) {
  if (sealable(e.context.actor)) return e.context.actor;
  return principal_of(e.data);
}

enum : char { kTagClear = 0, kTagSealed = 1, kTagErased = 2 };

std::string seal_value(PersonalKeys* keys, std::string_view subject, std::string_view plain,
                       Status& failure) {
  std::string out;
  if (keys && sealable(subject) && !plain.empty()) {
    auto sealed = keys->seal(subject, plain);
    if (!sealed) {
      failure = sealed.error();
      return out;
    }
    if (!*sealed) {
      out.push_back(kTagErased);
      return out;
    }
    out.reserve(1 + (*sealed)->size());
    out.push_back(kTagSealed);
    out.append(**sealed);
    return out;
  }
  out.reserve(1 + plain.size());
  out.push_back(kTagClear);
  out.append(plain);
  return out;
}

// The value of a stored personal field; false if it is malformed.
bool open_value(const PersonalKeys* keys, std::string_view subject, std::string_view stored,
                std::string& out) {
  if (stored.empty()) return false;
  switch (stored[0]) {
    case kTagClear: out.assign(stored.substr(1)); return true;
    case kTagSealed:
      if (!keys) {
        out.assign(kSealed);
      } else if (auto plain = keys->open(subject, stored.substr(1))) {
        out = std::move(*plain);
      } else {
        out.assign(kErased);
      }
      return true;
    case kTagErased: out.assign(kErased); return true;
    default: return false;
  }
}

Result<std::string> canonical(const Event& e, PersonalKeys* keys) {
  Status failure;
  bin::Writer w;
  w.reserve(200);
  w.u8(kFormat);
  w.varint(e.seq);
  w.svarint(e.time);
  w.u16(static_cast<std::uint16_t>(e.type));
  w.u16(e.version);
  w.bytes(e.context.actor);
  w.bytes(e.context.request_id);
  w.bytes(seal_value(keys, address_subject(e), e.context.source_ip, failure));
  w.digest(e.prev_hash);
  if (has_personal(e.data)) {
    Data sealed = e.data;
    const std::string_view subject = principal_of(e.data);
    each_personal(sealed, [&](std::string& v) { v = seal_value(keys, subject, v, failure); });
    w.bytes(encode_data(sealed));
  } else {
    w.bytes(encode_data(e.data));
  }
  if (!failure) return failure.error();
  return w.take();
}

}  // namespace

std::string encode_canonical(const Event& e) { return *canonical(e, nullptr); }

Result<std::string> encode_stored(Event& e, PersonalKeys* keys) {
  auto out = canonical(e, keys);
  if (!out) return out.error();
  e.hash = sha256(*out);
  out->append(reinterpret_cast<const char*>(e.hash.data()), e.hash.size());
  return out;
}

std::string encode_stored(Event& e) { return *encode_stored(e, nullptr); }

Result<Event> decode_stored(std::string_view stored, const PersonalKeys* keys, Opening opening) {
  if (stored.size() < 1 + 32 + 32) return make_error(Errc::corruption, "record too short");
  const std::string_view canonical = stored.substr(0, stored.size() - 32);
  const std::string_view hash = stored.substr(stored.size() - 32);
  Event e;
  std::memcpy(e.hash.data(), hash.data(), 32);
  if (sha256(canonical) != e.hash) return make_error(Errc::corruption, "record hash mismatch");
  bin::Reader r(canonical);
  const std::uint8_t format = r.u8();
  if (format != kFormat && format != kFormatClear)
    return make_error(Errc::corruption, "unknown record format");
  e.seq = r.varint();
  e.time = r.svarint();
  const std::uint16_t type = r.u16();
  e.version = r.u16();
  e.context.actor.assign(r.bytes());
  e.context.request_id.assign(r.bytes());
  const std::string_view address = r.bytes();
  e.prev_hash = r.digest();
  const std::string_view data = r.bytes();
  if (!r.ok() || !r.at_end()) return make_error(Errc::corruption, "malformed record");
  if (!known(type))
    return make_error(Errc::corruption, "unknown event type " + std::to_string(type));
  e.type = static_cast<EventType>(type);
  auto d = decode_data(e.type, e.version, data);
  if (!d) return d.error();
  e.data = std::move(*d);
  if (format == kFormatClear) {
    e.context.source_ip.assign(address);
    return e;
  }
  bool ok = open_value(opening == Opening::all ? keys : nullptr, address_subject(e), address,
                       e.context.source_ip);
  // Personal fields are never ids: the subject's id stays where it is.
  const std::string_view subject = principal_of(e.data);
  each_personal(e.data, [&](std::string& v) {
    std::string plain;
    ok = ok && open_value(keys, subject, v, plain);
    v = std::move(plain);
  });
  if (!ok) return make_error(Errc::corruption, "malformed personal field");
  return e;
}

nlohmann::json data_to_json(const Data& d) {
  nlohmann::json out = nlohmann::json::object();
  std::visit(
      [&](const auto& data) {
        using T = std::decay_t<decltype(data)>;
        JsonWriter w{out};
        const_cast<T&>(data).fields(w);
      },
      d);
  return out;
}

nlohmann::json to_json(const Event& e) {
  nlohmann::json j;
  j["seq"] = e.seq;
  j["time"] = format_rfc3339(e.time);
  j["type"] = type_name(e.type);
  j["version"] = e.version;
  j["actor"] = e.context.actor;
  j["request_id"] = e.context.request_id;
  j["source_ip"] = e.context.source_ip;
  j["data"] = data_to_json(e.data);
  j["prev_hash"] = to_hex(e.prev_hash);
  j["hash"] = to_hex(e.hash);
  return j;
}

}  // namespace latchkey::events
