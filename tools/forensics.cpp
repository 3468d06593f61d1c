#include "tools/forensics.h"

#include "tools/progress.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/durable_dirs.h"
#include "events/codec.h"
#include "events/event_log.h"
#include "events/verify.h"
#include "http/render.h"
#include "keys/data_keys.h"
#include "keys/secret_store.h"
#include "projections/live_views.h"
#include "replay/queries.h"
#include "replay/rebuild.h"
#include "service/bootstrap.h"
#include "service/command_service.h"

namespace latchkey::tools {

namespace fs = std::filesystem;

namespace {

int fail(const std::string& m) {
  std::cerr << "latchkey: " << m << "\n";
  return 1;
}

// A project's log, read-only, with the store that holds it.
struct Reader {
  std::unique_ptr<events::EventStore> store;
  events::EventLog* log = nullptr;
  events::EventLog& operator*() const { return *log; }
  events::EventLog* operator->() const { return log; }
};

std::string_view log_name(const std::string& project) {
  return project == "platform" ? events::kPlatformLog : std::string_view(project);
}

std::string archive_dir_of(const std::string& data, const std::string& archive_dir) {
  return archive_dir.empty() ? (fs::path(data) / "archive").string() : archive_dir;
}

Result<Reader> open_reader(const std::string& data, const std::string& project = "default",
                           const std::string& archive_dir = "") {
  events::LogOptions options;
  options.archive_dir = archive_dir_of(data, archive_dir);
  auto store = events::open_rocksdb_store(keys::SecretStore::log_dir(data),
                                          events::OpenMode::read_only, options);
  if (!store) return store.error();
  Reader r;
  r.log = &(*store)->log(log_name(project));
  r.store = std::move(*store);
  // The data keys open the personal data of the events; without them (a
  // copy made with --no-secrets) it reads "[sealed]".
  const std::string secrets_dir = service::log_secrets_dir(data, log_name(project));
  if (fs::exists(secrets_dir + "/pepper")) {
    auto data_keys = keys::open_data_keys(secrets_dir, /*read_only=*/true);
    if (!data_keys) return data_keys.error();
    r.log->set_personal_keys(*data_keys);
  }
  if (r.log->head().seq == 0 && project != "default") {
    return make_error(Errc::not_found, "no project " + project + " in " + data);
  }
  return r;
}

std::string summary(const events::Event& e) {
  nlohmann::json d = events::data_to_json(e.data);
  std::string out;
  for (const auto& [k, v] : d.items()) {
    if (v.is_string() && v.get<std::string>().empty()) continue;
    if (v.is_array() && v.empty()) continue;
    if (k == "public_jwk" || k == "signature" || k == "head_hash") continue;
    if (!out.empty()) out += " ";
    out += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out;
}

void print_table(const std::vector<events::Event>& evs) {
  std::cout << std::left << std::setw(8) << "SEQ" << std::setw(29) << "TIME" << std::setw(24)
            << "TYPE" << std::setw(22) << "ACTOR" << std::setw(16) << "SOURCE"
            << "DETAILS\n";
  for (const auto& e : evs) {
    std::cout << std::left << std::setw(8) << e.seq << std::setw(29) << format_rfc3339(e.time)
              << std::setw(24) << events::type_name(e.type) << std::setw(22) << e.context.actor
              << std::setw(16) << (e.context.source_ip.empty() ? "-" : e.context.source_ip)
              << summary(e) << "\n";
  }
}

// What verify says about a chain's archives and deleted history.
void print_history(const std::string& prefix, const events::VerifyReport& r, bool signatures) {
  if (r.archived > 0) {
    std::cout << prefix << "archives: " << r.archived
              << " events read from archive segments, one chain with the live log\n";
  }
  if (r.deleted > 0) {
    std::cout << prefix << "history: events 1.." << r.deleted
              << " deleted by retention; verified from the cut after them (log.history_deleted";
    std::cout << (signatures ? (r.cuts_signed_ok > 0 ? ", signature valid" : "") : ", hash only")
              << ")\n";
  }
}

int cmd_verify(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  std::map<std::string, VerifyKey> keys;
  if (!o.jwks_file.empty()) {
    std::ifstream in(o.jwks_file);
    if (!in) return fail("cannot read " + o.jwks_file);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!j.is_object() || !j.contains("keys") || !j["keys"].is_array())
      return fail(o.jwks_file + " is not a JWKS");
    for (const auto& k : j["keys"]) {
      auto vk = VerifyKey::from_jwk(k.dump());
      if (!vk) return fail(o.jwks_file + " holds a key latchkey cannot use");
      keys.emplace(vk->kid(), std::move(*vk));
    }
    if (keys.empty()) return fail(o.jwks_file + " holds no keys");
  }
  auto verify = [&](const events::EventLog& l, const std::string& name,
                    const std::map<std::string, VerifyKey>& with) {
    Progress bar("verify " + name, l.head().seq, "events", o.quiet);
    return events::verify_log(l, with, [&](events::Seq done) { bar.update(done); });
  };
  const auto r = verify(**log, o.project == "platform" ? "platform" : o.project, keys);
  if (o.format == "json") {
    nlohmann::json j = {{"ok", r.ok},
                        {"events", r.events},
                        {"checkpoints", r.checkpoints},
                        {"checkpoints_signature_verified", r.checkpoints_signed_ok},
                        {"last_checkpoint", r.last_checkpoint},
                        {"archived_events", r.archived},
                        {"deleted_through", r.deleted},
                        {"from_signed_cut", r.from_signed_cut},
                        {"cuts", r.cuts},
                        {"cuts_signature_verified", r.cuts_signed_ok},
                        {"head_hash", to_hex(r.head_hash)}};
    if (!r.ok) {
      j["first_bad_seq"] = r.first_bad;
      j["reason"] = r.reason;
    }
    std::cout << j.dump(2) << "\n";
  } else if (r.ok) {
    std::cout << "ok: " << r.events << " events, sequence dense, hash chain intact, head "
              << to_hex(r.head_hash) << "\n";
    std::cout << "checkpoints: " << r.checkpoints << " matching the chain";
    if (!keys.empty()) std::cout << ", " << r.checkpoints_signed_ok << " with valid signatures";
    if (r.last_checkpoint) std::cout << "; the last at seq " << r.last_checkpoint;
    std::cout << "\n";
    print_history("", r, !keys.empty());
  }
  if (!r.ok) {
    std::cerr << "latchkey: verification failed at seq " << r.first_bad << ": " << r.reason << "\n";
    return 1;
  }
  if (o.verify->count("--project") != 0) return 0;
  // Without --project: every other chain too, the platform's and each project's.
  auto projects = log->store->projects();
  if (!projects) return fail(projects.error().message);
  int failed = 0;
  for (const std::string& id : *projects) {
    if (id == events::kDefaultProject) continue;
    const std::string name = id == events::kPlatformLog ? "platform" : "project " + id;
    const auto rp = verify(log->store->log(id), name, {});
    if (o.format != "json") {
      if (rp.ok) {
        std::cout << name << ": ok: " << rp.events << " events, hash chain intact, head "
                  << to_hex(rp.head_hash) << "\n";
        print_history(name + ": ", rp, false);
      }
    }
    if (!rp.ok) {
      std::cerr << "latchkey: " << name << ": verification failed at seq " << rp.first_bad << ": "
                << rp.reason << "\n";
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}

Result<replay::AuditFilter> filter_of(const ForensicsOptions& o) {
  std::map<std::string, std::string> p;
  if (!o.principal_id.empty()) p["principal_id"] = o.principal_id;
  if (!o.apikey.empty()) p["apikey"] = o.apikey;
  if (!o.type.empty()) p["type"] = o.type;
  if (!o.actor.empty()) p["actor"] = o.actor;
  if (!o.from.empty()) p["from"] = o.from;
  if (!o.to.empty()) p["to"] = o.to;
  if (o.after) p["after"] = std::to_string(o.after);
  if (o.before) p["before"] = std::to_string(o.before);
  if (!o.order.empty()) p["order"] = o.order;
  if (o.limit) p["limit"] = std::to_string(o.limit);
  return replay::parse_audit_filter(p);
}

int cmd_audit(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  auto f = filter_of(o);
  if (!f) return fail(f.error().message);
  const std::string format = o.format.empty() ? "table" : o.format;
  const bool everything = o.all || format == "ndjson";
  std::vector<events::Event> table_rows;
  nlohmann::json json_events = nlohmann::json::array();
  std::optional<events::Seq> next;
  // A long walk (--all, ndjson) shows how far through the log it is.
  const events::Seq head = (*log)->head().seq;
  Progress bar("audit", everything ? head : 0, "events", o.quiet || !everything);
  for (;;) {
    auto page = replay::audit_page(**log, *f);
    if (!page) return fail(page.error().message);
    if (!page->events.empty()) {
      const events::Seq at = page->events.back().seq;
      bar.update(f->descending ? head - at + 1 : at);
    }
    for (const auto& e : page->events) {
      if (format == "ndjson") {
        std::cout << events::to_json(e).dump() << "\n";
      } else if (format == "json") {
        json_events.push_back(events::to_json(e));
      } else {
        table_rows.push_back(e);
      }
    }
    next = page->next;
    if (!everything || !next) break;
    (f->descending ? f->before : f->after) = *next;
  }
  bar.finish();
  if (format == "json") {
    std::cout << nlohmann::json{{"events", json_events},
                                {"next", next ? nlohmann::json(std::to_string(*next))
                                              : nlohmann::json(nullptr)}}
                     .dump(2)
              << "\n";
  } else if (format == "table") {
    print_table(table_rows);
    if (next)
      std::cerr << "more: --" << (f->descending ? "before " : "after ") << *next << " (or --all)\n";
  }
  return 0;
}

int cmd_replay_state(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  auto point = replay::parse_point(**log, o.at);
  if (!point) return fail(point.error().message);
  auto state = replay::state_at(**log, *point);
  if (!state) return fail(state.error().message);
  if (o.format == "json" || o.format.empty()) {
    std::cout << http::state_json(*state, point->time).dump(2) << "\n";
    return 0;
  }
  const projections::Views* views = &state->views;
  const Micros at = point->time;
  std::cout << "state at " << format_rfc3339(at) << " (seq " << views->seq << ")\n\nKEYS\n";
  for (const auto& k : views->keys.all()) {
    std::cout << "  " << std::left << std::setw(30) << k.apikey << std::setw(24)
              << views->principals.at(k.principal).id << std::setw(10)
              << projections::status_name(k.status(at)) << "expires "
              << format_rfc3339(k.expires_at) << "\n";
  }
  std::cout << "\nSETTINGS\n";
  views->settings.each([](const char* name, const std::int64_t& value) {
    std::cout << "  " << name << " = " << value << "\n";
  });
  std::cout << "\nLIVE TOKENS: " << state->live_tokens.size() << "\n";
  return 0;
}

int cmd_replay_diff(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  auto from = replay::parse_point(**log, o.diff_from);
  if (!from) return fail(from.error().message);
  auto to = replay::parse_point(**log, o.diff_to);
  if (!to) return fail(to.error().message);
  auto d = replay::diff(**log, *from, *to);
  if (!d) return fail(d.error().message);
  std::cout << http::diff_json(*d).dump(2) << "\n";
  return 0;
}

int cmd_replay_timeline(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  std::vector<events::Event> all;
  events::Seq after = 0;
  for (;;) {
    auto page = replay::timeline(**log, o.apikey, after, 1000);
    if (!page) return fail(page.error().message);
    for (auto& e : page->events) all.push_back(std::move(e));
    if (!page->next) break;
    after = *page->next;
  }
  if (all.empty()) return fail("no events for key " + o.apikey);
  if (o.format == "json" || o.format == "ndjson") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& e : all) {
      if (o.format == "ndjson")
        std::cout << events::to_json(e).dump() << "\n";
      else
        arr.push_back(events::to_json(e));
    }
    if (o.format == "json")
      std::cout << nlohmann::json{{"apikey", o.apikey}, {"events", arr}}.dump(2) << "\n";
  } else {
    print_table(all);
  }
  return 0;
}

Status copy_private(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, ec);
  if (ec)
    return make_error(Errc::unavailable, "cannot copy " + from.string() + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write, ec);
  return {};
}

int cmd_backup(const ForensicsOptions& o) {
  std::error_code ec;
  if (fs::exists(o.to_dir, ec)) return fail(o.to_dir + " already exists");
  fs::create_directories(o.to_dir, ec);
  if (ec) return fail("cannot create " + o.to_dir + ": " + ec.message());
  fs::permissions(o.to_dir, fs::perms::owner_all, ec);
  std::string how;
  Progress bar("backup", 0, "events", o.quiet);
  auto st = events::backup_rocksdb_log(keys::SecretStore::log_dir(o.data),
                                       keys::SecretStore::log_dir(o.to_dir), &how,
                                       [&](events::Seq copied, events::Seq total) {
                                         bar.set_total(total);
                                         bar.update(copied);
                                       });
  bar.finish();
  if (!st) {
    fs::remove_all(o.to_dir, ec);
    return fail(st.error().message);
  }
  {
    // The archive segments, after the log: the copy's history names no
    // segment written later. Segments are written once and never change.
    const fs::path from = archive_dir_of(o.data, o.archive_dir);
    if (fs::exists(from, ec)) {
      fs::copy(from, fs::path(o.to_dir) / "archive", fs::copy_options::recursive, ec);
      if (ec) return fail("cannot copy " + from.string() + ": " + ec.message());
    }
  }
  if (!o.no_secrets) {
    // The platform's and each project's pepper and signing keys, as they are.
    for (const char* dir : {"platform", "projects"}) {
      const fs::path from = fs::path(o.data) / dir;
      if (!fs::exists(from, ec)) continue;
      fs::copy(from, fs::path(o.to_dir) / dir, fs::copy_options::recursive, ec);
      if (ec) return fail("cannot copy " + from.string() + ": " + ec.message());
    }
    fs::create_directories(fs::path(o.to_dir) / "signing", ec);
    fs::permissions(fs::path(o.to_dir) / "signing", fs::perms::owner_all, ec);
    if (auto c = copy_private(fs::path(o.data) / "pepper", fs::path(o.to_dir) / "pepper"); !c)
      return fail(c.error().message);
    // The default project's data keys (the others' are in projects/ and platform/).
    if (fs::exists(keys::DataKeys::path(o.data), ec)) {
      if (auto c = copy_private(keys::DataKeys::path(o.data), keys::DataKeys::path(o.to_dir)); !c)
        return fail(c.error().message);
    }
    for (const auto& entry : fs::directory_iterator(fs::path(o.data) / "signing", ec)) {
      if (auto c =
              copy_private(entry.path(), fs::path(o.to_dir) / "signing" / entry.path().filename());
          !c) {
        return fail(c.error().message);
      }
    }
  }
  std::cout << "backup of " << o.data << " in " << o.to_dir << " (" << how
            << (o.no_secrets ? "; without the pepper and signing keys"
                             : "; with the peppers and signing keys")
            << ")\n";
  return 0;
}

// Every file under `dir` private to its owner: 0700 directories, 0600 files
// (a server refuses to start on secrets others can read).
void make_private(const fs::path& dir, std::error_code& ec) {
  fs::permissions(dir, fs::perms::owner_all, ec);
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    const bool is_dir = entry.is_directory(ec);
    fs::permissions(entry.path(),
                    is_dir ? fs::perms::owner_all : fs::perms::owner_read | fs::perms::owner_write,
                    ec);
  }
}

// Every file under `dir` synced, then every directory, so the restored copy
// survives a power cut as a whole.
Status sync_tree(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> dirs{dir};
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (entry.is_directory(ec)) {
      dirs.push_back(entry.path());
      continue;
    }
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      return make_error(Errc::unavailable, "cannot sync " + entry.path().string());
    }
    ::close(fd);
  }
  if (ec) return make_error(Errc::unavailable, "cannot list " + dir.string() + ": " + ec.message());
  for (const auto& d : dirs) {
    if (auto st = sync_dir(d.string()); !st) return st;
  }
  return {};
}

// restore --from BACKUP --data DIR: a backup becomes a data directory a
// server can start on, after every chain in it is verified and every
// project's keys are found to open.
int cmd_restore(const ForensicsOptions& o) {
  std::error_code ec;
  const fs::path from = o.from_dir;
  const fs::path to = o.data;
  if (!fs::exists(from / "log" / "CURRENT", ec)) return fail(o.from_dir + " holds no backup");
  if (!fs::exists(from / "pepper", ec)) {
    return fail(o.from_dir +
                " was made with --no-secrets: it can be verified and audited where it is, not "
                "served");
  }
  if (fs::exists(to, ec) && !fs::is_empty(to, ec)) return fail(o.data + " is not empty");
  // Into a sibling first: DIR appears whole, or not at all.
  const fs::path staging = to.string() + ".restoring";
  fs::remove_all(staging, ec);
  fs::copy(from, staging, fs::copy_options::recursive, ec);
  if (ec) {
    fs::remove_all(staging, ec);
    return fail("cannot copy " + o.from_dir + ": " + ec.message());
  }
  make_private(staging, ec);
  auto abandon = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return fail(why + "; nothing was restored");
  };
  std::uint64_t events = 0;
  std::size_t logs = 0;
  {
    auto store = events::open_rocksdb_store(keys::SecretStore::log_dir(staging.string()),
                                            events::OpenMode::read_only);
    if (!store) return abandon("the backup's log does not open: " + store.error().message);
    auto projects = (*store)->projects();
    if (!projects) return abandon(projects.error().message);
    for (const std::string& id : *projects) {
      const std::string name = id == events::kPlatformLog ? "the platform" : "project " + id;
      const events::EventLog& l = (*store)->log(id);
      Progress bar("restore: verify " + name, l.head().seq, "events", o.quiet);
      const auto r = events::verify_log(l, {}, [&](events::Seq done) { bar.update(done); });
      if (!r.ok) {
        return abandon(name + " fails verification at seq " + std::to_string(r.first_bad) + ": " +
                       r.reason);
      }
      if (auto keys = keys::open_data_keys(service::log_secrets_dir(staging.string(), id), true);
          !keys) {
        return abandon(name + "'s keys do not open: " + keys.error().message);
      }
      events += r.events;
      ++logs;
    }
  }
  if (auto st = sync_tree(staging); !st) return abandon(st.error().message);
  fs::remove(to, ec);  // empty, if it exists
  fs::rename(staging, to, ec);
  if (ec) return abandon("cannot rename the copy to " + o.data + ": " + ec.message());
  const fs::path parent = fs::absolute(to).parent_path();
  if (auto st = sync_dir(parent.string()); !st) return fail(st.error().message);
  std::cout << "restored " << o.from_dir << " into " << o.data << ": " << logs
            << " chains verified, " << events << " events; start it with `latchkey serve --data "
            << o.data << "`\n";
  return 0;
}

int cmd_jwks(const ForensicsOptions& o) {
  auto log = open_reader(o.data, o.project, o.archive_dir);
  if (!log) return fail(log.error().message);
  auto views = replay::rebuild(**log, (*log)->head().seq);
  if (!views) return fail(views.error().message);
  nlohmann::json keys = nlohmann::json::array();
  const Micros now = SystemClock().now();
  for (const auto& k : views->signing.all()) {
    if (!o.all_keys && !(k.retired_at == 0 || k.valid_until > now)) continue;
    keys.push_back(nlohmann::json::parse(k.public_jwk));
  }
  std::cout << nlohmann::json{{"keys", keys}}.dump(2) << "\n";
  return 0;
}

int cmd_rotate(const ForensicsOptions& o) {
  auto secrets = keys::SecretStore::open(o.data, true);
  if (!secrets) return fail(secrets.error().message);
  auto store =
      events::open_rocksdb_store(keys::SecretStore::log_dir(o.data), events::OpenMode::read_write);
  if (!store) {
    if (store.error().code == Errc::unavailable) {
      return fail(store.error().message +
                  "; while the server runs, rotate with POST /iam/signing-keys/rotate");
    }
    return fail(store.error().message);
  }
  // A cluster node's log is the replicated log's copy: an event appended
  // here alone would part it from the others'.
  const auto at = (*store)->replica_position();
  if (!at) return fail(at.error().message);
  if (at->block != 0) {
    return fail(o.data +
                " belongs to a cluster node: rotate with POST /iam/signing-keys/rotate on any "
                "running node (docs/cluster.md)");
  }
  events::EventLog* log = &(*store)->log(events::kDefaultProject);
  auto views = replay::rebuild(*log, log->head().seq);
  if (!views) return fail(views.error().message);
  projections::LiveViews live(std::move(*views));
  SystemClock clock;
  service::CommandService commands(*log, live, clock);
  auto key = (*secrets)->add_signing_key(alg_from_name(o.alg).value_or(SignAlg::es256));
  if (!key) return fail(key.error().message);
  auto r = commands.execute_and_wait(
      domain::RotateSigningKey{(*key)->kid(), alg_name((*key)->alg()), (*key)->public_key().jwk()},
      events::RequestContext{"system", "cli", ""});
  if (!r) return fail(r.error().message);
  commands.stop();
  const auto& ev = std::get<events::SigningKeyRotated>(r->front().data);
  std::cout << nlohmann::json{{"kid", ev.kid},
                              {"alg", ev.alg},
                              {"old_kid", ev.old_kid},
                              {"old_key_published_until",
                               format_rfc3339_seconds(ev.old_valid_until)}}
                   .dump(2)
            << "\n";
  return 0;
}

}  // namespace

void add_forensics_commands(CLI::App& app, ForensicsOptions& o) {
  auto data = [&](CLI::App* c) {
    c->add_option("--data", o.data, "Data directory")->capture_default_str();
  };
  auto archive = [&](CLI::App* c) {
    c->add_option("--archive", o.archive_dir,
                  "Where the archive segments are (default: DATA/archive)");
  };
  auto project = [&](CLI::App* c, const char* help) {
    c->add_option("--project", o.project, help);
  };

  o.verify =
      app.add_subcommand("verify", "Check the whole log: dense sequence, hash chain, checkpoints");
  data(o.verify);
  archive(o.verify);
  o.verify
      ->add_option("--jwks", o.jwks_file,
                   "Also check every checkpoint's signature against these public keys")
      ->check(CLI::ExistingFile);
  o.verify->add_option("--format", o.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  project(o.verify,
          "Check only this project's chain (\"platform\": the platform's); default: every chain");
  o.verify->add_flag("--quiet", o.quiet, "No progress bar on stderr");

  o.audit = app.add_subcommand("audit", "Query the audit log");
  data(o.audit);
  archive(o.audit);
  o.audit->add_option("--principal-id", o.principal_id, "Events about this principal");
  o.audit->add_option("--apikey", o.apikey, "Events about this key");
  o.audit->add_option("--type", o.type, "Events of this type, e.g. token.issued");
  o.audit->add_option("--actor", o.actor, "Events caused by this principal (or system, anonymous)");
  o.audit->add_option("--from", o.from, "Events at or after this RFC 3339 time");
  o.audit->add_option("--to", o.to, "Events at or before this RFC 3339 time");
  o.audit->add_option("--after", o.after, "Events after this sequence number (order asc)");
  o.audit->add_option("--before", o.before, "Events before this sequence number (order desc)");
  o.audit->add_option("--order", o.order, "asc (default) or desc")
      ->check(CLI::IsMember({"asc", "desc"}));
  o.audit->add_option("--limit", o.limit, "Events per page (default 100)");
  o.audit->add_flag("--all", o.all, "Every page, not just the first");
  o.audit->add_flag("--quiet", o.quiet, "No progress bar on stderr (ndjson, --all)");
  o.audit->add_option("--format", o.format, "table (default), json or ndjson (all pages)")
      ->check(CLI::IsMember({"table", "json", "ndjson"}));
  project(o.audit, "The project (default: default; \"platform\": the platform's own log)");

  o.replay = app.add_subcommand("replay", "Rebuild the state at a past point");
  o.replay->require_subcommand(1);
  o.replay_state = o.replay->add_subcommand("state", "The state at an instant or sequence number");
  data(o.replay_state);
  archive(o.replay_state);
  project(o.replay_state, "The project (default: default)");
  o.replay_state->add_option("--at", o.at, "RFC 3339 time or sequence number")->required();
  o.replay_state->add_option("--format", o.format, "json (default) or table")
      ->check(CLI::IsMember({"json", "table"}));
  o.replay_diff = o.replay->add_subcommand("diff", "What changed between two points");
  data(o.replay_diff);
  archive(o.replay_diff);
  project(o.replay_diff, "The project (default: default)");
  o.replay_diff->add_option("--from", o.diff_from, "RFC 3339 time or sequence number")->required();
  o.replay_diff->add_option("--to", o.diff_to, "RFC 3339 time or sequence number")->required();
  o.replay_timeline = o.replay->add_subcommand("timeline", "Every event that touched one key");
  data(o.replay_timeline);
  archive(o.replay_timeline);
  project(o.replay_timeline, "The project (default: default)");
  o.replay_timeline->add_option("--apikey", o.apikey, "The key")->required();
  o.replay_timeline->add_option("--format", o.format, "table (default), json or ndjson")
      ->check(CLI::IsMember({"table", "json", "ndjson"}));

  o.backup = app.add_subcommand("backup", "Copy the data directory (works while the server runs)");
  data(o.backup);
  archive(o.backup);
  o.backup->add_option("--to", o.to_dir, "A new directory for the copy")->required();
  o.backup->add_flag("--no-secrets", o.no_secrets,
                     "Leave out the pepper and signing keys (a copy for auditors)");
  o.backup->add_flag("--quiet", o.quiet, "No progress bar on stderr");

  o.restore = app.add_subcommand(
      "restore", "Make a backup a data directory again: copied, verified, made private");
  o.restore->add_option("--from", o.from_dir, "The backup (made by latchkey backup)")->required();
  o.restore->add_option("--data", o.data, "The new data directory (absent or empty)")->required();
  o.restore->add_flag("--quiet", o.quiet, "No progress bar on stderr");

  o.jwks = app.add_subcommand("jwks", "Print the public signing keys announced in the log");
  data(o.jwks);
  project(o.jwks, "The project (default: default)");
  o.jwks->add_flag("--all", o.all_keys,
                   "Every key ever used, not just those published now (for verify --jwks)");

  o.rotate =
      app.add_subcommand("rotate-signing-key", "Add a new token signing key (server stopped)");
  data(o.rotate);
  o.rotate->add_option("--alg", o.alg, "ES256 or EdDSA")
      ->check(CLI::IsMember({"ES256", "EdDSA"}))
      ->capture_default_str();
}

int run_forensics_command(CLI::App&, const ForensicsOptions& o) {
  if (o.verify->parsed()) return cmd_verify(o);
  if (o.audit->parsed()) return cmd_audit(o);
  if (o.replay_state->parsed()) return cmd_replay_state(o);
  if (o.replay_diff->parsed()) return cmd_replay_diff(o);
  if (o.replay_timeline->parsed()) return cmd_replay_timeline(o);
  if (o.backup->parsed()) return cmd_backup(o);
  if (o.restore->parsed()) return cmd_restore(o);
  if (o.jwks->parsed()) return cmd_jwks(o);
  if (o.rotate->parsed()) return cmd_rotate(o);
  return fail("no command");
}

}  // namespace latchkey::tools
