#include "http/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <functional>

extern char** environ;

namespace latchkey::http {
namespace {

struct Entry {
  const char* name;
  std::function<Status(Config&, const std::string&)> set;
};

Error bad(const std::string& name, const std::string& why) {
  return make_error(Errc::invalid_request, "configuration " + name + ": " + why);
}

auto str(std::string Config::*m) {
  return [m](Config& c, const std::string& v) -> Status {
    c.*m = v;
    return {};
  };
}

auto integer(const char* name, std::int64_t Config::*m, std::int64_t min, std::int64_t max) {
  return [=](Config& c, const std::string& v) -> Status {
    try {
      std::size_t pos = 0;
      const long long n = std::stoll(v, &pos);
      if (pos != v.size() || n < min || n > max) {
        return bad(name, "must be a whole number from " + std::to_string(min) + " to " +
                             std::to_string(max));
      }
      c.*m = n;
      return {};
    } catch (...) {
      return bad(name, "must be a whole number");
    }
  };
}

auto boolean(const char* name, bool Config::*m) {
  return [=](Config& c, const std::string& v) -> Status {
    if (v == "true" || v == "1" || v == "yes") {
      c.*m = true;
    } else if (v == "false" || v == "0" || v == "no") {
      c.*m = false;
    } else {
      return bad(name, "must be true or false");
    }
    return {};
  };
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"server.listen", str(&Config::listen)},
      {"server.tls_cert", str(&Config::tls_cert)},
      {"server.tls_key", str(&Config::tls_key)},
      {"server.threads", integer("server.threads", &Config::threads, 0, 256)},
      {"server.max_body_bytes",
       integer("server.max_body_bytes", &Config::max_body_bytes, 1024, 64 << 20)},
      {"server.max_header_bytes",
       integer("server.max_header_bytes", &Config::max_header_bytes, 1024, 1 << 20)},
      {"server.read_timeout_ms",
       integer("server.read_timeout_ms", &Config::read_timeout_ms, 100, 3'600'000)},
      {"server.idle_timeout_ms",
       integer("server.idle_timeout_ms", &Config::idle_timeout_ms, 100, 3'600'000)},
      {"server.max_connections",
       integer("server.max_connections", &Config::max_connections, 1, 1'000'000)},
      {"server.access_log", str(&Config::access_log)},
      {"server.metrics_public", boolean("server.metrics_public", &Config::metrics_public)},
      {"server.public_url", str(&Config::public_url)},
      {"data.dir", str(&Config::data_dir)},
      {"data.snapshot_every_events",
       integer("data.snapshot_every_events", &Config::snapshot_every_events, 1, 1LL << 40)},
      // RocksDB raises anything below 64 KiB to 64 KiB.
      {"data.write_buffer_bytes",
       integer("data.write_buffer_bytes", &Config::write_buffer_bytes, 64 << 10, 1LL << 30)},
      {"tokens.issuer", str(&Config::issuer)},
      {"tokens.algorithm",
       [](Config& c, const std::string& v) -> Status {
         if (v != "ES256" && v != "EdDSA") return bad("tokens.algorithm", "must be ES256 or EdDSA");
         c.algorithm = v;
         return {};
       }},
      {"checkpoints.every_events",
       integer("checkpoints.every_events", &Config::checkpoint_every_events, 0, 1LL << 40)},
      {"checkpoints.every_seconds",
       integer("checkpoints.every_seconds", &Config::checkpoint_every_seconds, 0, 86400 * 365)},
      {"smtp.url", str(&Config::smtp_url)},
      {"smtp.from", str(&Config::smtp_from)},
      {"smtp.credentials_file", str(&Config::smtp_credentials_file)},
      {"smtp.timeout_ms", integer("smtp.timeout_ms", &Config::smtp_timeout_ms, 100, 600'000)},
      {"smtp.starttls", boolean("smtp.starttls", &Config::smtp_starttls)},
      {"smtp.verify_tls", boolean("smtp.verify_tls", &Config::smtp_verify_tls)},
      {"smtp.ca_file", str(&Config::smtp_ca_file)},
      {"smtp.reminder_check_seconds",
       integer("smtp.reminder_check_seconds", &Config::reminder_check_seconds, 1, 86400 * 7)},
  };
  return e;
}

std::string env_name(const std::string& name) {
  std::string out = "LATCHKEY_";
  for (char c : name)
    out.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

}  // namespace

Status Config::set(const std::string& name, const std::string& value) {
  for (const auto& e : entries()) {
    if (name == e.name) return e.set(*this, value);
  }
  return make_error(Errc::invalid_request, "unknown configuration setting " + name);
}

std::vector<std::string> Config::names() {
  std::vector<std::string> out;
  for (const auto& e : entries()) out.emplace_back(e.name);
  return out;
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
        std::string text;
        if (auto s = value.value<std::string>(); s && value.is_string()) {
          text = *s;
        } else if (auto i = value.value<std::int64_t>(); i && value.is_integer()) {
          text = std::to_string(*i);
        } else if (auto b = value.value<bool>(); b && value.is_boolean()) {
          text = *b ? "true" : "false";
        } else {
          return make_error(Errc::invalid_request,
                            "configuration " + name + " has an unsupported type");
        }
        if (auto st = c.set(name, text); !st) return st.error();
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
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return make_error(Errc::invalid_request,
                      "give both server.tls_cert and server.tls_key, or neither");
  }
  return c;
}

}  // namespace latchkey::http
