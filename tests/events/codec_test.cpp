#include <boost/test/unit_test.hpp>

#include <array>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "events/binary.h"
#include "events/codec.h"

using namespace latchkey;
using namespace latchkey::events;

namespace {

Event sample(EventType type, Data data) {
  Event e;
  e.seq = 42;
  e.time = 1'790'000'000'123'456;
  e.type = type;
  e.version = current_version(type);
  e.context = {"usr_0123456789abcdef", "rid", "192.0.2.7"};
  e.data = std::move(data);
  e.prev_hash = sha256("previous");
  return e;
}

// Events written by hand, with realistic values.
std::vector<Event> hand_written() {
  KeyCreated k;
  k.apikey = "lk_000000000000000000000001";
  k.principal_id = "usr_0123456789abcdef";
  k.secret_hash = sha256("not a secret");
  k.description = "laptop";
  k.expires_at = 1'800'000'000'000'000;
  k.lifetime_source = "default";
  k.send_email = true;
  TokenIssued t{
      "0123456789abcdef0123456789abcdef", k.apikey, k.principal_id, 100, 3700, "kid", {"admin"}};
  return {
      sample(EventType::system_initialized, SystemInitialized{"node", 1}),
      sample(EventType::user_created,
             PrincipalCreated{"usr_0123456789abcdef", "Ann", "ann@example.com", {"auditor"}}),
      sample(
          EventType::service_account_updated,
          PrincipalUpdated{"sa_0123456789abcdef", "ci", std::nullopt, std::vector<std::string>{}}),
      sample(EventType::user_deleted, PrincipalDeleted{"usr_0123456789abcdef", {k.apikey}}),
      sample(EventType::key_created, k),
      sample(EventType::key_disabled, KeyChanged{k.apikey, k.principal_id}),
      sample(EventType::token_issued, t),
      sample(EventType::login_failed, LoginFailed{k.apikey, k.principal_id, "wrong_secret", 17}),
      sample(EventType::login_locked,
             LoginLocked{LockScope::source, "192.0.2.7", 1'800'000'000'000'000, 20}),
      sample(EventType::settings_changed, SettingsChanged{{{"token_lifetime_seconds", 3600, 600}}}),
      sample(EventType::email_failed,
             EmailOutcome{"key_created", k.apikey, k.principal_id, "ann@example.com", "timeout"}),
      sample(EventType::signing_key_rotated, SigningKeyRotated{"new", "ES256", "{}", "old", 5}),
      sample(EventType::audit_read, AuditRead{"audit", "apikey=x", 3}),
      sample(EventType::checkpoint, Checkpoint{41, sha256("head"), "kid", "ES256", "sig"}),
  };
}

// Gives every field of event data a value other than its default, whatever
// the struct: a field the codec dropped or mixed up with another would not
// round-trip.
struct Filler {
  int n = 0;
  std::string text(const char* name) { return std::string(name) + "-" + std::to_string(++n); }
  void operator()(const char* name, std::string& v) { v = text(name); }
  void operator()(const char*, bool& v) { v = true; }
  void operator()(const char*, std::int64_t& v) { v = 1'790'000'000'000'000 + ++n; }
  void operator()(const char*, std::uint64_t& v) { v = 1000u + static_cast<unsigned>(++n); }
  void operator()(const char* name, Digest& v) { v = sha256(text(name)); }
  void operator()(const char* name, std::vector<std::string>& v) { v = {text(name), text(name)}; }
  // A scope other than the default, so a codec that drops it is caught.
  void operator()(const char*, LockScope& v) { v = LockScope::source; }
  template <class T>
  void operator()(const char* name, T& v, FieldKind) {
    (*this)(name, v);
  }
  template <class T>
  void operator()(const char* name, std::optional<T>& v) {
    T t{};
    (*this)(name, t);
    v = std::move(t);
  }
  template <class T>
  requires requires(T& t, Filler& f) { t.fields(f); }
  void operator()(const char*, std::vector<T>& v) {
    for (int i = 0; i < 2; ++i) {
      T t{};
      t.fields(*this);
      v.push_back(std::move(t));
    }
  }
};

// The data alternative `index` of Data, default-constructed.
template <std::size_t I = 0>
Data data_alternative(std::size_t index) {
  if constexpr (I < std::variant_size_v<Data>) {
    if (index == I) return Data(std::in_place_index<I>);
    return data_alternative<I + 1>(index);
  } else {
    throw std::out_of_range("no data alternative " + std::to_string(index));
  }
}

// One event of every type the type table knows (1 to kMaxEventType), its
// data the alternative the table gives the type, every field filled: a type
// added to the table is in this list without anyone writing it a sample.
std::vector<Event> one_of_every_type() {
  std::vector<Event> out;
  for (std::uint16_t id = 1; id <= kMaxEventType; ++id) {
    const auto type = static_cast<EventType>(id);
    Data d = data_alternative(data_index_for(type));
    std::visit(
        [](auto& x) {
          Filler f;
          x.fields(f);
        },
        d);
    out.push_back(sample(type, std::move(d)));
  }
  return out;
}

std::vector<Event> all_samples() {
  auto out = one_of_every_type();
  for (auto& e : hand_written()) out.push_back(std::move(e));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(codec)

// Tokens, JWKs and checkpoint signatures: one value, one spelling.
BOOST_AUTO_TEST_CASE(base64url_takes_only_the_canonical_unpadded_spelling) {
  BOOST_TEST(base64url_encode("ab?") == "YWI_");
  BOOST_TEST(base64url_decode("YWI_").value() == "ab?");
  BOOST_TEST(base64url_decode("YWI").value() == "ab");
  BOOST_TEST(base64url_decode("").value().empty());
  BOOST_TEST(!base64url_decode("YWI="));   // padding
  BOOST_TEST(!base64url_decode("YWJ"));    // stray bits in the last digit
  BOOST_TEST(!base64url_decode("YWI/"));   // the standard alphabet
  BOOST_TEST(!base64url_decode("YW I_"));  // whitespace
  BOOST_TEST(!base64url_decode("Y"));      // no whole byte
  std::array<std::uint8_t, 2> two{};
  BOOST_TEST(from_hex("0aFf", two));
  BOOST_TEST((two == std::array<std::uint8_t, 2>{0x0a, 0xff}));
  BOOST_TEST(!from_hex("0aF", two));
  BOOST_TEST(!from_hex("0aFg", two));
}

BOOST_AUTO_TEST_CASE(the_samples_cover_every_type_with_every_field_set) {
  const auto every = one_of_every_type();
  BOOST_TEST_REQUIRE(every.size() == static_cast<std::size_t>(kMaxEventType));
  std::set<int> types;
  for (const Event& e : every) {
    BOOST_TEST_CONTEXT(static_cast<int>(e.type)) {
      BOOST_TEST(type_name(e.type) != nullptr);
      types.insert(static_cast<int>(e.type));
      BOOST_TEST(e.data.index() == data_index_for(e.type));
      // Filled: its bytes differ from the same alternative left at its defaults.
      BOOST_TEST(encode_data(e.data) != encode_data(data_alternative(e.data.index())));
    }
  }
  BOOST_TEST(types.size() == every.size());
}

BOOST_AUTO_TEST_CASE(every_type_round_trips_with_its_hash) {
  for (Event e : all_samples()) {
    BOOST_TEST_CONTEXT(type_name(e.type)) {
      const std::string stored = encode_stored(e);
      auto back = decode_stored(stored);
      BOOST_REQUIRE(back.has_value());
      BOOST_TEST(back->seq == e.seq);
      BOOST_TEST(back->time == e.time);
      BOOST_TEST(static_cast<int>(back->type) == static_cast<int>(e.type));
      BOOST_TEST(back->version == e.version);
      BOOST_TEST(back->context.actor == e.context.actor);
      BOOST_TEST(back->context.request_id == e.context.request_id);
      BOOST_TEST(back->context.source_ip == e.context.source_ip);
      BOOST_TEST((back->prev_hash == e.prev_hash));
      BOOST_TEST((back->hash == e.hash));
      BOOST_TEST(encode_data(back->data) == encode_data(e.data));
      BOOST_TEST(to_json(*back).dump() == to_json(e).dump());
    }
  }
}

BOOST_AUTO_TEST_CASE(type_names_are_frozen) {
  // Wire ids never change: a renumbering would misread every stored log.
  const std::vector<std::pair<int, std::string>> frozen = {{1, "system.initialized"},
                                                           {2, "user.created"},
                                                           {3, "user.updated"},
                                                           {4, "user.deleted"},
                                                           {5, "service_account.created"},
                                                           {6, "service_account.updated"},
                                                           {7, "service_account.deleted"},
                                                           {8, "key.created"},
                                                           {9, "key.disabled"},
                                                           {10, "key.enabled"},
                                                           {11, "key.deleted"},
                                                           {12, "token.issued"},
                                                           {13, "login.failed"},
                                                           {14, "login.locked"},
                                                           {15, "settings.changed"},
                                                           {16, "email.sent"},
                                                           {17, "email.failed"},
                                                           {18, "signing_key.rotated"},
                                                           {19, "audit.read"},
                                                           {20, "checkpoint"},
                                                           {21, "key.updated"},
                                                           {22, "project.created"},
                                                           {23, "project.updated"},
                                                           {24, "project.suspended"},
                                                           {25, "project.resumed"},
                                                           {26, "project.deleted"},
                                                           {27, "token.revoked"},
                                                           {28, "principal.erased"}};
  for (const auto& [id, name] : frozen) {
    BOOST_TEST(type_name(static_cast<EventType>(id)) == name);
    BOOST_TEST(static_cast<int>(*type_from_name(name)) == id);
  }
  BOOST_TEST(type_name(static_cast<EventType>(0)) == nullptr);
  BOOST_TEST(type_name(static_cast<EventType>(kMaxEventType + 1)) == nullptr);
}

BOOST_AUTO_TEST_CASE(json_never_shows_the_secret_hash) {
  std::size_t keys = 0;
  for (Event e : all_samples()) {
    encode_stored(e);
    const std::string j = to_json(e).dump();
    BOOST_TEST(j.find("secret_hash") == std::string::npos);
    if (const auto* k = std::get_if<KeyCreated>(&e.data)) {
      ++keys;
      BOOST_TEST(j.find(to_hex(k->secret_hash)) == std::string::npos);
    }
  }
  BOOST_TEST(keys == 2u);  // the generated key.created and the hand-written one
}

BOOST_AUTO_TEST_CASE(every_truncation_and_every_flipped_byte_is_refused) {
  for (Event e : all_samples()) {
    const std::string stored = encode_stored(e);
    for (std::size_t n = 0; n < stored.size(); ++n) {
      BOOST_TEST(!decode_stored(stored.substr(0, n)).has_value());
    }
    for (std::size_t i = 0; i < stored.size(); ++i) {
      std::string bad = stored;
      bad[i] = static_cast<char>(bad[i] ^ 0x40);
      auto r = decode_stored(bad);
      BOOST_TEST(!r.has_value());
      if (!r) BOOST_TEST(static_cast<int>(r.error().code) == static_cast<int>(Errc::corruption));
    }
  }
}

BOOST_AUTO_TEST_CASE(data_of_an_older_schema_decodes_with_defaults) {
  // Version 1 of a type written with fewer fields (as a future version 2 would
  // see today's records): the missing fields take their defaults.
  bin::Writer w;
  w.varint(2);  // only apikey and principal_id
  w.bytes("lk_000000000000000000000001");
  w.bytes("usr_0123456789abcdef");
  auto d = decode_data(EventType::key_created, 1, w.str());
  BOOST_REQUIRE(d.has_value());
  const auto& k = std::get<KeyCreated>(*d);
  BOOST_TEST(k.apikey == "lk_000000000000000000000001");
  BOOST_TEST(k.description.empty());
  BOOST_TEST(k.send_email == false);
}

BOOST_AUTO_TEST_CASE(a_key_created_before_limits_existed_is_a_key_without_limits) {
  // key.created version 1, as every log written before version 2 holds it:
  // its seven fields, and no limits.
  bin::Writer w;
  w.varint(7);
  w.bytes("lk_000000000000000000000001");
  w.bytes("usr_0123456789abcdef");
  w.digest(sha256("secret"));
  w.bytes("laptop");
  w.svarint(1'800'000'000'000'000);
  w.bytes("default");
  w.u8(1);
  auto d = decode_data(EventType::key_created, 1, w.str());
  BOOST_REQUIRE(d.has_value());
  const auto& k = std::get<KeyCreated>(*d);
  BOOST_TEST(k.description == "laptop");
  BOOST_TEST(k.send_email);
  BOOST_TEST(k.allowed_cidrs.empty());
  BOOST_TEST(k.roles.empty());
  BOOST_TEST(k.rate_per_minute == 0u);
  BOOST_TEST(current_version(EventType::key_created) == 2);
  BOOST_TEST(current_version(EventType::email_sent) == 2);
  BOOST_TEST(current_version(EventType::key_updated) == 1);
}

BOOST_AUTO_TEST_CASE(unknown_types_and_future_versions_are_refused) {
  const std::string data = encode_data(SystemInitialized{"x", 1});
  BOOST_TEST(!decode_data(static_cast<EventType>(999), 1, data).has_value());
  BOOST_TEST(!decode_data(EventType::system_initialized, 2, data).has_value());
  BOOST_TEST(!decode_data(EventType::system_initialized, 0, data).has_value());
  // A record of a newer writer with more fields than this version knows.
  bin::Writer w;
  w.varint(3);
  w.bytes("x");
  w.varint(1);
  w.varint(7);
  BOOST_TEST(!decode_data(EventType::system_initialized, 1, w.str()).has_value());
}

BOOST_AUTO_TEST_CASE(subjects_name_the_principal_and_keys) {
  const auto all = hand_written();
  const auto deleted = subjects_of(all[3]);
  BOOST_TEST(deleted.principal_id == "usr_0123456789abcdef");
  BOOST_TEST(deleted.apikeys.size() == 1u);
  const auto token = subjects_of(all[6]);
  BOOST_TEST(token.apikeys.front() == "lk_000000000000000000000001");
  const auto locked = subjects_of(all[8]);  // a source lock names no key
  BOOST_TEST(locked.apikeys.empty());
}

BOOST_AUTO_TEST_SUITE_END()
