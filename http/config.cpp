#include "http/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "base/parse.h"

extern char** environ;

namespace latchkey::http {
namespace {

// A setting: how to read it from text (environment, flags) and from its TOML
// value, which must have the setting's own type (a port is 8080, not "8080").
struct Entry {
  const char* name;
  std::function<Status(Config&, const std::string&)> from_text;
  std::function<Status(Config&, const toml::node&)> from_toml;
};

Error bad(const std::string& name, const std::string& why) {
  return make_error(Errc::invalid_request, "configuration " + name + ": " + why);
}

struct Setter {
  std::function<Status(Config&, const std::string&)> from_text;
  std::function<Status(Config&, const toml::node&)> from_toml;
};

Setter str(const char* name, std::string Config::*m) {
  return {[m](Config& c, const std::string& v) -> Status {
            c.*m = v;
            return {};
          },
          [name, m](Config& c, const toml::node& v) -> Status {
            const auto* s = v.as_string();
            if (!s) return bad(name, "must be a string");
            c.*m = s->get();
            return {};
          }};
}

Setter integer(const char* name, std::int64_t Config::*m, std::int64_t min, std::int64_t max) {
  auto range = [=](Config& c, std::optional<std::int64_t> n) -> Status {
    if (!n || *n < min || *n > max) {
      return bad(name, "must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max));
    }
    c.*m = *n;
    return {};
  };
  return {
      [range](Config& c, const std::string& v) { return range(c, parse_integer<std::int64_t>(v)); },
      [range](Config& c, const toml::node& v) {
        const auto* i = v.as_integer();
        return range(c, i ? std::optional<std::int64_t>(i->get()) : std::nullopt);
      }};
}

std::string format_number(double d) {
  std::ostringstream s;
  s << d;
  return s.str();
}

Setter number(const char* name, double Config::*m, double min, double max) {
  auto range = [=](Config& c, std::optional<double> n) -> Status {
    if (!n || !(*n >= min && *n <= max)) {
      return bad(name, "must be a number from " + format_number(min) + " to " + format_number(max));
    }
    c.*m = *n;
    return {};
  };
  return {[range](Config& c, const std::string& v) {
            std::optional<double> n;
            char* end = nullptr;
            const double d = v.empty() ? 0 : std::strtod(v.c_str(), &end);
            if (!v.empty() && end == v.c_str() + v.size()) n = d;
            return range(c, n);
          },
          [range](Config& c, const toml::node& v) {
            if (const auto* i = v.as_integer()) return range(c, static_cast<double>(i->get()));
            const auto* f = v.as_floating_point();
            return range(c, f ? std::optional<double>(f->get()) : std::nullopt);
          }};
}

Setter boolean(const char* name, bool Config::*m) {
  return {[=](Config& c, const std::string& v) -> Status {
            if (v == "true" || v == "1" || v == "yes") {
              c.*m = true;
            } else if (v == "false" || v == "0" || v == "no") {
              c.*m = false;
            } else {
              return bad(name, "must be true or false");
            }
            return {};
          },
          [=](Config& c, const toml::node& v) -> Status {
            const auto* b = v.as_boolean();
            if (!b) return bad(name, "must be true or false");
            c.*m = b->get();
            return {};
          }};
}

Setter algorithm() {
  auto check = [](Config& c, const std::string& v) -> Status {
    if (v != "ES256" && v != "EdDSA") return bad("tokens.algorithm", "must be ES256 or EdDSA");
    c.algorithm = v;
    return {};
  };
  return {check, [check](Config& c, const toml::node& v) -> Status {
            const auto* s = v.as_string();
            if (!s) return bad("tokens.algorithm", "must be ES256 or EdDSA");
            return check(c, s->get());
          }};
}

// A list: a TOML array of strings, or comma-separated text; `set` takes the items.
Setter list(const char* name, std::function<Status(Config&, const std::vector<std::string>&)> set) {
  return {[set](Config& c, const std::string& v) -> Status {
            std::vector<std::string> items;
            std::size_t start = 0;
            while (start <= v.size()) {
              const auto comma = std::min(v.find(',', start), v.size());
              std::string item = v.substr(start, comma - start);
              std::erase_if(item,
                            [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); });
              if (!item.empty()) items.push_back(std::move(item));
              start = comma + 1;
            }
            return set(c, items);
          },
          [name, set](Config& c, const toml::node& v) -> Status {
            const auto* a = v.as_array();
            if (!a) return bad(name, "must be an array of strings");
            std::vector<std::string> items;
            for (const auto& el : *a) {
              const auto* s = el.as_string();
              if (!s) return bad(name, "must be an array of strings");
              items.push_back(s->get());
            }
            return set(c, items);
          }};
}

Setter networks(const char* name, std::vector<IpNetwork> Config::*m) {
  return list(name, [=](Config& c, const std::vector<std::string>& items) -> Status {
    std::vector<IpNetwork> out;
    for (const auto& item : items) {
      const auto n = parse_network(item);
      if (!n) return bad(name, "'" + item + "' is not an IPv4 or IPv6 network");
      out.push_back(*n);
    }
    c.*m = std::move(out);
    return {};
  });
}

Setter strings(const char* name, std::vector<std::string> Config::*m) {
  return list(name, [=](Config& c, const std::vector<std::string>& items) -> Status {
    c.*m = items;
    return {};
  });
}

Entry entry(const char* name, Setter s) {
  return Entry{name, std::move(s.from_text), std::move(s.from_toml)};
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      entry("server.listen", str("server.listen", &Config::listen)),
      entry("server.tls_cert", str("server.tls_cert", &Config::tls_cert)),
      entry("server.tls_key", str("server.tls_key", &Config::tls_key)),
      entry("server.threads", integer("server.threads", &Config::threads, 0, 256)),
      entry("server.project_login_concurrency",
            integer("server.project_login_concurrency", &Config::project_login_concurrency, 0,
                    1 << 20)),
      entry("server.max_body_bytes",
            integer("server.max_body_bytes", &Config::max_body_bytes, 1024, 64 << 20)),
      entry("server.max_header_bytes",
            integer("server.max_header_bytes", &Config::max_header_bytes, 1024, 1 << 20)),
      entry("server.read_timeout_ms",
            integer("server.read_timeout_ms", &Config::read_timeout_ms, 100, 3'600'000)),
      entry("server.idle_timeout_ms",
            integer("server.idle_timeout_ms", &Config::idle_timeout_ms, 100, 3'600'000)),
      entry("server.max_connections",
            integer("server.max_connections", &Config::max_connections, 1, 1'000'000)),
      entry("server.access_log", str("server.access_log", &Config::access_log)),
      entry("server.metrics_public", boolean("server.metrics_public", &Config::metrics_public)),
      entry("server.public_url", str("server.public_url", &Config::public_url)),
      entry("server.trusted_proxies", networks("server.trusted_proxies", &Config::trusted_proxies)),
      entry("server.base_domain", str("server.base_domain", &Config::base_domain)),
      entry("server.default_project", str("server.default_project", &Config::default_project)),
      entry("data.dir", str("data.dir", &Config::data_dir)),
      entry("cluster.node", str("cluster.node", &Config::cluster_node)),
      entry("cluster.nats", strings("cluster.nats", &Config::cluster_nats)),
      entry("cluster.stream", str("cluster.stream", &Config::cluster_stream)),
      entry("cluster.lease_bucket", str("cluster.lease_bucket", &Config::cluster_lease_bucket)),
      entry("cluster.replicas", integer("cluster.replicas", &Config::cluster_replicas, 1, 5)),
      entry("cluster.lease_ttl_ms",
            integer("cluster.lease_ttl_ms", &Config::cluster_lease_ttl_ms, 500, 60'000)),
      entry("cluster.stream_max_age_seconds",
            integer("cluster.stream_max_age_seconds", &Config::cluster_stream_max_age_seconds, 0,
                    1LL << 32)),
      entry("cluster.stream_max_bytes",
            integer("cluster.stream_max_bytes", &Config::cluster_stream_max_bytes, 0, 1LL << 50)),
      entry("cluster.timeout_ms",
            integer("cluster.timeout_ms", &Config::cluster_timeout_ms, 100, 60'000)),
      entry("cluster.blocks_in_flight",
            integer("cluster.blocks_in_flight", &Config::cluster_blocks_in_flight, 1, 64)),
      entry("data.snapshot_every_events",
            integer("data.snapshot_every_events", &Config::snapshot_every_events, 1, 1LL << 40)),
      // RocksDB raises anything below 64 KiB to 64 KiB.
      entry("data.archive_after_days",
            number("data.archive_after_days", &Config::archive_after_days, 0, 365 * 100)),
      entry("data.retention_days",
            number("data.retention_days", &Config::retention_days, 0, 365 * 100)),
      entry("data.archive_dir", str("data.archive_dir", &Config::archive_dir)),
      entry("data.archive_check_seconds",
            integer("data.archive_check_seconds", &Config::archive_check_seconds, 1, 86400)),
      entry("data.archive_min_events",
            integer("data.archive_min_events", &Config::archive_min_events, 1, 1LL << 40)),
      entry("data.write_buffer_bytes",
            integer("data.write_buffer_bytes", &Config::write_buffer_bytes, 64 << 10, 1LL << 30)),
      entry("tokens.issuer", str("tokens.issuer", &Config::issuer)),
      entry("tokens.algorithm", algorithm()),
      entry("checkpoints.every_events",
            integer("checkpoints.every_events", &Config::checkpoint_every_events, 0, 1LL << 40)),
      entry(
          "checkpoints.every_seconds",
          integer("checkpoints.every_seconds", &Config::checkpoint_every_seconds, 0, 86400 * 365)),
      entry("smtp.url", str("smtp.url", &Config::smtp_url)),
      entry("smtp.from", str("smtp.from", &Config::smtp_from)),
      entry("smtp.credentials_file", str("smtp.credentials_file", &Config::smtp_credentials_file)),
      entry("smtp.timeout_ms", integer("smtp.timeout_ms", &Config::smtp_timeout_ms, 100, 600'000)),
      entry("smtp.starttls", boolean("smtp.starttls", &Config::smtp_starttls)),
      entry("smtp.verify_tls", boolean("smtp.verify_tls", &Config::smtp_verify_tls)),
      entry("smtp.ca_file", str("smtp.ca_file", &Config::smtp_ca_file)),
      entry("smtp.reminder_check_seconds",
            integer("smtp.reminder_check_seconds", &Config::reminder_check_seconds, 1, 86400 * 7)),
  };
  return e;
}

const Entry* find_entry(std::string_view name) {
  for (const auto& e : entries()) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

std::string env_name(const std::string& name) {
  std::string out = "LATCHKEY_";
  for (char c : name)
    out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

Status Config::set(const std::string& name, const std::string& value) {
  const Entry* e = find_entry(name);
  if (!e) return make_error(Errc::invalid_request, "unknown configuration setting " + name);
  return e->from_text(*this, value);
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

Result<Config> load_config(const std::string& file, const std::map<std::string, std::string>& env,
                           const std::map<std::string, std::string>& flags) {
  Config c;
  if (!file.empty()) {
    toml::table table;
    try {
      table = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      return make_error(Errc::invalid_request,
                        "cannot read configuration " + file + ": " + std::string(e.description()));
    }
    for (const auto& [section, node] : table) {
      const auto* sub = node.as_table();
      if (!sub)
        return make_error(Errc::invalid_request,
                          "configuration " + std::string(section.str()) + " must be a [section]");
      for (const auto& [key, value] : *sub) {
        const std::string name = std::string(section.str()) + "." + std::string(key.str());
        const Entry* e = find_entry(name);
        if (!e) return make_error(Errc::invalid_request, "unknown configuration setting " + name);
        if (auto st = e->from_toml(c, value); !st) return st.error();
      }
    }
  }
  for (const auto& e : entries()) {
    const auto it = env.find(env_name(e.name));
    if (it != env.end()) {
      if (auto st = c.set(e.name, it->second); !st) return st.error();
    }
  }
  for (const auto& [name, value] : flags) {
    if (auto st = c.set(name, value); !st) return st.error();
  }
  if (c.retention_days > 0 && c.retention_days < c.archive_after_days) {
    return make_error(Errc::invalid_request,
                      "data.retention_days must be 0 (keep for ever) or at least "
                      "data.archive_after_days: only archived events are deleted");
  }
  if (c.retention_days > 0 && c.archive_after_days == 0) {
    return make_error(Errc::invalid_request,
                      "data.retention_days deletes archived events: set data.archive_after_days "
                      "too");
  }
  if (!c.cluster_node.empty()) {
    const auto name_ok = [](const std::string& v) {
      return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
      });
    };
    if (!name_ok(c.cluster_node))
      return make_error(Errc::invalid_request,
                        "cluster.node must be 1 to 64 letters, digits, '-' or '_'");
    if (c.cluster_nats.empty())
      return make_error(Errc::invalid_request,
                        "cluster.nats must name the NATS servers (nats://host:port, ...)");
    if (!name_ok(c.cluster_stream) || !name_ok(c.cluster_lease_bucket))
      return make_error(Errc::invalid_request,
                        "cluster.stream and cluster.lease_bucket must be letters, digits, '-' or "
                        "'_'");
    // Each project's (and the platform's) issuer is made from it: without
    // it, each node would sign under its own address, and a token issued
    // by one node would be refused by the next.
    if (c.public_url.empty())
      return make_error(Errc::invalid_request,
                        "a cluster node needs server.public_url, the one address clients use "
                        "for every node: tokens carry it as their issuer");
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return make_error(Errc::invalid_request,
                      "give both server.tls_cert and server.tls_key, or neither");
  }
  return c;
}

}  // namespace latchkey::http
