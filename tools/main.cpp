// latchkey: one binary, many subcommands (../docs/cli.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "events/event_log.h"
#include "events/verify.h"
#include "http/app.h"
#include "http/cluster_node.h"
#include "http/config.h"
#include "keys/secret_store.h"
#include "tools/forensics.h"
#include "tools/init.h"

namespace {

using namespace latchkey;

int fail(const std::string& message) {
  std::cerr << "latchkey: " << message << "\n";
  return 1;
}

int cmd_init(const std::string& data, const std::string& alg, std::int64_t lifetime_days) {
  tools::InitOptions o;
  o.data_dir = data;
  o.alg = alg_from_name(alg).value_or(SignAlg::es256);
  o.lifetime_days = lifetime_days;
  auto r = tools::init_data_dir(o);
  if (!r) return fail(r.error().message);
  const nlohmann::json out = {{"principal_id", r->principal_id},
                              {"apikey", r->apikey},
                              {"secretkey", r->secretkey},
                              {"expires_at", format_rfc3339_seconds(r->expires_at)},
                              {"platform",
                               {{"principal_id", r->platform_principal_id},
                                {"apikey", r->platform_apikey},
                                {"secretkey", r->platform_secretkey},
                                {"expires_at", format_rfc3339_seconds(r->platform_expires_at)}}}};
  std::cout << out.dump(2) << std::endl;
  std::cerr << "latchkey: initialised " << data
            << ": the default project's first admin keys above, and the platform operator's "
               "under \"platform\". The secretkeys are shown once: keep them safe. Start the "
               "server with `latchkey serve --data "
            << data << "`.\n";
  return 0;
}

// The --set section.key=value options, as settings.
Result<std::map<std::string, std::string>> set_flags(const std::vector<std::string>& sets) {
  std::map<std::string, std::string> flags;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos)
      return make_error(Errc::invalid_request, "--set takes section.key=value");
    flags[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return flags;
}

int cmd_serve(const std::string& config_file, const std::map<std::string, std::string>& flags) {
  auto config = http::load_config(config_file, http::environment(), flags);
  if (!config) return fail(config.error().message);
  auto app = http::App::open(*config);
  if (!app) {
    std::string m = app.error().message;
    if (!app.error().detail.empty() && app.error().code != Errc::invalid_request)
      m += " (" + app.error().detail + ")";
    return fail(m);
  }
  return (*app)->run(nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"latchkey: API keys, short-lived tokens and an audited event log"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "latchkey 0.1.0");

  std::string data = "./data";
  auto* init =
      app.add_subcommand("init", "Create a data directory and the first admin service account");
  init->add_option("--data", data, "Data directory")->capture_default_str();
  std::string alg = "ES256";
  init->add_option("--alg", alg, "Token signing algorithm")
      ->check(CLI::IsMember({"ES256", "EdDSA"}))
      ->capture_default_str();
  std::int64_t lifetime_days = 0;
  init->add_option("--lifetime-days", lifetime_days,
                   "Lifetime of the admin key (default: default_key_lifetime_days)")
      ->check(CLI::Range(1, 36500));

  auto* serve = app.add_subcommand("serve", "Serve the HTTP API");
  std::string config_file, listen, tls_cert, tls_key, serve_data;
  std::vector<std::string> sets;
  serve->add_option("--data", serve_data, "Data directory (default ./data)");
  serve->add_option("--listen", listen,
                    "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)");
  serve->add_option("--tls-cert", tls_cert, "TLS certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", tls_key, "TLS private key (PEM)")->check(CLI::ExistingFile);
  serve->add_option("--config", config_file, "Configuration file (TOML)")->check(CLI::ExistingFile);
  serve->add_option("--set", sets, "Override a setting: section.key=value (repeatable)");

  auto* cluster = app.add_subcommand("cluster", "A cluster's state (docs/cluster.md)");
  cluster->require_subcommand(1);
  auto* cluster_status =
      cluster->add_subcommand("status", "The writer, its epoch, and each node's position and lag");
  std::string cluster_config;
  std::vector<std::string> cluster_sets;
  cluster_status->add_option("--config", cluster_config, "Configuration file (TOML)")
      ->check(CLI::ExistingFile);
  cluster_status->add_option("--set", cluster_sets,
                             "Override a setting: section.key=value (repeatable)");

  tools::ForensicsOptions fo;
  tools::add_forensics_commands(app, fo);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (init->parsed()) return cmd_init(data, alg, lifetime_days);
  if (serve->parsed()) {
    auto parsed = set_flags(sets);
    if (!parsed) return fail(parsed.error().message);
    auto& flags = *parsed;
    if (!serve_data.empty()) flags["data.dir"] = serve_data;
    if (!listen.empty()) flags["server.listen"] = listen;
    if (!tls_cert.empty()) flags["server.tls_cert"] = tls_cert;
    if (!tls_key.empty()) flags["server.tls_key"] = tls_key;
    return cmd_serve(config_file, flags);
  }
  if (cluster_status->parsed()) {
    auto flags = set_flags(cluster_sets);
    if (!flags) return fail(flags.error().message);
    auto config = http::load_config(cluster_config, http::environment(), *flags);
    if (!config) return fail(config.error().message);
    if (config->cluster_nats.empty())
      return fail("no cluster is configured: set cluster.nats (and cluster.node for a node)");
    auto status = http::ClusterNode::cluster_status(*config);
    if (!status) return fail(status.error().message + " (" + status.error().detail + ")");
    std::cout << *status << std::endl;
    return 0;
  }
  return tools::run_forensics_command(app, fo);
}
