// A writer that appends forever, printing each acknowledged event as
// "SEQ ID" on its own line (one write(2) per line), until it is killed.
// Usage: append_child DIR THREADS
//    or: append_child DIR snapshot SEQ BYTES: writes one snapshot of BYTES
//        bytes 's' at SEQ, then exits at once (_exit: nothing closed).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "events/event_log.h"
#include "service/sequencer.h"

using namespace latchkey;
using namespace latchkey::events;
using latchkey::service::Sequencer;

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[2]) == "snapshot") {
    auto log = open_rocksdb_log(argv[1], OpenMode::create_new);
    if (!log) return 3;
    const std::string bytes(std::stoul(argv[4]), 's');
    if (!(*log)->put_snapshot(Snapshot{std::stoull(argv[3]), bytes})) _exit(4);
    _exit(0);
  }
  if (argc != 3) return 2;
  const std::string dir = argv[1];
  const int threads = std::stoi(argv[2]);
  const bool exists = std::filesystem::exists(dir + "/CURRENT");
  auto log = open_rocksdb_log(dir, exists ? OpenMode::read_write : OpenMode::create_new);
  if (!log) {
    std::fprintf(stderr, "open: %s %s\n", log.error().message.c_str(), log.error().detail.c_str());
    return 3;
  }
  SystemClock clock;
  Sequencer seq(**log, clock, {}, {});
  const Seq start = (*log)->head().seq;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (long i = 0;; ++i) {
        const std::string id =
            "usr_" + std::to_string(start) + "_" + std::to_string(t) + "_" + std::to_string(i);
        auto r = seq.submit_and_wait(
            Sequencer::Isolation::shared, [&](Micros) -> Result<std::vector<Draft>> {
              return std::vector<Draft>{
                  Draft{EventType::user_created, PrincipalCreated{id, "n", "", {}}, {}}};
            });
        if (!r) {
          std::fprintf(stderr, "append: %s\n", r.error().message.c_str());
          _exit(4);
        }
        const std::string line = std::to_string(r->front().seq) + " " + id + "\n";
        if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
      }
    });
  }
  for (auto& t : pool) t.join();
}
