// Sealed personal data in records (events/personal.h) and the data keys that
// seal it (keys/data_keys.h).
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "base/aead.h"
#include "base/encoding.h"
#include "base/signing.h"
#include "events/binary.h"
#include "events/codec.h"
#include "events/event_log.h"
#include "events/personal.h"
#include "keys/data_keys.h"
#include "keys/secret_store.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;

namespace {

// Keys in memory, recording whom each value was sealed for.
class MemoryKeys final : public PersonalKeys {
 public:
  Result<std::optional<std::string>> seal(std::string_view subject,
                                          std::string_view plain) override {
    if (fail) return make_error(Errc::unavailable, "disk full");
    sealed_for.emplace_back(subject);
    if (erased.contains(std::string(subject))) return std::optional<std::string>{};
    auto& key = keys[std::string(subject)];
    if (key.empty()) key = random_bytes(kAeadKeyBytes);
    const std::string aad(subject);
    return std::optional<std::string>(
        aead_seal(key, aead_synthetic_nonce(key, aad, plain), aad, plain));
  }
  std::optional<std::string> open(std::string_view subject,
                                  std::string_view sealed) const override {
    auto it = keys.find(std::string(subject));
    if (it == keys.end()) return std::nullopt;
    return aead_open(it->second, subject, sealed);
  }
  void destroy(const std::string& subject) {
    keys.erase(subject);
    erased.insert(subject);
  }
  std::map<std::string, std::string> keys;
  std::set<std::string> erased;
  std::vector<std::string> sealed_for;
  bool fail = false;
};

Event created_by_admin() {
  Event e;
  e.seq = 7;
  e.time = 1'790'000'000'000'000;
  e.type = EventType::user_created;
  e.version = current_version(e.type);
  e.context = {"usr_admin0000000000", "rid", "198.51.100.23"};
  e.data = PrincipalCreated{"usr_ann00000000000", "Ann Quill", "ann.quill@example.org", {}};
  return e;
}

Event login_of_ann() {
  Event e;
  e.seq = 8;
  e.time = 1'790'000'000'000'001;
  e.type = EventType::token_issued;
  e.version = current_version(e.type);
  e.context = {std::string(kAnonymousActor), "rid2", "203.0.113.77"};
  e.data = TokenIssued{"0123456789abcdef0123456789abcdef",
                       "lk_000000000000000000000001",
                       "usr_ann00000000000",
                       1,
                       2,
                       "kid",
                       {}};
  return e;
}

bool contains(const std::string& bytes, const std::string& needle) {
  return bytes.find(needle) != std::string::npos;
}

const PrincipalCreated& created(const Event& e) { return std::get<PrincipalCreated>(e.data); }

}  // namespace

BOOST_AUTO_TEST_SUITE(personal_data)

BOOST_AUTO_TEST_CASE(personal_fields_are_stored_sealed_and_read_back_with_the_keys) {
  MemoryKeys keys;
  Event e = created_by_admin();
  auto stored = encode_stored(e, &keys);
  BOOST_TEST_REQUIRE(stored.has_value());
  for (const char* clear : {"Ann Quill", "ann.quill@example.org", "198.51.100.23"})
    BOOST_TEST(!contains(*stored, clear), clear);
  // The name and email under Ann's key; the address under the admin's, who acted.
  BOOST_TEST(std::count(keys.sealed_for.begin(), keys.sealed_for.end(), "usr_ann00000000000") == 2);
  BOOST_TEST(std::count(keys.sealed_for.begin(), keys.sealed_for.end(), "usr_admin0000000000") ==
             1);
  auto back = decode_stored(*stored, &keys);
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(created(*back).name == "Ann Quill");
  BOOST_TEST(created(*back).email == "ann.quill@example.org");
  BOOST_TEST(back->context.source_ip == "198.51.100.23");
  BOOST_TEST((back->hash == e.hash));
  // Deterministic: the same event encodes to the same bytes.
  Event again = created_by_admin();
  BOOST_TEST(*encode_stored(again, &keys) == *stored);
}

BOOST_AUTO_TEST_CASE(a_login_seals_its_address_for_the_key_owner) {
  MemoryKeys keys;
  Event e = login_of_ann();
  auto stored = encode_stored(e, &keys);
  BOOST_TEST_REQUIRE(stored.has_value());
  BOOST_TEST(!contains(*stored, "203.0.113.77"));
  BOOST_TEST((keys.sealed_for == std::vector<std::string>{"usr_ann00000000000"}));
}

BOOST_AUTO_TEST_CASE(without_its_key_a_field_reads_erased_and_the_hash_still_holds) {
  MemoryKeys keys;
  Event e = created_by_admin();
  const std::string stored = *encode_stored(e, &keys);
  Event l = login_of_ann();
  const std::string login = *encode_stored(l, &keys);
  keys.destroy("usr_ann00000000000");
  auto back = decode_stored(stored, &keys);
  BOOST_TEST_REQUIRE(back.has_value());  // the hash is over the sealed bytes
  BOOST_TEST(created(*back).name == std::string(kErased));
  BOOST_TEST(created(*back).email == std::string(kErased));
  BOOST_TEST(back->context.source_ip == "198.51.100.23");  // the admin's, not erased
  BOOST_TEST(decode_stored(login, &keys)->context.source_ip == std::string(kErased));
  // Read with no keys at all (a copy without secrets): sealed, not erased.
  auto blind = decode_stored(stored);
  BOOST_TEST_REQUIRE(blind.has_value());
  BOOST_TEST(created(*blind).name == std::string(kSealed));
  BOOST_TEST(blind->context.source_ip == std::string(kSealed));
  // Written after the erasure: nothing of the value is stored.
  Event later = login_of_ann();
  later.seq = 9;
  const std::string after = *encode_stored(later, &keys);
  BOOST_TEST(!contains(after, "203.0.113.77"));
  BOOST_TEST(decode_stored(after, &keys)->context.source_ip == std::string(kErased));
}

BOOST_AUTO_TEST_CASE(nobodys_values_and_keyless_logs_stay_in_clear) {
  MemoryKeys keys;
  Event e = login_of_ann();
  std::get<TokenIssued>(e.data).principal_id.clear();  // no principal to seal for
  const std::string stored = *encode_stored(e, &keys);
  BOOST_TEST(contains(stored, "203.0.113.77"));
  BOOST_TEST(keys.sealed_for.empty());
  Event plain = created_by_admin();
  const std::string clear = encode_stored(plain);  // no keys: in clear
  BOOST_TEST(contains(clear, "Ann Quill"));
  BOOST_TEST(created(*decode_stored(clear, &keys)).name == "Ann Quill");
}

BOOST_AUTO_TEST_CASE(a_key_that_cannot_be_stored_fails_the_encoding) {
  MemoryKeys keys;
  keys.fail = true;
  Event e = created_by_admin();
  auto stored = encode_stored(e, &keys);
  BOOST_TEST_REQUIRE(!stored.has_value());
  BOOST_TEST((stored.error().code == Errc::unavailable));
}

BOOST_AUTO_TEST_CASE(records_of_the_first_format_read_in_clear) {
  // Format 1, as older data directories hold it: no tag bytes.
  const Event e = created_by_admin();
  bin::Writer w;
  w.u8(1);
  w.varint(e.seq);
  w.svarint(e.time);
  w.u16(static_cast<std::uint16_t>(e.type));
  w.u16(e.version);
  w.bytes(e.context.actor);
  w.bytes(e.context.request_id);
  w.bytes(e.context.source_ip);
  w.digest(e.prev_hash);
  w.bytes(encode_data(e.data));
  std::string stored = w.take();
  const Digest h = sha256(stored);
  stored.append(reinterpret_cast<const char*>(h.data()), h.size());
  MemoryKeys keys;
  auto back = decode_stored(stored, &keys);
  BOOST_TEST_REQUIRE(back.has_value(), back.error().message);
  BOOST_TEST(created(*back).name == "Ann Quill");
  BOOST_TEST(back->context.source_ip == "198.51.100.23");
}

BOOST_AUTO_TEST_CASE(a_malformed_tag_is_corruption) {
  Event e = created_by_admin();
  std::string canonical = encode_canonical(e);
  // The address field: its length byte, then the tag (0: clear). Make it 9.
  const std::string ip = std::string(1, '\0') + "198.51.100.23";
  const auto at = canonical.find(ip);
  BOOST_TEST_REQUIRE(at != std::string::npos);
  canonical[at] = 9;
  const Digest h = sha256(canonical);
  canonical.append(reinterpret_cast<const char*>(h.data()), h.size());
  auto back = decode_stored(canonical);
  BOOST_TEST_REQUIRE(!back.has_value());
  BOOST_TEST((back.error().code == Errc::corruption));
}

BOOST_AUTO_TEST_CASE(a_rebuild_scan_leaves_addresses_sealed_and_a_query_opens_them) {
  test::TempDir dir;
  auto log = open_rocksdb_log(dir / "log", OpenMode::create_new);
  BOOST_TEST_REQUIRE(log.has_value());
  auto keys = std::make_shared<MemoryKeys>();
  (*log)->set_personal_keys(keys);
  const Draft d{EventType::user_created,
                PrincipalCreated{"usr_ann00000000000", "Ann Quill", "ann@example.org", {}},
                RequestContext{"usr_admin0000000000", "rid", "198.51.100.23"}};
  BOOST_TEST_REQUIRE((*log)->append(std::span(&d, 1), 1).has_value());
  Event scanned, once;
  BOOST_TEST_REQUIRE((*log)
                         ->scan(1, 1,
                                [&](const Event& e) {
                                  scanned = e;
                                  return true;
                                })
                         .has_value());
  BOOST_TEST_REQUIRE((*log)
                         ->scan_once(1, 1,
                                     [&](const Event& e) {
                                       once = e;
                                       return true;
                                     })
                         .has_value());
  BOOST_TEST(scanned.context.source_ip == "198.51.100.23");
  BOOST_TEST(once.context.source_ip == std::string(kSealed));  // the views never read it
  BOOST_TEST(created(once).name == "Ann Quill");               // what the views keep is opened
  BOOST_TEST(created(once).email == "ann@example.org");
}

// ---- keys::DataKeys -----------------------------------------------------

BOOST_AUTO_TEST_CASE(data_keys_survive_a_reopen_and_erasure_removes_the_key_from_the_file) {
  test::TempDir dir;
  const keys::Pepper pepper(std::string(32, 'p'));
  std::string sealed;
  std::string key_file_before;
  {
    auto dk = keys::DataKeys::open(dir.path(), pepper, false);
    BOOST_TEST_REQUIRE(dk.has_value());
    auto s = (*dk)->seal("usr_a", "alice@example.org");
    BOOST_TEST_REQUIRE((s.has_value() && s->has_value()));
    sealed = **s;
    BOOST_TEST_REQUIRE((*(*dk)->seal("usr_b", "bob@example.org")).has_value());
    key_file_before = test::read_file(keys::DataKeys::path(dir.path()));
  }
  auto dk = keys::DataKeys::open(dir.path(), pepper, false);
  BOOST_TEST_REQUIRE(dk.has_value());
  BOOST_TEST((*dk)->open("usr_a", sealed).value_or("") == "alice@example.org");
  BOOST_TEST(!(*dk)->open("usr_b", sealed).has_value());  // bound to its principal
  // Another pepper opens nothing.
  BOOST_TEST(!keys::DataKeys::open(dir.path(), keys::Pepper(std::string(32, 'q')), true));

  BOOST_TEST_REQUIRE((*dk)->erase("usr_a").has_value());
  BOOST_TEST((*dk)->erase("usr_a").has_value());  // idempotent
  BOOST_TEST(!(*dk)->open("usr_a", sealed).has_value());
  BOOST_TEST((*dk)->erased("usr_a"));
  auto after = (*dk)->seal("usr_a", "again");
  BOOST_TEST_REQUIRE(after.has_value());
  BOOST_TEST(!after->has_value());  // an erased principal gets no new key
  // The rewritten file keeps bob's key and not alice's: reopened, the same.
  auto reopened = keys::DataKeys::open(dir.path(), pepper, true);
  BOOST_TEST_REQUIRE(reopened.has_value());
  BOOST_TEST(!(*reopened)->has_key("usr_a"));
  BOOST_TEST((*reopened)->has_key("usr_b"));
  BOOST_TEST((*reopened)->erased("usr_a"));
  // Not a byte of the old file's alice record is left in the new one.
  const std::string now = test::read_file(keys::DataKeys::path(dir.path()));
  const std::size_t a = key_file_before.find("usr_a");
  BOOST_TEST_REQUIRE(a != std::string::npos);
  const std::string wrapped = key_file_before.substr(a + 5, 60);
  BOOST_TEST(now.find(wrapped) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_torn_last_record_is_dropped_and_appends_go_on_after_it) {
  test::TempDir dir;
  const keys::Pepper pepper(std::string(32, 'p'));
  std::string sealed;
  {
    auto dk = keys::DataKeys::open(dir.path(), pepper, false);
    BOOST_TEST_REQUIRE(dk.has_value());
    sealed = **(*dk)->seal("usr_a", "alice");
    BOOST_TEST_REQUIRE((*(*dk)->seal("usr_b", "bob")).has_value());
  }
  const std::string file = keys::DataKeys::path(dir.path());
  const auto size = std::filesystem::file_size(file);
  std::filesystem::resize_file(file, size - 10);  // a crash in the middle of usr_b's record
  {
    auto dk = keys::DataKeys::open(dir.path(), pepper, false);
    BOOST_TEST_REQUIRE(dk.has_value());
    BOOST_TEST((*dk)->has_key("usr_a"));
    BOOST_TEST(!(*dk)->has_key("usr_b"));
    BOOST_TEST_REQUIRE((*(*dk)->seal("usr_c", "carol")).has_value());
  }
  auto dk = keys::DataKeys::open(dir.path(), pepper, true);
  BOOST_TEST_REQUIRE(dk.has_value());
  BOOST_TEST((*dk)->open("usr_a", sealed).value_or("") == "alice");
  BOOST_TEST((*dk)->has_key("usr_c"));
  // A damaged record before the end is not a torn tail: refused.
  std::string bytes = test::read_file(file);
  bytes[bytes.find("usr_a") + 10] ^= 1;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  auto damaged = keys::DataKeys::open(dir.path(), pepper, true);
  BOOST_TEST_REQUIRE(!damaged.has_value());
  BOOST_TEST((damaged.error().code == Errc::corruption));
}

BOOST_AUTO_TEST_CASE(many_principals_keep_their_keys_through_growth_reopen_and_erasure) {
  test::TempDir dir;
  const keys::Pepper pepper(std::string(32, 'p'));
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back("usr_" + std::to_string(1000000000000000 + i));
  ids.push_back("a_subject_id_longer_than_twenty_three_bytes");
  std::map<std::string, std::string> sealed;
  {
    auto dk = keys::DataKeys::open(dir.path(), pepper, false);
    BOOST_TEST_REQUIRE(dk.has_value());
    for (const auto& id : ids) sealed[id] = **(*dk)->seal(id, "value of " + id);
    for (std::size_t i = 0; i < ids.size(); i += 7)
      BOOST_TEST_REQUIRE((*dk)->erase(ids[i]).has_value());
  }
  auto dk = keys::DataKeys::open(dir.path(), pepper, true);
  BOOST_TEST_REQUIRE(dk.has_value());
  std::size_t opened = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto plain = (*dk)->open(ids[i], sealed[ids[i]]);
    if (i % 7 == 0) {
      BOOST_TEST(!plain.has_value(), ids[i]);
    } else {
      BOOST_TEST(plain.value_or("") == "value of " + ids[i]);
      ++opened;
    }
  }
  BOOST_TEST(opened == ids.size() - (ids.size() + 6) / 7);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
// A second node's copy of the secrets in `from`, opened from `to`.
std::unique_ptr<keys::SecretStore> node_copy(const std::string& from, const std::string& to) {
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  auto opened = keys::SecretStore::open(to, false);
  BOOST_TEST_REQUIRE(opened.has_value());
  return std::move(*opened);
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_signing_key_made_on_one_node_opens_on_another_that_holds_the_same_pepper) {
  // Two nodes of a cluster, each a copy of one data directory.
  test::TempDir a_dir;
  test::TempDir b_dir;
  auto a = keys::SecretStore::create(a_dir.path(), SignAlg::es256);
  BOOST_TEST_REQUIRE(a.has_value());
  auto b = node_copy(a_dir.path(), b_dir.path());
  auto a_keys = keys::DataKeys::open(a_dir.path(), (*a)->pepper(), false);
  auto b_keys = keys::DataKeys::open(b_dir.path(), b->pepper(), false);
  BOOST_TEST_REQUIRE((a_keys.has_value() && b_keys.has_value()));
  (*a)->on_new_signing_key(
      [dk = *a_keys](const SigningKey& k) { dk->share_signing_key(k.kid(), k.to_pem()); });

  // Not kept while nothing replicates (a single node).
  auto unshared = (*a)->add_signing_key(SignAlg::es256);
  BOOST_TEST_REQUIRE(unshared.has_value());
  BOOST_TEST((*a_keys)->take_new_records().empty());

  (*a_keys)->keep_new_records();
  auto made = (*a)->add_signing_key(SignAlg::es256);
  BOOST_TEST_REQUIRE(made.has_value());
  const std::string kid = (*made)->kid();
  auto records = (*a_keys)->take_new_records();
  BOOST_TEST_REQUIRE(records.size() == 1u);
  // The record carries the key wrapped: no byte of its PEM body in clear.
  const std::string pem = (*made)->to_pem();
  const std::string body = pem.substr(pem.find('\n') + 1, 40);
  BOOST_TEST(records[0].find(body) == std::string::npos);
  BOOST_TEST(!b->signing_key(kid));

  // Damaged, it is refused and writes nothing.
  std::string damaged = records[0];
  damaged[damaged.size() - 3] ^= 1;
  const auto refused = (*b_keys)->import_record(damaged);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code == Errc::corruption));
  BOOST_TEST(!b->signing_key(kid));
  // Under another project's key (another pepper), it does not open.
  test::TempDir c_dir;
  auto c = keys::SecretStore::create(c_dir.path(), SignAlg::es256);
  BOOST_TEST_REQUIRE(c.has_value());
  auto c_keys = keys::DataKeys::open(c_dir.path(), (*c)->pepper(), false);
  BOOST_TEST_REQUIRE(c_keys.has_value());
  BOOST_TEST(!(*c_keys)->import_record(records[0]).has_value());
  BOOST_TEST(!(*c)->signing_key(kid));

  // Imported, it is a 0600 file of b's, and b's store (opened before) signs with it.
  BOOST_TEST_REQUIRE((*b_keys)->import_record(records[0]).has_value());
  BOOST_TEST((*b_keys)->import_record(records[0]).has_value());  // idempotent
  const std::string file = b_dir.path() + "/signing/" + kid + ".pem";
  BOOST_TEST((std::filesystem::status(file).permissions() ==
              (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write)));
  const auto on_b = b->signing_key(kid);
  BOOST_TEST_REQUIRE(on_b != nullptr);
  BOOST_TEST(on_b->kid() == kid);
  BOOST_TEST(on_b->to_pem() == pem);
  // Not a data key: the data key file does not grow.
  BOOST_TEST(!(*b_keys)->has_key(kid));
  BOOST_TEST(test::read_file(keys::DataKeys::path(b_dir.path())).find(kid) == std::string::npos);
  // A kid that is not one never reaches the file system.
  BOOST_TEST(!b->signing_key("../pepper"));
}

BOOST_AUTO_TEST_CASE(a_new_project_s_secrets_travel_under_the_platform_s_key_and_only_there) {
  // Two nodes' platforms, copies of one; a third platform of another pepper.
  test::TempDir a_dir, b_dir, other_dir, project_dir, made_dir;
  auto a = keys::SecretStore::create(a_dir.path(), SignAlg::es256);
  BOOST_TEST_REQUIRE(a.has_value());
  auto b = node_copy(a_dir.path(), b_dir.path());
  auto other = keys::SecretStore::create(other_dir.path(), SignAlg::es256);
  BOOST_TEST_REQUIRE(other.has_value());
  auto a_platform = keys::DataKeys::open(a_dir.path(), (*a)->pepper(), false);
  auto b_platform = keys::DataKeys::open(b_dir.path(), b->pepper(), false);
  auto other_platform = keys::DataKeys::open(other_dir.path(), (*other)->pepper(), false);
  BOOST_TEST_REQUIRE(
      (a_platform.has_value() && b_platform.has_value() && other_platform.has_value()));

  // The project as the writer makes it.
  const std::string made = made_dir.path() + "/acme";
  auto project = keys::SecretStore::create(made, SignAlg::es256);
  BOOST_TEST_REQUIRE(project.has_value());
  const auto key = (*project)->newest();
  const std::string record =
      (*a_platform)->wrap_project_secrets("acme", (*project)->pepper(), *key);
  BOOST_TEST(keys::DataKeys::is_project_secrets(record));
  // Nothing of the pepper or the key in clear.
  BOOST_TEST(record.find((*project)->pepper().bytes()) == std::string::npos);
  const std::string pem = key->to_pem();
  BOOST_TEST(record.find(pem.substr(pem.find('\n') + 1, 40)) == std::string::npos);

  const std::string dir = project_dir.path() + "/acme";
  // Refused, writing nothing: under another platform's key, for another
  // project, damaged.
  BOOST_TEST(!(*other_platform)->install_project_secrets("acme", record, dir).has_value());
  BOOST_TEST(!(*b_platform)->install_project_secrets("beta", record, dir).has_value());
  std::string damaged = record;
  damaged[damaged.size() - 5] ^= 1;
  const auto refused = (*b_platform)->install_project_secrets("acme", damaged, dir);
  BOOST_TEST_REQUIRE(!refused.has_value());
  BOOST_TEST((refused.error().code == Errc::corruption));
  BOOST_TEST(!std::filesystem::exists(dir));

  // Installed on the other node: the same pepper and key, private files.
  BOOST_TEST_REQUIRE((*b_platform)->install_project_secrets("acme", record, dir).has_value());
  BOOST_TEST((*b_platform)->install_project_secrets("acme", record, dir).has_value());  // again
  auto there = keys::SecretStore::open(dir, /*check_permissions=*/true);
  BOOST_TEST_REQUIRE(there.has_value());
  BOOST_TEST((*there)->pepper().bytes() == (*project)->pepper().bytes());
  const auto signer = (*there)->signing_key(key->kid());
  BOOST_TEST_REQUIRE(signer != nullptr);
  BOOST_TEST(signer->to_pem() == pem);
  // What the project's own data keys seal on the writer opens there.
  auto writer_keys = keys::DataKeys::open(made, (*project)->pepper(), false);
  auto node_keys = keys::DataKeys::open(dir, (*there)->pepper(), false);
  BOOST_TEST_REQUIRE((writer_keys.has_value() && node_keys.has_value()));
  (*writer_keys)->keep_new_records();
  (*writer_keys)->share_record(record);
  auto sealed = (*writer_keys)->seal("usr_1", "Ada");
  BOOST_TEST_REQUIRE((sealed.has_value() && sealed->has_value()));
  auto records = (*writer_keys)->take_new_records();
  BOOST_TEST_REQUIRE(records.size() == 2u);
  BOOST_TEST(records[0] == record);  // first, ahead of the key it goes with
  for (const auto& r : records) BOOST_TEST((*node_keys)->import_record(r).has_value());
  BOOST_TEST((*node_keys)->open("usr_1", **sealed).value_or("") == "Ada");

  // A project of that id deleted and made again: its new secrets replace the old.
  test::TempDir again_dir;
  auto again = keys::SecretStore::create(again_dir.path() + "/acme", SignAlg::es256);
  BOOST_TEST_REQUIRE(again.has_value());
  BOOST_TEST_REQUIRE(
      (*b_platform)
          ->install_project_secrets(
              "acme",
              (*a_platform)->wrap_project_secrets("acme", (*again)->pepper(), *(*again)->newest()),
              dir)
          .has_value());
  auto replaced = keys::SecretStore::open(dir, true);
  BOOST_TEST_REQUIRE(replaced.has_value());
  BOOST_TEST((*replaced)->pepper().bytes() == (*again)->pepper().bytes());
  BOOST_TEST(!(*replaced)->signing_key(key->kid()));
}
