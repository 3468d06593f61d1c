// The overlay alone, against a std::string: many small writes that overlap,
// touch and extend each other, truncations both ways, and flushes, with the
// backing file checked after each flush.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>

#include "tests/powerloss/overlay.h"
#include "tests/support/temp_dir.h"

using latchkey::powerloss::Overlay;
using latchkey::test::read_file;
using latchkey::test::TempDir;

BOOST_AUTO_TEST_SUITE(overlay)

BOOST_AUTO_TEST_CASE(reads_like_a_string_under_random_writes_and_truncations) {
  for (unsigned seed = 1; seed <= 10; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      std::mt19937 rng(seed);
      auto pick = [&rng](std::size_t lo, std::size_t hi) {
        return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
      };
      TempDir dir;
      const std::string path = dir / "backing";
      std::string model(pick(0, 400), 'b');
      {
        std::string initial = model;
        for (auto& c : initial) c = static_cast<char>('A' + pick(0, 25));
        model = initial;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        BOOST_TEST_REQUIRE(::write(fd, initial.data(), initial.size()) ==
                           static_cast<ssize_t>(initial.size()));
        ::close(fd);
      }
      const int fd = ::open(path.c_str(), O_RDWR);
      BOOST_TEST_REQUIRE(fd >= 0);
      Overlay overlay(model.size());
      for (int step = 0; step < 2000; ++step) {
        const std::size_t op = pick(0, 99);
        if (op < 80) {
          // Offsets in a small span, so writes overlap and touch each other.
          const std::size_t off = pick(0, 500);
          std::string data(pick(1, 60), static_cast<char>('a' + step % 26));
          overlay.write(off, data);
          if (model.size() < off + data.size()) model.resize(off + data.size(), '\0');
          model.replace(off, data.size(), data);
        } else if (op < 98) {
          const std::size_t size = pick(0, 560);
          overlay.truncate(size);
          model.resize(size, '\0');
        } else {
          BOOST_TEST_REQUIRE(overlay.flush(fd, op % 2 == 0) == 0);
          BOOST_TEST_REQUIRE((read_file(path) == model), "step " << step);
          BOOST_TEST_REQUIRE(overlay.unsynced_bytes() == 0u);
        }
        BOOST_TEST_REQUIRE(overlay.size() == model.size(), "step " << step);
        const std::size_t off = pick(0, model.size() + 10), len = pick(0, 600);
        std::string got;
        BOOST_TEST_REQUIRE(overlay.read(fd, off, len, &got) == 0);
        const std::string want = off < model.size() ? model.substr(off, len) : "";
        BOOST_TEST_REQUIRE((got == want), "step " << step << ": read " << len << " at " << off);
      }
      ::close(fd);
    }
  }
}

// A file written by appends is one growing range, so appending stays cheap.
BOOST_AUTO_TEST_CASE(appends_are_joined) {
  TempDir dir;
  const std::string path = dir / "backing";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
  Overlay overlay(0);
  std::string model;
  for (int i = 0; i < 20000; ++i) {
    const std::string record = "record " + std::to_string(i) + ";";
    overlay.write(model.size(), record);
    model += record;
  }
  std::string got;
  BOOST_TEST_REQUIRE(overlay.read(fd, 0, model.size(), &got) == 0);
  BOOST_TEST((got == model));
  BOOST_TEST_REQUIRE(overlay.flush(fd, true) == 0);
  BOOST_TEST((read_file(path) == model));
  ::close(fd);
}

BOOST_AUTO_TEST_SUITE_END()
