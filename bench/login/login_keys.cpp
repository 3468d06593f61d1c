// bench_login_keys: fills a data directory made by `latchkey init` with users
// and API keys for bench/login, writing their user.created and key.created
// events straight into its log (the server must not be running), and writes
// "apikey secretkey" lines to a 0600 file for the load generator.
//
// Usage: bench_login_keys --data DIR --out FILE [--users 2000] [--keys-per-user 5]
//                         [--allowed-cidrs N]

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "bench/datagen.h"
#include "events/event_log.h"
#include "keys/secret_store.h"

int main(int argc, char** argv) {
  using namespace latchkey;
  CLI::App app{"bench_login_keys: users and API keys for the login benchmark"};
  std::string data, out;
  std::uint64_t users = 2000, per_user = 5, cidrs = 0;
  app.add_option("--data", data, "Data directory made by `latchkey init`")->required();
  app.add_option("--out", out, "File for the apikey/secretkey pairs (created 0600)")->required();
  app.add_option("--users", users, "Users to create")->capture_default_str();
  app.add_option("--keys-per-user", per_user, "Keys per user (at most 10)")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app.add_option("--allowed-cidrs", cidrs,
                 "Networks each key is limited to, 127.0.0.0/8 last (0: no limit)")
      ->check(CLI::Range(0, 50))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto secrets = keys::SecretStore::open(data, true);
  if (!secrets) {
    std::fprintf(stderr, "bench_login_keys: %s\n", secrets.error().message.c_str());
    return 1;
  }
  auto log =
      events::open_rocksdb_log(keys::SecretStore::log_dir(data), events::OpenMode::read_write);
  if (!log) {
    std::fprintf(stderr, "bench_login_keys: %s\n", log.error().message.c_str());
    return 1;
  }
  auto keys = bench::add_login_keys(**log, (*secrets)->pepper(), users, per_user,
                                    SystemClock().now(), cidrs);
  if (!keys) {
    std::fprintf(stderr, "bench_login_keys: %s\n", keys.error().message.c_str());
    return 1;
  }
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    std::perror(out.c_str());
    return 1;
  }
  std::string text;
  text.reserve(keys->size() * 110);
  for (const auto& k : *keys) text += k.apikey + " " + k.secretkey + "\n";
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::close(fd)) {
    std::perror(out.c_str());
    return 1;
  }
  std::fprintf(stderr, "bench_login_keys: %zu keys of %llu users in %s (head %llu)\n", keys->size(),
               static_cast<unsigned long long>(users), data.c_str(),
               static_cast<unsigned long long>((*log)->head().seq));
  return 0;
}
