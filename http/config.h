#pragma once
// Server configuration: defaults, then a TOML file, then LATCHKEY_* environment
// variables, then command-line flags (each overriding the one before).
// Every setting has a name "section.key"; its environment variable is
// LATCHKEY_SECTION_KEY (e.g. server.listen -> LATCHKEY_SERVER_LISTEN).
// docs/configuration.md lists them all.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/cidr.h"
#include "base/error.h"

namespace latchkey::http {

struct Config {
  // [server]
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert;
  std::string tls_key;
  std::int64_t threads = 0;  // 0: one per core
  // While more than one project logs in: logins of one project in progress at
  // once; the others wait (0: no limit).
  std::int64_t project_login_concurrency = 8;
  std::int64_t max_body_bytes = 64 * 1024;
  std::int64_t max_header_bytes = 8 * 1024;
  std::int64_t read_timeout_ms = 10'000;  // a whole request must arrive within this
  std::int64_t idle_timeout_ms = 60'000;  // a kept-alive connection may idle this long
  std::int64_t max_connections = 10'000;
  std::string access_log = "stdout";  // "stdout" | "off" | a file path
  bool metrics_public = true;
  std::string public_url;  // how clients reach this server (in emails); default from listen
  // Peers whose Forwarded / X-Forwarded-For header names the client; empty: none.
  std::vector<IpNetwork> trusted_proxies;
  // Projects: `{project}.{base_domain}` selects a project; other hosts the
  // default project (none when default_project is empty).
  std::string base_domain = "localhost";
  std::string default_project = "default";
  // [data]
  std::string data_dir = "./data";
  std::int64_t snapshot_every_events = 100'000;
  std::int64_t write_buffer_bytes = 64 << 20;  // the log's memtable, per column family
  // The log's life (docs/data-lifecycle.md): events older than this many days
  // move to archive segments (0: never), and archived events older than
  // retention_days are deleted (0: kept for ever). Fractions of a day work.
  double archive_after_days = 0;
  double retention_days = 0;
  std::string archive_dir;                  // empty: DATA/archive
  std::int64_t archive_check_seconds = 60;  // how often the archiver looks
  // A cut waits until this many events are due, or until the oldest of them
  // is twice archive_after_days old (a quiet project), so that segments are
  // not made of a few events each.
  std::int64_t archive_min_events = 10'000;
  // [tokens]
  std::string issuer = "latchkey";
  std::string algorithm = "ES256";  // for new signing keys: ES256 | EdDSA
  // [checkpoints]
  std::int64_t checkpoint_every_events = 10'000;
  std::int64_t checkpoint_every_seconds = 300;
  // [smtp]
  std::string smtp_url;  // e.g. smtp://127.0.0.1:2525, smtps://mail:465; empty: no email
  std::string smtp_from = "latchkey@localhost";
  std::string smtp_credentials_file;  // "user:password" on one line, 0600
  std::int64_t smtp_timeout_ms = 10'000;
  bool smtp_starttls = false;  // require STARTTLS on smtp://
  bool smtp_verify_tls = true;
  std::string smtp_ca_file;
  std::int64_t reminder_check_seconds = 3600;
  // [cluster] (docs/cluster.md). No node id: a single node on its own log.
  std::string cluster_node;
  std::vector<std::string> cluster_nats;  // nats://host:port of the NATS servers
  std::string cluster_stream = "LATCHKEY_LOG";
  std::string cluster_lease_bucket = "latchkey_lease";
  std::int64_t cluster_replicas = 3;
  std::int64_t cluster_lease_ttl_ms = 5000;
  std::int64_t cluster_stream_max_age_seconds = 0;  // the stream's window; 0: unbounded
  std::int64_t cluster_stream_max_bytes = 0;        // 0: unbounded
  std::int64_t cluster_timeout_ms = 2000;           // NATS requests and publish acks
  std::int64_t cluster_blocks_in_flight = 4;        // the writer's blocks published, not yet acked

  // Applies one "section.key" = text (an environment variable or a flag).
  // invalid_request names the key on error.
  [[nodiscard]] Status set(const std::string& name, const std::string& value);
};

// Builds the configuration from the three sources. `file` may be empty.
// `env` is the process environment (name -> value); `flags` are "section.key" -> value.
[[nodiscard]] Result<Config> load_config(const std::string& file,
                                         const std::map<std::string, std::string>& env,
                                         const std::map<std::string, std::string>& flags);

// The process environment as a map.
std::map<std::string, std::string> environment();

}  // namespace latchkey::http
