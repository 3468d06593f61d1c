#include <boost/test/unit_test.hpp>

#include "events/codec.h"
#include "events/event_log.h"
#include "base/signing.h"
#include "events/testing.h"
#include "events/verify.h"
#include "tests/events/helpers.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::events;

namespace {

// A log of ten events: seq 8 is a checkpoint of 1..7 signed by `key`.
void build(const std::string& dir, const SigningKey& key) {
  auto log = open_rocksdb_log(dir, OpenMode::create_new);
  BOOST_REQUIRE(log.has_value());
  for (int i = 1; i <= 7; ++i) {
    BOOST_REQUIRE((*log)
                      ->append(std::vector<Draft>{test::token_issued("lk_000000000000000000000001",
                                                                     "usr_a", i)},
                               i)
                      .has_value());
  }
  const Head head = (*log)->head();
  Checkpoint cp{head.seq, head.hash, key.kid(), alg_name(key.alg()),
                base64url_encode(key.sign(checkpoint_message(head.seq, head.hash)))};
  BOOST_REQUIRE(
      (*log)->append(std::vector<Draft>{Draft{EventType::checkpoint, cp, {}}}, 8).has_value());
  for (int i = 9; i <= 10; ++i) {
    BOOST_REQUIRE(
        (*log)
            ->append(std::vector<Draft>{test::user_created("usr_" + std::to_string(i))}, i)
            .has_value());
  }
}

VerifyReport verify_dir(const std::string& dir, const std::map<std::string, VerifyKey>& keys = {}) {
  auto log = open_rocksdb_log(dir, OpenMode::read_only);
  BOOST_REQUIRE(log.has_value());
  return verify_log(**log, keys);
}

std::map<std::string, VerifyKey> keys_of(const SigningKey& k) {
  return {{k.kid(), k.public_key()}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tamper_evidence)

BOOST_AUTO_TEST_CASE(an_untouched_log_verifies_with_its_checkpoint_signature) {
  test::TempDir dir;
  const auto key = SigningKey::generate(SignAlg::es256);
  build(dir / "log", key);
  const auto r = verify_dir(dir / "log", keys_of(key));
  BOOST_TEST(r.ok);
  BOOST_TEST(r.events == 10u);
  BOOST_TEST(r.checkpoints == 1u);
  BOOST_TEST(r.checkpoints_signed_ok == 1u);
}

struct Case {
  const char* what;
  std::function<Status(const std::string&)> damage;
  Seq first_bad;
};

BOOST_AUTO_TEST_CASE(each_kind_of_damage_is_named_at_its_sequence_number) {
  const std::vector<Case> cases = {
      {"one byte of a record changed",
       [](const std::string& d) { return testing::flip_byte(d, 5, 20); }, 5},
      {"one byte of the data changed",
       [](const std::string& d) { return testing::flip_byte(d, 3, 100); }, 3},
      {"an event deleted", [](const std::string& d) { return testing::delete_record(d, 7); }, 7},
      {"two events swapped", [](const std::string& d) { return testing::swap_records(d, 3, 4); },
       3},
      {"the first event deleted", [](const std::string& d) { return testing::delete_record(d, 1); },
       1},
      // Rewriting history and re-hashing the chain after it: only the checkpoint notices.
      {"an event rewritten and the chain recomputed",
       [](const std::string& d) {
         return testing::rewrite_event(
             d, 2, [](Event& e) { std::get<TokenIssued>(e.data).apikey = "lk_forged"; });
       },
       8},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      test::TempDir dir;
      const auto key = SigningKey::generate(SignAlg::es256);
      build(dir / "log", key);
      BOOST_REQUIRE(c.damage(dir / "log"));
      const auto r = verify_dir(dir / "log");
      BOOST_TEST(!r.ok);
      BOOST_TEST(r.first_bad == c.first_bad);
      BOOST_TEST_MESSAGE(c.what << ": seq " << r.first_bad << ": " << r.reason);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_forged_checkpoint_is_caught_with_the_public_keys) {
  test::TempDir dir;
  const auto key = SigningKey::generate(SignAlg::es256);
  const auto forger = SigningKey::generate(SignAlg::es256);
  build(dir / "log", key);
  // Rewrite an event, then forge the checkpoint to match the new chain: the
  // chain alone now verifies, the signature does not.
  BOOST_REQUIRE(testing::rewrite_event(
      dir / "log", 2, [](Event& e) { std::get<TokenIssued>(e.data).apikey = "lk_x"; }));
  {
    auto log = open_rocksdb_log(dir / "log", OpenMode::read_only);
    Digest hash7{};
    BOOST_REQUIRE((*log)->scan(7, 7, [&](const Event& e) {
      hash7 = e.hash;
      return true;
    }));
    log->reset();
    BOOST_REQUIRE(testing::rewrite_event(dir / "log", 8, [&](Event& e) {
      auto& cp = std::get<Checkpoint>(e.data);
      cp.head_hash = hash7;
      cp.signature =
          base64url_encode(forger.sign(checkpoint_message(7, hash7)));  // kid still names `key`
    }));
  }
  BOOST_TEST(verify_dir(dir / "log").ok);  // without keys, only the chain is checked
  const auto r = verify_dir(dir / "log", keys_of(key));
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.first_bad == 8u);
  BOOST_TEST(r.reason.find("signature") != std::string::npos);
  // And with keys that do not include the signer's kid.
  const auto other = verify_dir(dir / "log", keys_of(forger));
  BOOST_TEST(!other.ok);
  BOOST_TEST(other.reason.find("unknown key") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ed25519_checkpoints_verify_too) {
  test::TempDir dir;
  const auto key = SigningKey::generate(SignAlg::eddsa);
  build(dir / "log", key);
  const auto jwk = VerifyKey::from_jwk(key.public_key().jwk());
  BOOST_REQUIRE(jwk.has_value());
  const auto r = verify_dir(dir / "log", {{jwk->kid(), *jwk}});
  BOOST_TEST(r.ok);
  BOOST_TEST(r.checkpoints_signed_ok == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
