#include "http/app.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "domain/projects.h"
#include "events/event_log.h"
#include "http/api.h"
#include "http/archiver.h"
#include "http/checkpointer.h"
#include "http/cluster_node.h"
#include "http/console.h"
#include "http/host_routing.h"
#include "http/json_log.h"
#include "http/login_gate.h"
#include "http/metrics.h"
#include "http/platform_api.h"
#include "http/process_metrics.h"
#include "http/project_rates.h"
#include "http/projects.h"
#include "http/reminders.h"
#include "http/server.h"
#include "http/smtp_mailer.h"
#include "http/stop_signals.h"
#include "keys/ids.h"
#include "keys/secret_store.h"
#include "keys/tokens.h"
#include "projections/live_views.h"
#include "replay/rebuild.h"
#include "service/bootstrap.h"
#include "service/command_service.h"

namespace latchkey::http {

namespace net = boost::asio;

namespace {

class ServerApp final : public App, public ProjectDirectory {
 public:
  explicit ServerApp(const Config& c)
      : signals_(std::make_unique<StopSignals>()),
        config_(c),
        access_log_(c.access_log),
        server_log_("stderr") {}

  Status init() {
    if (auto st = check_project_config(); !st) return st;
    // First: the projects' login gates wait on its executor.
    const std::size_t threads = config_.threads > 0
                                    ? static_cast<std::size_t>(config_.threads)
                                    : std::max(1u, std::thread::hardware_concurrency());
    threads_ = threads;
    ioc_ = std::make_unique<net::io_context>(static_cast<int>(threads));
    auto secrets = keys::SecretStore::open(config_.data_dir, /*check_permissions=*/true);
    if (!secrets) return secrets.error();
    events::LogOptions log_options;
    log_options.write_buffer_bytes = static_cast<std::size_t>(config_.write_buffer_bytes);
    log_options.archive_dir = config_.archive_dir;
    auto store = events::open_rocksdb_store(keys::SecretStore::log_dir(config_.data_dir),
                                            events::OpenMode::read_write, log_options);
    if (!store) return store.error();
    local_store_ = std::move(*store);
    store_ = local_store_.get();
    if (!config_.cluster_node.empty()) {
      auto node = ClusterNode::open(config_, *local_store_, server_log_);
      if (!node) return node.error();
      cluster_ = std::move(*node);
      store_ = &cluster_->store();
      cluster_->set_keys_opener([this](std::string_view project,
                                       std::span<const std::string> records)
                                    -> std::shared_ptr<events::PersonalKeys> {
        if (auto rt = open_runtime(project)) return rt->data_keys;
        // Not loaded on this node (or not yet: this runs while the server
        // starts): the log's own key store, written first from the
        // project's secrets when its first block brings them.
        const std::string dir = service::log_secrets_dir(config_.data_dir, project);
        for (const auto& r : records) {
          if (!keys::DataKeys::is_project_secrets(r)) continue;
          if (auto st = platform_->data_keys->install_project_secrets(project, r, dir); !st) {
            server_log_.error("cannot write a new project's secrets",
                              {{"project", std::string(project)}, {"detail", st.error().message}});
            return nullptr;
          }
        }
        auto secrets = keys::SecretStore::open(dir, /*check_permissions=*/false);
        if (!secrets) return nullptr;
        auto keys = data_keys_of(store_->log(project), dir, (*secrets)->pepper());
        if (!keys) {
          server_log_.error("cannot open a project's data keys",
                            {{"project", std::string(project)}, {"detail", keys.error().message}});
          return nullptr;
        }
        return *keys;
      });
      // An erasure from the writer: the key is gone; no snapshot of this
      // node may show what it sealed (on the writer, finish_erasure).
      cluster_->set_on_erased([this](std::string_view project, const std::string& principal) {
        if (auto rt = open_runtime(project)) return rt->snapshotter->erase_principal(principal);
        return replay::erase_from_snapshots(store_->log(project), principal);
      });
      // A deleted project's records went at a block of the stream: its
      // views and secrets go too, here as on the writer.
      cluster_->set_on_dropped([this](std::string_view project) {
        const std::string id(project);
        std::shared_ptr<ProjectRuntime> rt = take_runtime(id);
        // A project of that id created again brings its own keys.
        store_->log(id).set_personal_keys(nullptr);
        std::error_code ec;
        std::filesystem::remove_all(service::project_secrets_dir(config_.data_dir, id), ec);
        // Released on an I/O thread: this is the writer's, which its
        // release waits for.
        if (rt) net::post(*ioc_, [rt = std::move(rt)]() mutable { rt->commands->stop(); });
        server_log_.info("project data dropped, as the writer did", {{"project", id}});
      });
    }
    // One writer for every project: one group commit, one sync for all.
    service::Sequencer::Options writer_options;
    // A cluster's group is one NATS message: 1,024 events (a few hundred
    // KB) stay well under the servers' default 1 MB max_payload.
    if (cluster_) writer_options.max_batch_events = 1024;
    writer_ = std::make_unique<service::Sequencer>(*store_, clock_, writer_options);
    if (cluster_) {
      writer_->set_puller(cluster_->puller());
      cluster_->set_pull_soon([this] { writer_->pull_soon(); });
      cluster_->add_metrics(metrics_);
    }
    writer_->set_batch_observer([this](std::size_t n, Micros latency, bool ok) {
      metrics_.append(n, latency, ok);
      if (writable_.exchange(ok) != ok) {
        if (ok) {
          server_log_.info("event log writable again", nlohmann::json::object());
        } else {
          server_log_.error("event log cannot be written: requests answer 503",
                            nlohmann::json::object());
        }
      }
    });
    // Before the projects: their APIs send mail through it.
    if (!config_.smtp_url.empty()) {
      auto mailer = SmtpMailer::create(config_);
      if (!mailer) return mailer.error();
      mailer_ = std::move(*mailer);
    }
    if (auto st = open_platform(); !st) return st;
    // The default project is opened now, so that a broken one stops the start.
    auto def = open_project(std::string(events::kDefaultProject), std::move(*secrets));
    if (!def) return def.error();
    default_ = *def;
    runtimes_.emplace(default_->id, default_);
    metrics_.add_gauge("latchkey_log_head_seq",
                       "Sequence number of the newest event of the default project.",
                       [this] { return static_cast<double>(default_->log->head().seq); });
    metrics_.add_gauge(
        "latchkey_projection_lag_events",
        "Events committed but not yet applied to their project's views, the most of any open "
        "project.",
        [this] {
          std::lock_guard lock(runtimes_mu_);
          events::Seq lag = 0;
          for (const auto& [id, rt] : runtimes_) {
            const events::Seq head = rt->log->head().seq;
            const events::Seq applied = rt->views->seq();
            if (head > applied) lag = std::max(lag, head - applied);
          }
          return static_cast<double>(lag);
        });
    metrics_.add_gauge("latchkey_projects_open", "Projects whose views are in memory.", [this] {
      std::lock_guard lock(runtimes_mu_);
      return static_cast<double>(runtimes_.size());
    });
    metrics_.add_gauge("latchkey_http_connections", "Open connections.", [this] {
      return server_ ? static_cast<double>(server_->connections()) : 0.0;
    });
    add_storage_metrics();
    add_process_metrics(metrics_);
    if (!config_.tls_cert.empty()) {
      tls_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
      tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                        net::ssl::context::no_tlsv1_1);
      boost::system::error_code ec;
      tls_->use_certificate_chain_file(config_.tls_cert, ec);
      if (ec)
        return make_error(Errc::invalid_request,
                          "cannot read TLS certificate " + config_.tls_cert + ": " + ec.message());
      tls_->use_private_key_file(config_.tls_key, net::ssl::context::pem, ec);
      if (ec)
        return make_error(Errc::invalid_request,
                          "cannot read TLS key " + config_.tls_key + ": " + ec.message());
    }
    platform_api_ = std::make_unique<PlatformApi>(*this);
    server_ = std::make_unique<Server>(
        *ioc_, config_, [this](const Request& req) { return route(req); }, access_log_, server_log_,
        metrics_, tls_.get());
    return {};
  }

  // ---- ProjectDirectory ----
  const projections::ProjectRegistry& registry() const override { return registry_; }

  ProjectRuntime& platform() override { return *platform_; }

  bool writes() const override { return !cluster_ || cluster_->writing(); }

  std::vector<std::shared_ptr<ProjectRuntime>> open_runtimes() const override {
    std::vector<std::shared_ptr<ProjectRuntime>> out;
    std::lock_guard lock(runtimes_mu_);
    out.reserve(runtimes_.size());
    for (const auto& [id, rt] : runtimes_) out.push_back(rt);
    return out;
  }

  std::shared_ptr<ProjectRuntime> open_runtime(std::string_view id) const override {
    std::lock_guard lock(runtimes_mu_);
    auto it = runtimes_.find(id);
    return it != runtimes_.end() ? it->second : nullptr;
  }

  events::EventLog& log_of(std::string_view id) override { return store_->log(id); }

  std::shared_ptr<ProjectRuntime> runtime(std::string_view id) override {
    const auto info = registry_.find(id);
    if (!info || info->status == projections::ProjectStatus::deleted) return nullptr;
    std::lock_guard lock(runtimes_mu_);
    if (auto it = runtimes_.find(id); it != runtimes_.end()) return it->second;
    const std::string name(id);
    auto secrets =
        keys::SecretStore::open(service::project_secrets_dir(config_.data_dir, name), true);
    if (!secrets) {
      server_log_.error("cannot open a project",
                        {{"project", name}, {"detail", secrets.error().message}});
      return nullptr;
    }
    auto rt = open_project(name, std::move(*secrets));
    if (!rt) {
      server_log_.error("cannot open a project",
                        {{"project", name}, {"detail", rt.error().message}});
      return nullptr;
    }
    runtimes_.emplace(name, *rt);
    return *rt;
  }

  Result<service::FirstAdmin> create(const std::string& id, const std::string& name,
                                     const events::RequestContext& ctx) override {
    std::lock_guard creating(create_mu_);
    if (auto d = domain::create_project(registry_, id, name); !d) return d.error();
    // What an attempt that stopped half-way (a crash) may have left.
    events::EventLog& log = store_->log(id);
    if (log.head().seq != 0) {
      if (auto st = drop_data(id); !st) return st.error();
    }
    const std::string dir = service::project_secrets_dir(config_.data_dir, id);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    const auto alg = alg_from_name(config_.algorithm).value_or(SignAlg::es256);
    auto secrets = keys::SecretStore::create(dir, alg);
    if (!secrets) return secrets.error();
    auto data_keys = keys::DataKeys::open(dir, (*secrets)->pepper(), false);
    if (!data_keys) return data_keys.error();
    if (cluster_) {
      // The project's pepper and signing key ride, wrapped under the
      // platform's key, first in its first block: every node writes them
      // before it stores anything of the project (docs/cluster.md).
      (*data_keys)->keep_new_records();
      (*data_keys)
          ->share_record(platform_->data_keys->wrap_project_secrets(id, (*secrets)->pepper(),
                                                                    *(*secrets)->newest()));
    }
    log.set_personal_keys(*data_keys);
    auto admin = [&]() -> Result<service::FirstAdmin> {
      projections::LiveViews views{projections::Views{}};
      service::CommandService commands(*writer_, log, views);
      service::BootstrapOptions options;
      options.key_description = "the project's first admin key";
      auto first = service::bootstrap_iam(commands, **secrets, options, ctx);
      commands.stop();
      if (!first) return first.error();
      // Registered last: until project.created is committed, no request reaches it.
      auto registered =
          on_platform(service::Sequencer::Isolation::exclusive,
                      [this, id, name, ctx](Micros) -> Result<std::vector<events::Draft>> {
                        auto d = domain::create_project(registry_, id, name);
                        if (!d) return d.error();
                        d->context = ctx;
                        return std::vector<events::Draft>{std::move(*d)};
                      });
      if (!registered) return registered.error();
      return first;
    }();
    if (!admin) {
      (void)drop_data(id);
      std::filesystem::remove_all(dir, ec);
      return admin.error();
    }
    server_log_.info("project created", {{"project", id}, {"request_id", ctx.request_id}});
    return admin;
  }

  Result<std::vector<events::Event>> update(const std::string& id,
                                            const domain::ProjectPatch& patch,
                                            const events::RequestContext& ctx) override {
    return on_platform(service::Sequencer::Isolation::exclusive,
                       [this, id, patch, ctx](Micros) -> Result<std::vector<events::Draft>> {
                         auto drafts = domain::update_project(registry_, id, patch);
                         if (!drafts) return drafts.error();
                         for (auto& d : *drafts) d.context = ctx;
                         return drafts;
                       });
  }

  Result<events::Event> remove(const std::string& id, const events::RequestContext& ctx) override {
    auto deleted = on_platform(service::Sequencer::Isolation::exclusive,
                               [this, id, ctx](Micros) -> Result<std::vector<events::Draft>> {
                                 // On the writer thread: nothing of the project is being
                                 // appended while its final head is read.
                                 const events::Head head = store_->log(id).head();
                                 auto d =
                                     domain::delete_project(registry_, id, head.seq, head.hash);
                                 if (!d) return d.error();
                                 d->context = ctx;
                                 return std::vector<events::Draft>{std::move(*d)};
                               });
    if (!deleted) return deleted.error();
    // The registry says deleted: no new request reaches the project. Those in
    // flight finish (a write of theirs is refused), then its data goes.
    if (auto rt = take_runtime(id)) rt->commands->stop();
    if (auto st = remove_data(id); !st) {
      server_log_.error("cannot remove a deleted project's data (it is removed at the next start)",
                        {{"project", id}, {"detail", st.error().message}});
    }
    server_log_.info("project deleted", {{"project", id}, {"request_id", ctx.request_id}});
    return deleted->front();
  }

  void finish_deletions() override {
    for (const auto& p : registry_.all()) {
      if (p.status != projections::ProjectStatus::deleted) continue;
      if (store_->log(p.id).head().seq == 0 || open_runtime(p.id)) continue;
      if (auto st = remove_data(p.id); !st) {
        server_log_.error("cannot remove a deleted project's data",
                          {{"project", p.id}, {"detail", st.error().message}});
        continue;
      }
      server_log_.info("a deleted project's data removed", {{"project", p.id}});
    }
  }

  int run(const std::function<void(const std::string&)>& on_listening) override {
    auto bound = server_->start(config_.listen);
    if (!bound) {
      server_log_.error(bound.error().message, nlohmann::json::object());
      return 1;
    }
    // Emails tell people how to reach the server: with no public_url, that is
    // the address it is bound to (with port 0, the port the system picked).
    if (config_.public_url.empty()) {
      const bool v6 = bound->find(':') != bound->rfind(':');
      const auto colon = bound->rfind(':');
      config_.public_url =
          std::string(tls_ ? "https://" : "http://") +
          (v6 ? "[" + bound->substr(0, colon) + "]" + bound->substr(colon) : *bound);
    }
    signals_->serve([this] { stop(); });
    checkpoints_ = std::make_unique<Checkpointer>(*ioc_, *this, config_, server_log_);
    archiver_ = std::make_unique<Archiver>(*this, config_, clock_, server_log_);
    archiver_->add_metrics(metrics_);
    archiver_->start();
    if (mailer_)
      reminders_ =
          std::make_unique<Reminders>(*this, *mailer_, clock_, config_, metrics_, server_log_);
    server_log_.info("listening", {{"address", *bound},
                                   {"tls", tls_ != nullptr},
                                   {"threads", threads_},
                                   {"base_domain", config_.base_domain},
                                   {"seq", default_->views->seq()}});
    server_log_.flush();
    if (cluster_) {
      cluster_->start(
          *ioc_, [this](const Request& req) { return route(req); }, *bound);
    }
    if (on_listening) on_listening(*bound);
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads_; ++i) pool.emplace_back([this] { ioc_->run(); });
    ioc_->run();
    for (auto& t : pool) t.join();
    // Its cut events go through the writer: it stops first.
    if (archiver_) archiver_->stop();
    // No reminder is started from here on.
    if (reminders_) reminders_->stop();
    // Every request has had its response. Mail still under way (a reminder)
    // finishes and its outcome is handed to the writer, so that a reminder
    // sent is recorded as sent and never goes out again after the restart.
    mailer_.reset();
    // Finish the writer's queue and flush.
    close_projects();
    writer_->stop();
    cluster_.reset();
    store_ = nullptr;
    local_store_.reset();
    server_log_.info("stopped", nlohmann::json::object());
    access_log_.flush();
    server_log_.flush();
    // Signals from here to the exit are dropped: the shutdown is complete.
    signals_.reset();
    return 0;
  }

  void stop() override {
    net::post(*ioc_, [this] {
      server_log_.info("stopping: finishing requests in flight", nlohmann::json::object());
      server_->shutdown();
      if (checkpoints_) checkpoints_->stop();
      // No more forwarded writes are taken; the lease goes to another node.
      if (cluster_) cluster_->stop();
    });
  }

  ~ServerApp() override {
    signals_.reset();  // its callback posts to ioc_
    // Order matters: the server and its handlers go before the services they use.
    // The reminders first (their thread sends mail), then the mailer: its
    // callbacks use the reminders, the API and the writer.
    if (reminders_) reminders_->stop();
    mailer_.reset();
    reminders_.reset();
    checkpoints_.reset();
    archiver_.reset();
    server_.reset();
    platform_api_.reset();
    if (cluster_) cluster_->stop();
    close_projects();
    if (writer_) writer_->stop();
  }

 private:
  // Every project's runtime (the platform's last), each finishing its writes.
  void close_projects() {
    std::map<std::string, std::shared_ptr<ProjectRuntime>, std::less<>> runtimes;
    {
      std::lock_guard lock(runtimes_mu_);
      runtimes.swap(runtimes_);
    }
    runtimes.clear();
    default_.reset();
    platform_.reset();
  }

  Status check_project_config() {
    for (char& c : config_.base_domain)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (config_.base_domain.empty())
      return make_error(Errc::invalid_request, "server.base_domain must not be empty");
    if (!config_.default_project.empty() && config_.default_project != events::kDefaultProject) {
      if (auto st = domain::check_project_id(config_.default_project); !st)
        return make_error(Errc::invalid_request, "server.default_project: " + st.error().message);
    }
    return {};
  }

  // The URL clients use for the base domain: server.public_url, or the listen address.
  std::string base_url() const {
    if (!config_.public_url.empty()) return config_.public_url;
    return std::string(config_.tls_cert.empty() ? "http://" : "https://") + config_.listen;
  }

  // The platform: created on the first start of a data directory from before
  // projects (its default project registered, a first operator printed once),
  // then its runtime and the registry folded from its log.
  Status open_platform() {
    events::EventLog& log = store_->log(events::kPlatformLog);
    if (log.head().seq == 0) {
      const events::RequestContext ctx{"system", keys::new_request_id(), ""};
      service::BootstrapOptions options;
      options.admin_name = "platform operator";
      const auto alg = alg_from_name(config_.algorithm).value_or(SignAlg::es256);
      auto op = service::bootstrap_platform(*writer_, *store_, config_.data_dir, alg, options, ctx);
      if (!op) return op.error();
      const nlohmann::json out = {{"platform",
                                   {{"principal_id", op->principal_id},
                                    {"apikey", op->apikey},
                                    {"secretkey", op->secretkey},
                                    {"expires_at", format_rfc3339_seconds(op->expires_at)}}}};
      std::cout << out.dump() << std::endl;
      server_log_.info(
          "created the platform for this data directory (its log held only the default "
          "project): the first platform operator's keys are on stdout, shown once",
          {{"principal_id", op->principal_id}});
    }
    // The registry: every project.* event, through the type index.
    std::vector<events::Seq> seqs;
    for (const char* type : {"project.created", "project.updated", "project.suspended",
                             "project.resumed", "project.deleted"}) {
      auto st = log.scan_index(events::Index::type, type, 0, events::Direction::forward,
                               [&](const events::IndexEntry& e) {
                                 seqs.push_back(e.seq);
                                 return true;
                               });
      if (!st) return st;
    }
    std::sort(seqs.begin(), seqs.end());
    for (events::Seq seq : seqs) {
      auto e = log.get(seq);
      if (!e) return e.error();
      registry_.apply(*e);
    }
    auto secrets = keys::SecretStore::open(service::platform_secrets_dir(config_.data_dir), true);
    if (!secrets) return secrets.error();
    auto rt = open_project(std::string(events::kPlatformLog), std::move(*secrets));
    if (!rt) return rt.error();
    platform_ = *rt;
    // Deleted projects whose data a stop interrupted removing. In a
    // cluster only the writer removes them, through the replicated log
    // (finish_deletions).
    if (cluster_) return {};
    for (const auto& p : registry_.all()) {
      if (p.status != projections::ProjectStatus::deleted) continue;
      if (auto st = remove_data(p.id); !st) return st;
    }
    return {};
  }

  // A project's runtime, no longer among the open ones (null if it was not).
  std::shared_ptr<ProjectRuntime> take_runtime(const std::string& id) {
    std::lock_guard lock(runtimes_mu_);
    auto it = runtimes_.find(id);
    if (it == runtimes_.end()) return nullptr;
    auto rt = std::move(it->second);
    runtimes_.erase(it);
    return rt;
  }

  // A deleted project's records (in a cluster, through a block every node
  // applies), then its secret directory, whether the records went or not.
  Status remove_data(const std::string& id) {
    Status st;
    if (store_->log(id).head().seq != 0) st = drop_data(id);
    std::error_code ec;
    std::filesystem::remove_all(service::project_secrets_dir(config_.data_dir, id), ec);
    return st;
  }

  // A log's data keys: one store per log, whoever opens it first. A cluster
  // node applies blocks while it loads its projects; two stores of one file
  // would each miss the keys the other added.
  Result<std::shared_ptr<keys::DataKeys>> data_keys_of(events::EventLog& log,
                                                       const std::string& dir,
                                                       const keys::Pepper& pepper) {
    std::lock_guard lock(data_keys_mu_);
    if (auto held = std::dynamic_pointer_cast<keys::DataKeys>(log.personal_keys())) return held;
    auto opened = keys::DataKeys::open(dir, pepper, false);
    if (!opened) return opened.error();
    log.set_personal_keys(*opened);
    return *opened;
  }

  // A project's (or the platform's) views, writer target and API.
  Result<std::shared_ptr<ProjectRuntime>> open_project(const std::string& id,
                                                       std::unique_ptr<keys::SecretStore> secrets) {
    auto rt = std::make_shared<ProjectRuntime>();
    rt->id = id;
    rt->log = &store_->log(id);
    rt->secrets = std::move(secrets);
    auto data_keys = data_keys_of(*rt->log, rt->secrets->dir(), rt->secrets->pepper());
    if (!data_keys) return data_keys.error();
    rt->data_keys = std::move(*data_keys);
    if (cluster_) {
      // A signing key made here (a rotation) travels in the block of the
      // project's next group, wrapped, so that whichever node writes next
      // can sign with the key the log names active (docs/cluster.md).
      rt->data_keys->keep_new_records();
      rt->secrets->on_new_signing_key(
          [keys = std::weak_ptr<keys::DataKeys>(rt->data_keys)](const SigningKey& k) {
            if (auto dk = keys.lock()) dk->share_signing_key(k.kid(), k.to_pem());
          });
    }
    rt->issuer = config_.issuer;
    if (id == events::kPlatformLog) {
      rt->issuer = base_url() + "/platform";
    } else if (id != events::kDefaultProject) {
      rt->public_url = project_url(base_url(), config_.base_domain, id);
      rt->issuer = rt->public_url;
    }
    replay::RebuildStats stats;
    const auto started = std::chrono::steady_clock::now();
    auto views = replay::rebuild(*rt->log, rt->log->head().seq, true, &stats);
    if (!views) return views.error();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    server_log_.info("views loaded", {{"project", id},
                                      {"seq", views->seq},
                                      {"snapshot_seq", stats.snapshot_seq},
                                      {"events_applied", stats.applied},
                                      {"seconds", seconds}});
    if (const auto* active = views->signing.active();
        !active || !rt->secrets->signing_key(active->kid)) {
      return make_error(Errc::corruption, "the active signing key of project " + id +
                                              " is not among its signing key files");
    }
    rt->views = std::make_unique<projections::LiveViews>(std::move(*views));
    ProjectRuntime* raw = rt.get();
    rt->snapshotter = std::make_unique<replay::Snapshotter>(
        *rt->log, static_cast<std::uint64_t>(config_.snapshot_every_events),
        [this, id](const Error& e) {
          server_log_.error("snapshot failed", {{"project", id}, {"detail", e.detail}});
        });
    // Erasures a crash stopped between their event and the key's destruction.
    std::vector<std::string> unfinished;
    rt->views->read([&](const projections::Views& v) {
      for (const auto& p : v.principals.all()) {
        if (p.erased_at != 0 && rt->data_keys->has_key(p.id)) unfinished.push_back(p.id);
      }
    });
    for (const auto& principal_id : unfinished) {
      if (auto st = finish_erasure(*rt, principal_id); !st) return st.error();
      server_log_.info("erasure finished", {{"project", id}, {"principal_id", principal_id}});
    }
    const bool is_platform = id == events::kPlatformLog;
    // Committed events reach the views (inside the service), then the
    // snapshotter (and, for the platform, the registry of projects).
    rt->commands = std::make_unique<service::CommandService>(
        *writer_, *rt->log, *rt->views,
        [this, raw, is_platform](std::span<const events::Event> committed) {
          if (committed.empty()) return;
          if (is_platform) {
            for (const auto& e : committed) registry_.apply(e);
          }
          raw->snapshotter->notify(committed.back().seq);
        });
    rt->tokens = std::make_unique<keys::TokenService>(*rt->secrets, *rt->views, rt->issuer);
    if (config_.project_login_concurrency > 0 && !is_platform) {
      rt->login_gate = std::make_unique<LoginGate>(
          ioc_->get_executor(), static_cast<std::size_t>(config_.project_login_concurrency));
    }
    ApiDeps deps{
        *rt->commands,
        *rt->views,
        *rt->log,
        *rt->secrets,
        *rt->tokens,
        clock_,
        metrics_,
        config_,
        is_platform ? nullptr : mailer_.get(),
        &server_log_,
        [this] { return writable_.load(); },
        is_platform ? std::function<bool(const std::string&, Response&)>() : console_handler()};
    // The platform's session cookie goes with /platform/* only, so the base
    // domain's default project and the platform sign in apart.
    deps.session.name = is_platform ? "lk_platform_session" : "lk_session";
    deps.session.path = is_platform ? "/platform" : "/iam";
    deps.session.secure = !config_.tls_cert.empty() || config_.public_url.starts_with("https://");
    deps.public_url = rt->public_url;
    deps.finish_erasure = [raw](const std::string& principal_id) {
      return finish_erasure(*raw, principal_id);
    };
    rt->api = std::make_unique<Api>(std::move(deps));
    return rt;
  }

  // What follows a committed principal.erased: no snapshot keeps the
  // principal's personal data (rewritten first, while new snapshots are
  // already taken past the event), then its data key goes. A crash between
  // the two leaves the key, and the next start finishes the work.
  static Status finish_erasure(ProjectRuntime& rt, const std::string& principal_id) {
    if (auto st = rt.snapshotter->erase_principal(principal_id); !st) return st;
    return rt.data_keys->erase(principal_id);
  }

  // Runs `producer` on the writer for the platform's log; blocking.
  Result<std::vector<events::Event>> on_platform(service::Sequencer::Isolation isolation,
                                                 service::Sequencer::Producer producer) {
    std::promise<Result<std::vector<events::Event>>> p;
    auto f = p.get_future();
    platform_->commands->submit(
        isolation, std::move(producer),
        [&p](Result<std::vector<events::Event>> r) { p.set_value(std::move(r)); });
    return f.get();
  }

  // Removes a project's records, on the writer thread (the store's rule).
  Status drop_data(const std::string& id) {
    auto r = on_platform(service::Sequencer::Isolation::exclusive,
                         [this, id](Micros) -> Result<std::vector<events::Draft>> {
                           if (auto st = store_->drop(id); !st) return st.error();
                           return std::vector<events::Draft>{};
                         });
    if (!r) return r.error();
    return {};
  }

  // Every request: the platform API on the base domain, else the API of the
  // project the host selects (docs/projects.md).
  net::awaitable<Response> route(const Request& req) {
    // In a cluster, only the writer changes anything: the others forward.
    // What the writer runs for its own clients is acknowledged once another
    // node has synced it too (a forwarding node syncs before it answers).
    if (cluster_ && ClusterNode::needs_writer(req)) {
      if (!cluster_->writing()) {
        auto op = cluster_->forward(req);
        co_return co_await std::move(op);
      }
      if (!req.forwarded) {
        auto op = route_here(req);
        Response answer = co_await std::move(op);
        auto confirmed = cluster_->confirmed(std::move(answer), req.request_id);
        co_return co_await std::move(confirmed);
      }
    }
    auto op = route_here(req);
    co_return co_await std::move(op);
  }

  // A request served by this node itself.
  net::awaitable<Response> route_here(const Request& req) {
    const HostTarget target =
        project_for_host(req.host, config_.base_domain, config_.default_project);
    const bool platform_path = req.path == "/platform" || req.path.starts_with("/platform/");
    if (platform_path) {
      if (target.by_subdomain) {
        Response r = error_response(
            make_error(Errc::not_found, "the platform API is served on the base domain"),
            req.request_id);
        r.route = "unmatched";
        co_return r;
      }
      auto op = platform_api_->handle(req);
      co_return co_await std::move(op);
    }
    const bool platform_page =
        req.path == "/console/platform" || req.path == "/console/platform.html";
    if (platform_page && target.by_subdomain) {
      Response r = error_response(
          make_error(Errc::not_found, "the platform page is served on the base domain"),
          req.request_id);
      r.route = "unmatched";
      co_return r;
    }
    if (!target.project && req.method == "GET" && req.path.starts_with("/console/") &&
        req.path != "/console/" && req.path != "/console/index.html") {
      // No default project: the platform page and its files are still served.
      Response r;
      if (serve_console(req.path, r)) {
        r.route = "/console/{file}";
        co_return r;
      }
    }
    if (!target.project) {
      if (req.path.starts_with("/iam") || req.path.starts_with("/console")) {
        Response r =
            error_response(make_error(Errc::not_found, "no project at this host"), req.request_id);
        r.route = "unmatched";
        co_return r;
      }
      // /healthz, /readyz, /metrics: the server's, whatever the host.
      auto op = platform_->api->handle(req);
      co_return co_await std::move(op);
    }
    std::shared_ptr<ProjectRuntime> rt = runtime(*target.project);
    if (!rt) {
      Response r = error_response(make_error(Errc::not_found, "no project " + *target.project),
                                  req.request_id);
      r.route = "unmatched";
      co_return r;
    }
    const bool session_path = req.path == "/iam/session";
    const bool login = req.path == "/iam/login" || (session_path && req.method == "POST");
    // A sign-out only takes access away: a suspended project allows it.
    const bool change = req.method != "GET" && req.method != "HEAD" &&
                        req.path != "/iam/introspect" && !(session_path && req.method == "DELETE");
    if (change) {  // a login is a change too (POST): one registry lookup for both checks
      const auto info = registry_.find(rt->id);
      if (info && info->status == projections::ProjectStatus::suspended) {
        Response r = error_response(
            make_error(Errc::forbidden, "project " + rt->id +
                                            " is suspended: it issues no token and accepts no "
                                            "change"),
            req.request_id);
        r.route = "suspended";
        co_return r;
      }
      if (login && info && info->login_rate_per_second > 0) {
        if (const auto wait =
                login_rates_.admit(rt->id, info->login_rate_per_second, clock_.now())) {
          Error e = make_error(Errc::too_many_requests,
                               "this project's login rate is exceeded; try again later");
          e.retry_after_seconds = static_cast<int>((*wait + 999'999) / 1'000'000);
          Response r = error_response(e, req.request_id);
          r.route = req.path;
          r.log_note = "project_rate_limited";
          metrics_.login("project_rate_limited");
          co_return r;
        }
      }
    }
    if (login && rt->login_gate && login_shares_.shared(rt.get(), clock_.now())) {
      co_await rt->login_gate->enter();
      const LoginGate::Place place(rt->login_gate.get());
      auto op = rt->api->handle(req);
      co_return co_await std::move(op);
    }
    auto op = rt->api->handle(req);
    co_return co_await std::move(op);
  }

 private:
  // The storage engine's figures, read together once per scrape. While the
  // log is being reopened there are none and the series are left out.
  void add_storage_metrics() {
    metrics_.add_collector([this](std::vector<Metrics::Sample>& out) {
      const auto s = store_->storage_stats();
      if (!s) return;
      using Type = Metrics::Sample::Type;
      const auto add = [&](const char* name, const char* help, double v, Type type = Type::gauge) {
        out.push_back(Metrics::Sample{name, help, type, v});
      };
      add("latchkey_rocksdb_memtable_bytes",
          "Bytes in the log's memtables (active and not yet flushed), all column families.",
          static_cast<double>(s->memtable_bytes));
      add("latchkey_rocksdb_block_cache_bytes", "Bytes held in the log's block cache.",
          static_cast<double>(s->block_cache_bytes));
      add("latchkey_rocksdb_pending_compaction_bytes",
          "Estimated bytes compaction still has to rewrite, all column families.",
          static_cast<double>(s->pending_compaction_bytes));
      add("latchkey_rocksdb_live_sst_bytes",
          "Bytes of the log's table files in use, all column families.",
          static_cast<double>(s->live_sst_bytes));
      add("latchkey_rocksdb_write_stopped",
          "1 while RocksDB stops writes until flushes or compactions catch up.",
          s->write_stopped ? 1.0 : 0.0);
      add("latchkey_rocksdb_delayed_write_rate_bytes_per_second",
          "Rate RocksDB slows writes down to while they are delayed; 0 when they are not.",
          static_cast<double>(s->delayed_write_rate));
      add("latchkey_rocksdb_running_flushes", "Memtable flushes running.",
          static_cast<double>(s->running_flushes));
      add("latchkey_rocksdb_running_compactions", "Compactions running.",
          static_cast<double>(s->running_compactions));
      add("latchkey_rocksdb_write_stall_seconds_total",
          "Time writes spent delayed or stopped by RocksDB since the log was opened.",
          static_cast<double>(s->write_stall_micros) / 1e6, Type::counter);
    });
  }

  std::function<bool(const std::string&, Response&)> console_handler() {
    return [](const std::string& path, Response& out) { return serve_console(path, out); };
  }

  // First, so that SIGINT and SIGTERM are blocked before any member or init()
  // starts a thread (the logs' flushers, RocksDB, the writer).
  std::unique_ptr<StopSignals> signals_;
  Config config_;
  SystemClock clock_;
  JsonLog access_log_;
  JsonLog server_log_;
  Metrics metrics_;
  std::atomic<bool> writable_{true};
  std::size_t threads_ = 1;
  std::unique_ptr<events::EventStore> local_store_;  // the RocksDB store
  std::unique_ptr<ClusterNode> cluster_;             // in a cluster (docs/cluster.md)
  // What the server reads and appends to: the local store, or the cluster's over it.
  events::EventStore* store_ = nullptr;
  std::unique_ptr<service::Sequencer> writer_;
  projections::ProjectRegistry registry_;
  ProjectRates login_rates_;
  LoginShares login_shares_{kMicrosPerSecond};
  std::mutex create_mu_;  // one project created at a time
  std::shared_ptr<ProjectRuntime> platform_;
  std::shared_ptr<ProjectRuntime> default_;
  std::mutex data_keys_mu_;  // see data_keys_of
  mutable std::mutex runtimes_mu_;
  std::map<std::string, std::shared_ptr<ProjectRuntime>, std::less<>> runtimes_;  // GUARDED_BY
  std::unique_ptr<Mailer> mailer_;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<net::ssl::context> tls_;
  std::unique_ptr<PlatformApi> platform_api_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Checkpointer> checkpoints_;
  std::unique_ptr<Archiver> archiver_;
  std::unique_ptr<Reminders> reminders_;
};

}  // namespace

ProjectRuntime::~ProjectRuntime() {
  api.reset();
  if (commands) commands->stop();
  if (snapshotter) snapshotter->stop();
}

Result<std::unique_ptr<App>> App::open(const Config& config) {
  auto app = std::make_unique<ServerApp>(config);
  if (auto st = app->init(); !st) return st.error();
  return std::unique_ptr<App>(std::move(app));
}

}  // namespace latchkey::http
