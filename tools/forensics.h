#pragma once
// The offline commands: verify, audit, replay state|diff|timeline, backup,
// jwks, rotate-signing-key. They open the log read-only (except
// rotate-signing-key) and work while a server runs on the same directory.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace latchkey::tools {

struct ForensicsOptions {
  std::string data = "./data";
  // Where the archive segments are (empty: DATA/archive).
  std::string archive_dir;
  // The project whose log a command reads ("platform": the platform's own).
  std::string project = "default";
  std::string format;
  std::string jwks_file;
  // audit filters
  std::string principal_id, apikey, type, actor, from, to, order;
  std::uint64_t after = 0, before = 0, limit = 0;
  bool all = false;
  // replay
  std::string at, diff_from, diff_to;
  // backup
  std::string to_dir;
  bool no_secrets = false;
  bool quiet = false;  // no progress bar on stderr (tools/progress.h)
  std::string alg = "ES256";
  bool all_keys = false;

  CLI::App* verify = nullptr;
  CLI::App* audit = nullptr;
  CLI::App* replay = nullptr;
  CLI::App* replay_state = nullptr;
  CLI::App* replay_diff = nullptr;
  CLI::App* replay_timeline = nullptr;
  CLI::App* backup = nullptr;
  CLI::App* restore = nullptr;
  std::string from_dir;
  CLI::App* jwks = nullptr;
  CLI::App* rotate = nullptr;
};

void add_forensics_commands(CLI::App& app, ForensicsOptions& o);
// Runs whichever of those commands was parsed; returns the exit code.
int run_forensics_command(CLI::App& app, const ForensicsOptions& o);

}  // namespace latchkey::tools
