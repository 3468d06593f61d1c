// Writes seed inputs for the event_decode fuzz target: one stored record of
// every event type (mode 0), its canonical bytes (mode 1), its data (mode 2),
// and a view snapshot (mode 3); and for the snapshot_restore target, a
// snapshot and the regression of a snapshot with a dangling reference. Run it
// again when the format changes:
//   fuzz_make_seeds tests/fuzz
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "events/codec.h"
#include "projections/views.h"

using namespace latchkey;
using namespace latchkey::events;

namespace {

void write(const std::string& dir, const std::string& name, std::optional<char> mode,
           const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  if (mode) out.put(*mode);
  out << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds tests/fuzz\n");
    return 2;
  }
  const std::string root = argv[1];
  const std::string dir = root + "/corpus/event_decode";
  const std::string snapshot_dir = root + "/corpus/snapshot_restore";
  const std::string regression_dir = root + "/regressions/snapshot_restore";
  std::filesystem::create_directories(snapshot_dir);
  std::filesystem::create_directories(regression_dir);
  const Micros t0 = 1'800'000'000LL * kMicrosPerSecond;
  const std::string p = "sa_00000000000000aa", k = "lk_0123456789abcdef01234567";
  TokenIssued tok{
      "0123456789abcdef0123456789abcdef", k, p, 1800000000, 1800003600, "kid1", {"admin"}};
  const std::vector<std::pair<EventType, Data>> all = {
      {EventType::system_initialized, SystemInitialized{}},
      {EventType::signing_key_rotated,
       SigningKeyRotated{"kid1", "ES256", R"({"kty":"EC","crv":"P-256","x":"AA","y":"AA"})", "",
                         0}},
      {EventType::service_account_created, PrincipalCreated{p, "ci", "", {"admin"}}},
      {EventType::user_created, PrincipalCreated{"usr_00000000000000bb", "Ann", "a@b.c", {}}},
      {EventType::user_updated, PrincipalUpdated{"usr_00000000000000bb", "Anne", {}, {}}},
      {EventType::key_created,
       [&] {
         KeyCreated c;
         c.apikey = k;
         c.principal_id = p;
         c.expires_at = t0 + 90 * kMicrosPerDay;
         c.lifetime_source = "default";
         c.allowed_cidrs = {"10.0.0.0/8", "2001:db8::/32"};
         c.roles = {"admin"};
         c.rate_per_minute = 60;
         return Data(c);
       }()},
      {EventType::token_issued, tok},
      {EventType::login_failed, LoginFailed{k, p, "wrong_secret", 3}},
      {EventType::login_locked,
       LoginLocked{LockScope::source, "10.0.0.1", t0 + 900 * kMicrosPerSecond, 20}},
      {EventType::settings_changed,
       SettingsChanged{{SettingChange{"token_lifetime_seconds", 3600, 1800}}}},
      {EventType::key_disabled, KeyChanged{k, p}},
      {EventType::key_enabled, KeyChanged{k, p}},
      {EventType::key_updated,
       [&] {
         KeyUpdated u;
         u.apikey = k;
         u.principal_id = p;
         u.allowed_cidrs = std::vector<std::string>{"192.0.2.0/24"};
         u.old_allowed_cidrs = std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"};
         u.rate_per_minute = 0;
         u.old_rate_per_minute = 60;
         return Data(u);
       }()},
      {EventType::audit_read, AuditRead{"audit", "type=key.created&limit=100", 7}},
      {EventType::user_deleted, PrincipalDeleted{"usr_00000000000000bb", {}}},
      {EventType::key_deleted, KeyChanged{k, p}},
  };
  projections::Views v;
  Digest prev{};
  Seq seq = 0;
  for (const auto& [type, data] : all) {
    Event e;
    e.seq = ++seq;
    e.time = t0 + static_cast<Micros>(seq);
    e.type = type;
    e.version = current_version(type);
    e.context = RequestContext{"system", "req-" + std::to_string(seq), "127.0.0.1"};
    e.data = data;
    e.prev_hash = prev;
    const std::string stored = encode_stored(e);
    prev = e.hash;
    const std::string name = type_name(type);
    write(dir, name + ".stored", '\0', stored);
    write(dir, name + ".canonical", '\1', encode_canonical(e));
    std::string d;
    d.push_back(static_cast<char>(static_cast<std::uint16_t>(type)));
    d.push_back(static_cast<char>(e.version));
    write(dir, name + ".data", '\2', d + encode_data(e.data));
    projections::apply(v, e);
  }
  write(dir, "views.snapshot", '\3', projections::snapshot(v));
  // The snapshot decoder's own target takes the snapshot bytes alone: one with
  // principals, keys, settings, signing keys, and a live token and a lock.
  {
    Event issued;
    issued.seq = ++seq;
    issued.time = t0 + static_cast<Micros>(seq);
    issued.type = EventType::key_created;
    issued.data = KeyCreated{"lk_0000000000000000000000cc",
                             "sa_00000000000000aa",
                             Digest{},
                             "",
                             t0 + 86400 * kMicrosPerSecond,
                             "default",
                             false};
    projections::apply(v, issued);
    Event token = issued;
    token.seq = ++seq;
    token.type = EventType::token_issued;
    token.data = TokenIssued{"0123456789abcdef0123456789abcdef",
                             "lk_0000000000000000000000cc",
                             "sa_00000000000000aa",
                             t0 / kMicrosPerSecond,
                             t0 / kMicrosPerSecond + 3600,
                             "kid",
                             {}};
    projections::apply(v, token);
    Event lock = token;
    lock.seq = ++seq;
    lock.type = EventType::login_locked;
    lock.data = LoginLocked{LockScope::source, "192.0.2.1", t0 + 900 * kMicrosPerSecond, 20};
    projections::apply(v, lock);
    write(snapshot_dir, "views.snapshot", std::nullopt, projections::snapshot(v));
    // A key whose principal is not in the snapshot: restore() must refuse it.
    projections::Views dangling;
    projections::ApiKey k;
    k.apikey = "dangling";
    k.principal = 7;
    dangling.keys.add(std::move(k));
    write(regression_dir, "key-principal-out-of-range", std::nullopt,
          projections::snapshot(dangling));
  }
  std::printf("%zu seeds in %s, 1 in %s, 1 regression in %s\n", all.size() * 3 + 1, dir.c_str(),
              snapshot_dir.c_str(), regression_dir.c_str());
  return 0;
}
