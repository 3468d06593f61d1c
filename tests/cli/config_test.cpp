// Where `latchkey serve` takes its settings from (docs/configuration.md): the
// documented defaults, then a TOML file (--config), then LATCHKEY_* variables,
// then flags, each over the one before; and a bad setting from any of them
// refused at start with a message naming it. Each setting is observed from
// outside, as a client sees it: the port, the tokens' `iss`, the body limit,
// whether /metrics asks for a token, where the access log goes.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/e2e/e2e.h"
#include "tests/support/child_process.h"
#include "tests/support/temp_dir.h"

using namespace latchkey;
using namespace latchkey::e2e;
namespace fs = std::filesystem;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// A login body of exactly `size` bytes: the JSON after leading whitespace.
std::string login_of_size(const test::AdminKeys& k, std::size_t size) {
  const std::string body =
      json({{"auth_mode", "apikey"}, {"apikey", k.apikey}, {"secretkey", k.secretkey}}).dump();
  BOOST_REQUIRE(size >= body.size());
  return std::string(size - body.size(), ' ') + body;
}

HttpResponse login_with_body(const Client& c, const std::string& body) {
  return c.call("POST", "/iam/login", body, {"Content-Type: application/json"});
}

// Whether 127.0.0.1:port can be bound now (no one listens there).
bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(configuration)

BOOST_AUTO_TEST_CASE(a_file_then_the_environment_then_flags_each_over_the_one_before) {
  test::TempDir dir;
  const std::string file = dir / "latchkey.toml";
  write(file, R"([server]
listen = "127.0.0.1:1"
max_body_bytes = 2048
metrics_public = false

[tokens]
issuer = "issuer-from-the-file"
)");
  ServerProcess::Options o;  // and --listen 127.0.0.1:0, a flag
  o.serve_args = {"--config", file, "--set", "server.max_body_bytes=8192"};
  o.env = {{"LATCHKEY_TOKENS_ISSUER", "issuer-from-the-environment"},
           {"LATCHKEY_SERVER_MAX_BODY_BYTES", "4096"}};
  ServerProcess server(o);
  Client client(server);

  // A flag over the file: the --listen port 0 (a free port), not the file's port 1.
  BOOST_TEST(server.port() != 1);
  // The environment over the file: tokens.issuer.
  const auto login = client.login_raw(server.admin().apikey, server.admin().secretkey);
  BOOST_TEST_REQUIRE(login.status == 200, login.body);
  BOOST_TEST(jwt_part(login.json().at("access_token"), 1).at("iss") ==
             "issuer-from-the-environment");
  // The file over the defaults: server.metrics_public = false.
  expect_error(client.get("/metrics", ""), 401, "unauthorized");
  // A flag over the environment over the file: server.max_body_bytes is 8192,
  // not 4096 nor 2048.
  BOOST_TEST(login_with_body(client, login_of_size(server.admin(), 8192)).status == 200);
  expect_error(login_with_body(client, login_of_size(server.admin(), 8193)), 413,
               "payload_too_large");
}

BOOST_AUTO_TEST_CASE(with_no_configuration_the_documented_defaults_apply) {
  test::TempDir dir;
  // data.dir is ./data, for init and serve alike.
  const auto init = test::run_latchkey({"init"}, {}, dir.path());
  BOOST_TEST_REQUIRE(init.exit_code == 0, init.err);
  BOOST_TEST_REQUIRE(fs::exists(dir / "data/pepper"));
  const json printed = json::parse(init.out);
  const test::AdminKeys admin{printed.at("principal_id"), printed.at("apikey"),
                              printed.at("secretkey")};

  ServerProcess::Options o;
  o.data_dir = dir / "data";  // initialised above; not given to serve
  o.data_flag = false;
  o.listen.clear();  // server.listen: 127.0.0.1:8080
  o.cwd = dir.path();
  const bool free = can_bind(8080);
  if (!free) {
    // The default port is taken on this machine: the refusal names the
    // default address, and the other defaults are checked on another port.
    BOOST_TEST_MESSAGE("127.0.0.1:8080 is in use: checking that the refusal names it");
    const auto refused = test::run_latchkey_failing({"serve"}, {}, dir.path());
    BOOST_TEST(refused.err.find("127.0.0.1:8080") != std::string::npos, refused.err);
    o.listen = "127.0.0.1:0";
  }
  ServerProcess server(o);
  if (free) {
    BOOST_TEST(server.port() == 8080);
    BOOST_TEST(server.stderr_text().find("\"address\":\"127.0.0.1:8080\"") != std::string::npos,
               server.stderr_text());
  }
  Client client(server);
  // data.dir: the keys init printed for ./data log in.
  const auto login = client.login_raw(admin.apikey, admin.secretkey);
  BOOST_TEST_REQUIRE(login.status == 200, login.body);
  // tokens.issuer: "latchkey"; tokens.algorithm: ES256 (init's key).
  const std::string token = login.json().at("access_token");
  BOOST_TEST(jwt_part(token, 1).at("iss") == "latchkey");
  BOOST_TEST(jwt_part(token, 0).at("alg") == "ES256");
  // server.metrics_public: true.
  const auto metrics = client.get("/metrics", "");
  BOOST_TEST(metrics.status == 200);
  BOOST_TEST(metrics.body.find("latchkey_logins_total") != std::string::npos);
  // server.max_body_bytes: 65536.
  BOOST_TEST(login_with_body(client, login_of_size(admin, 65536)).status == 200);
  expect_error(login_with_body(client, login_of_size(admin, 65537)), 413, "payload_too_large");
  // server.access_log: stdout, one JSON line per request.
  BOOST_TEST(server.stop() == 0);
  std::istringstream lines(server.stdout_text());
  std::string line;
  int logins = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line, nullptr, false);
    BOOST_TEST_REQUIRE(j.is_object(), line);
    logins += j.value("route", "") == "/iam/login" && j.value("status", 0) == 200;
  }
  BOOST_TEST(logins == 2);
}

BOOST_AUTO_TEST_CASE(a_bad_setting_from_any_source_is_refused_at_start_naming_it) {
  test::TempDir dir;
  const std::string data = dir / "data";
  BOOST_TEST_REQUIRE(test::run_latchkey({"init", "--data", data}).exit_code == 0);
  const std::string cert = dir / "cert.pem";
  write(cert, "not used: refused before it is read\n");
  struct Bad {
    std::string what;
    std::string file;  // the TOML file's text, if any
    std::map<std::string, std::string> env;
    std::vector<std::string> flags;
    std::string says;
  };
  // One case of each source and each kind of mistake (each costs a second of
  // start-up under the sanitizers).
  const std::vector<Bad> bads = {
      {"an unknown setting in the file", "[server]\ncolour = \"red\"\n", {}, {}, "server.colour"},
      {"a value of the wrong type in the file",
       "[server]\nthreads = 1.5\n",
       {},
       {},
       "server.threads"},
      {"a file that is not TOML", "[server\nlisten = \n", {}, {}, "cannot read configuration"},
      {"a bad number in the environment",
       "",
       {{"LATCHKEY_SERVER_THREADS", "lots"}},
       {},
       "server.threads"},
      {"an unknown setting as a flag", "", {}, {"--set", "no.such=1"}, "no.such"},
      {"a cluster node without one public address for its tokens' issuer",
       "[cluster]\nnode = \"n1\"\nnats = [\"nats://127.0.0.1:1\"]\n",
       {},
       {},
       "server.public_url"},
      {"a value out of range as a flag",
       "",
       {},
       {"--set", "server.max_body_bytes=10"},
       "server.max_body_bytes"},
      {"a certificate without its key",
       "",
       {},
       {"--set", "server.tls_cert=" + cert},
       "server.tls_key"},
  };
  for (const auto& b : bads) {
    BOOST_TEST_CONTEXT(b.what) {
      std::vector<std::string> args{"serve", "--data", data, "--listen", "127.0.0.1:0"};
      if (!b.file.empty()) {
        const std::string file = dir / "bad.toml";
        write(file, b.file);
        args.insert(args.end(), {"--config", file});
      }
      args.insert(args.end(), b.flags.begin(), b.flags.end());
      const auto r = test::run_latchkey_failing(args, b.env);
      BOOST_TEST(r.exit_code == 1);
      BOOST_TEST(r.err.find(b.says) != std::string::npos, r.err);
      BOOST_TEST(r.err.find("\"msg\":\"listening\"") == std::string::npos, r.err);
      BOOST_TEST(r.out.empty(), r.out);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
