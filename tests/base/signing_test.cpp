// Signing keys under concurrent use, and the buffered generator of identifiers.
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"
#include "base/signing.h"

using namespace latchkey;

BOOST_AUTO_TEST_CASE(signatures_made_by_many_threads_at_once_all_verify) {
  for (const SignAlg alg : {SignAlg::es256, SignAlg::eddsa}) {
    const SigningKey key = SigningKey::generate(alg);
    const auto verifier = VerifyKey::from_jwk(key.public_key().jwk());
    BOOST_TEST_REQUIRE(verifier.has_value());
    constexpr int kThreads = 6, kEach = 150;
    std::atomic<int> bad{0}, wrong_size{0}, forged{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          const std::string message = "message " + std::to_string(t) + "/" + std::to_string(i);
          const std::string sig = key.sign(message);
          if (sig.size() != 64) ++wrong_size;
          if (!verifier->verify(message, sig)) ++bad;
          if (verifier->verify(message + "!", sig)) ++forged;
        }
      });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST(wrong_size.load() == 0, alg_name(alg));
    BOOST_TEST(bad.load() == 0, alg_name(alg));
    BOOST_TEST(forged.load() == 0, alg_name(alg));
  }
}

BOOST_AUTO_TEST_CASE(es256_signs_with_a_fresh_nonce_every_time) {
  const SigningKey key = SigningKey::generate(SignAlg::es256);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) seen.insert(key.sign("same message"));
  BOOST_TEST(seen.size() == 50u);
  // A copy of the key shares its contexts and signs alike.
  const SigningKey copy = key;
  BOOST_TEST(key.public_key().verify("same message", copy.sign("same message")));
}

BOOST_AUTO_TEST_CASE(identifier_bytes_never_repeat_across_refills_and_threads) {
  std::set<std::string> seen;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      // 1,000 x 16 bytes spans several 4 KiB refills.
      for (int i = 0; i < 1000; ++i) mine.push_back(random_id_bytes(16));
      std::lock_guard lock(mu);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(seen.size() == 4000u);
  BOOST_TEST(random_id_bytes(12).size() == 12u);
  BOOST_TEST(random_id_bytes(64).size() == 64u);
  BOOST_TEST(random_id_bytes(200).size() == 200u);  // larger requests go straight to RAND_bytes
}

BOOST_AUTO_TEST_CASE(a_forked_child_does_not_repeat_its_parents_identifier_bytes) {
  (void)random_id_bytes(16);  // the parent's buffer now holds unread bytes
  int fds[2];
  BOOST_TEST_REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string child = random_id_bytes(16);
    const auto n = ::write(fds[1], child.data(), child.size());
    ::_exit(n == 16 ? 0 : 1);
  }
  ::close(fds[1]);
  const std::string parent = random_id_bytes(16);
  std::string child(16, '\0');
  std::size_t got = 0;
  while (got < child.size()) {
    const auto n = ::read(fds[0], child.data() + got, child.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(got == 16u);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(child != parent);
}
