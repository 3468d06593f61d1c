// The command line as docs/cli.md promises it: `init` refuses a directory
// that already holds a log and changes nothing in it; every command has
// --help; errors (an unknown flag, a missing required option, a bad value)
// go to stderr with a non-zero exit and nothing on stdout.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/e2e/e2e.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::e2e;
namespace fs = std::filesystem;

namespace {

// Every entry under `dir`: its kind, mode, and (for files) its bytes.
std::map<std::string, std::string> tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    std::string what = std::to_string(st.st_mode);
    if (e.is_regular_file()) what += ":" + test::read_file(e.path().string());
    out[fs::relative(e.path(), dir).string()] = what;
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(init_refuses_a_directory_that_holds_a_log_and_changes_nothing) {
  test::TempDir dir;
  const std::string data = dir / "data";
  const auto first = test::run_latchkey({"init", "--data", data});
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.err);
  const json keys = json::parse(first.out);
  const auto before = tree(data);
  BOOST_TEST_REQUIRE(before.count("pepper") == 1u);
  BOOST_TEST_REQUIRE(before.count("log/CURRENT") == 1u);

  const auto again = test::run_latchkey_failing({"init", "--data", data, "--alg", "EdDSA"});
  BOOST_TEST(again.exit_code == 1);
  BOOST_TEST(again.err.find(data) != std::string::npos, again.err);
  BOOST_TEST(again.err.find("already holds") != std::string::npos, again.err);
  BOOST_TEST(again.out.empty(), "printed keys: " << again.out);
  // Not a byte, a file or a mode changed.
  BOOST_TEST((tree(data) == before));
  // The first keys still hold: the log says so offline.
  const auto audit =
      test::run_latchkey({"audit", "--data", data, "--type", "key.created", "--format", "json"});
  BOOST_TEST_REQUIRE(audit.exit_code == 0, audit.err);
  const json created = json::parse(audit.out).at("events");
  BOOST_TEST_REQUIRE(created.size() == 1u, audit.out);
  BOOST_TEST(created[0].at("data").at("apikey") == keys.at("apikey"));

  // A pepper alone (a log lost, say) is refused the same way, and left alone.
  const std::string half = dir / "half";
  fs::create_directory(half);
  ::chmod(half.c_str(), 0700);
  { std::ofstream(half + "/pepper") << std::string(32, 'p'); }
  ::chmod((half + "/pepper").c_str(), 0600);
  const auto half_before = tree(half);
  const auto refused = test::run_latchkey_failing({"init", "--data", half});
  BOOST_TEST(refused.exit_code == 1);
  BOOST_TEST(refused.err.find("already holds") != std::string::npos, refused.err);
  BOOST_TEST(refused.out.empty());
  BOOST_TEST((tree(half) == half_before));
}

BOOST_AUTO_TEST_CASE(every_command_has_help_naming_its_options) {
  struct Help {
    std::vector<std::string> command;
    std::vector<std::string> options;  // as docs/cli.md lists them
  };
  const std::vector<Help> helps = {
      {{},
       {"init", "serve", "verify", "audit", "replay", "backup", "restore", "jwks",
        "rotate-signing-key"}},
      {{"init"}, {"--data", "--alg", "--lifetime-days"}},
      {{"serve"}, {"--data", "--listen", "--tls-cert", "--tls-key", "--config", "--set"}},
      {{"verify"}, {"--data", "--jwks", "--format"}},
      {{"audit"},
       {"--data", "--principal-id", "--apikey", "--type", "--actor", "--from", "--to", "--order",
        "--after", "--before", "--limit", "--all", "--format"}},
      {{"replay"}, {"state", "diff", "timeline"}},
      {{"replay", "state"}, {"--data", "--at", "--format"}},
      {{"replay", "diff"}, {"--data", "--from", "--to"}},
      {{"replay", "timeline"}, {"--data", "--apikey", "--format"}},
      {{"backup"}, {"--data", "--to", "--no-secrets"}},
      {{"restore"}, {"--from", "--data"}},
      {{"jwks"}, {"--data", "--all"}},
      {{"rotate-signing-key"}, {"--data", "--alg"}},
  };
  for (const auto& h : helps) {
    std::string name = "latchkey";
    for (const auto& c : h.command) name += " " + c;
    BOOST_TEST_CONTEXT(name << " --help") {
      auto args = h.command;
      args.push_back("--help");
      const auto r = test::run_latchkey(args);
      BOOST_TEST(r.exit_code == 0);
      BOOST_TEST(r.out.find("Usage") != std::string::npos, r.out);
      for (const auto& o : h.options) BOOST_TEST(r.out.find(o) != std::string::npos, o);
      BOOST_TEST(r.err.empty(), r.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(errors_go_to_stderr_with_a_non_zero_exit) {
  test::TempDir dir;
  const std::string data = dir / "data";
  BOOST_TEST_REQUIRE(test::run_latchkey({"init", "--data", data}).exit_code == 0);
  struct Bad {
    std::vector<std::string> args;
    std::string says;  // what the message must name
  };
  // Each costs a second of start-up under the sanitizers: one case of each kind.
  const std::vector<Bad> bads = {
      // usage: no command, an unknown one, an unknown flag
      {{}, "subcommand"},
      {{"frobnicate"}, "subcommand"},
      {{"verify", "--data", data, "--bogus"}, "--bogus"},
      // a required option missing
      {{"replay", "state", "--data", data}, "--at"},
      {{"backup", "--data", data}, "--to"},
      // a bad value, refused by the parser
      {{"init", "--data", dir / "other", "--alg", "RS256"}, "RS256"},
      {{"audit", "--data", data, "--limit", "lots"}, "lots"},
      {{"serve", "--data", data, "--set", "no-equals-sign"}, "--set"},
      // a bad value, refused by the command
      {{"replay", "state", "--data", data, "--at", "yesterday"}, "RFC 3339"},
      {{"audit", "--data", data, "--type", "no.such"}, "type"},
      {{"verify", "--data", dir / "nowhere"}, "nowhere"},
  };
  for (const auto& b : bads) {
    std::string line = "latchkey";
    for (const auto& a : b.args) line += " " + a;
    BOOST_TEST_CONTEXT(line) {
      const auto r = test::run_latchkey_failing(b.args);
      BOOST_TEST(r.exit_code != 0);
      BOOST_TEST(r.err.find(b.says) != std::string::npos, r.err);
      BOOST_TEST(r.out.empty(), r.out);
    }
  }
  // Nothing above made a directory.
  BOOST_TEST(!fs::exists(dir / "other"));
  BOOST_TEST(!fs::exists(dir / "nowhere"));
}

// The long offline commands draw a progress bar on stderr when it is a
// terminal (here a pseudo-terminal made by script(1)), and never otherwise or
// with --quiet: scripts and logs see only the results.
BOOST_AUTO_TEST_CASE(long_commands_show_progress_on_a_terminal_only) {
  test::TempDir dir;
  const std::string data = dir / "data";
  BOOST_TEST_REQUIRE(test::run_latchkey({"init", "--data", data}).exit_code == 0);
  const std::string audit = test::latchkey_binary() + " audit --data " + data + " --format ndjson";
  const auto on_terminal =
      test::run_command({"script", "-qec", audit + " >/dev/null", "/dev/null"});
  BOOST_TEST_REQUIRE(on_terminal.exit_code == 0, on_terminal.err);
  BOOST_TEST(on_terminal.out.find("audit [") != std::string::npos, on_terminal.out);
  BOOST_TEST(on_terminal.out.find("100%") != std::string::npos, on_terminal.out);
  BOOST_TEST(on_terminal.out.find("/s") != std::string::npos, on_terminal.out);
  // The line is erased once done: the terminal is left clean.
  BOOST_TEST(on_terminal.out.ends_with("\r\033[K"), on_terminal.out);
  const auto quiet =
      test::run_command({"script", "-qec", audit + " --quiet >/dev/null", "/dev/null"});
  BOOST_TEST(quiet.out.empty(), quiet.out);
  const auto piped = test::run_latchkey({"audit", "--data", data, "--format", "ndjson"});
  BOOST_TEST(piped.err.empty(), piped.err);
  for (const char* command : {"verify", "backup", "restore"}) {
    const auto help = test::run_latchkey({command, "--help"});
    BOOST_TEST(help.out.find("--quiet") != std::string::npos, command);
  }
}

BOOST_AUTO_TEST_SUITE_END()
