#include "http/app.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "events/event_log.h"
#include "http/api.h"
#include "http/checkpointer.h"
#include "http/console.h"
#include "http/json_log.h"
#include "http/metrics.h"
#include "http/process_metrics.h"
#include "http/reminders.h"
#include "http/server.h"
#include "http/smtp_mailer.h"
#include "http/stop_signals.h"
#include "keys/secret_store.h"
#include "keys/tokens.h"
#include "projections/live_views.h"
#include "replay/rebuild.h"
#include "service/command_service.h"

namespace latchkey::http {

namespace net = boost::asio;

namespace {

class ServerApp final : public App {
 public:
  explicit ServerApp(const Config& c)
      : signals_(std::make_unique<StopSignals>()),
        config_(c),
        access_log_(c.access_log),
        server_log_("stderr") {}

  Status init() {
    auto secrets = keys::SecretStore::open(config_.data_dir, /*check_permissions=*/true);
    if (!secrets) return secrets.error();
    secrets_ = std::move(*secrets);
    events::LogOptions log_options;
    log_options.write_buffer_bytes = static_cast<std::size_t>(config_.write_buffer_bytes);
    auto log = events::open_rocksdb_log(keys::SecretStore::log_dir(config_.data_dir),
                                        events::OpenMode::read_write, log_options);
    if (!log) return log.error();
    log_ = std::move(*log);
    replay::RebuildStats stats;
    const auto started = std::chrono::steady_clock::now();
    auto views = replay::rebuild(*log_, log_->head().seq, true, &stats);
    if (!views) return views.error();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    server_log_.info("views loaded", {{"seq", views->seq},
                                      {"snapshot_seq", stats.snapshot_seq},
                                      {"events_applied", stats.applied},
                                      {"seconds", seconds}});
    if (const auto* active = views->signing.active();
        !active || !secrets_->signing_key(active->kid)) {
      return make_error(Errc::corruption, "the active signing key of the log is not in " +
                                              config_.data_dir + "/signing");
    }
    views_ = std::make_unique<projections::LiveViews>(std::move(*views));
    snapshotter_ = std::make_unique<replay::Snapshotter>(
        *log_, static_cast<std::uint64_t>(config_.snapshot_every_events), [this](const Error& e) {
          server_log_.error("snapshot failed", {{"detail", e.detail}});
        });
    // Committed events reach the views (inside the service) and then the snapshotter.
    commands_ = std::make_unique<service::CommandService>(
        *log_, *views_, clock_, [this](std::span<const events::Event> committed) {
          if (!committed.empty()) snapshotter_->notify(committed.back().seq);
        });
    commands_->set_batch_observer([this](std::size_t n, Micros latency, bool ok) {
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
    tokens_ = std::make_unique<keys::TokenService>(*secrets_, *views_, config_.issuer);
    metrics_.add_gauge("latchkey_log_head_seq", "Sequence number of the newest event.",
                       [this] { return static_cast<double>(log_->head().seq); });
    metrics_.add_gauge("latchkey_projection_lag_events",
                       "Events committed but not yet applied to the views.",
                       [this] { return static_cast<double>(log_->head().seq - views_->seq()); });
    metrics_.add_gauge("latchkey_http_connections", "Open connections.", [this] {
      return server_ ? static_cast<double>(server_->connections()) : 0.0;
    });
    add_storage_metrics();
    add_process_metrics(metrics_);
    if (!config_.smtp_url.empty()) {
      auto mailer = SmtpMailer::create(config_);
      if (!mailer) return mailer.error();
      mailer_ = std::move(*mailer);
    }
    const std::size_t threads = config_.threads > 0
                                    ? static_cast<std::size_t>(config_.threads)
                                    : std::max(1u, std::thread::hardware_concurrency());
    threads_ = threads;
    ioc_ = std::make_unique<net::io_context>(static_cast<int>(threads));
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
    ApiDeps deps{*commands_,
                 *views_,
                 *log_,
                 *secrets_,
                 *tokens_,
                 clock_,
                 metrics_,
                 config_,
                 mailer_.get(),
                 &server_log_,
                 [this] { return writable_.load(); },
                 console_handler()};
    api_ = std::make_unique<Api>(std::move(deps));
    server_ = std::make_unique<Server>(
        *ioc_, config_, [this](const Request& req) { return api_->handle(req); }, access_log_,
        server_log_, metrics_, tls_.get());
    return {};
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
    checkpoints_ =
        std::make_unique<Checkpointer>(*ioc_, *commands_, *secrets_, *views_, config_, server_log_);
    if (mailer_)
      reminders_ = std::make_unique<Reminders>(*ioc_, *commands_, *views_, *mailer_, clock_,
                                               config_, metrics_, server_log_);
    server_log_.info("listening", {{"address", *bound},
                                   {"tls", tls_ != nullptr},
                                   {"threads", threads_},
                                   {"seq", views_->seq()}});
    server_log_.flush();
    if (on_listening) on_listening(*bound);
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads_; ++i) pool.emplace_back([this] { ioc_->run(); });
    ioc_->run();
    for (auto& t : pool) t.join();
    // Every request has had its response. Mail still under way (a reminder)
    // finishes and its outcome is handed to the writer, so that a reminder
    // sent is recorded as sent and never goes out again after the restart.
    mailer_.reset();
    // Finish the writer's queue and flush.
    commands_->stop();
    snapshotter_->stop();
    log_.reset();
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
      if (reminders_) reminders_->stop();
    });
  }

  ~ServerApp() override {
    signals_.reset();  // its callback posts to ioc_
    // Order matters: the server and its handlers go before the services they use.
    // The mailer first: its callbacks use the reminders, the API and the writer.
    mailer_.reset();
    reminders_.reset();
    checkpoints_.reset();
    server_.reset();
    api_.reset();
    if (commands_) commands_->stop();
    if (snapshotter_) snapshotter_->stop();
  }

 private:
  // The storage engine's figures, read together once per scrape. While the
  // log is being reopened there are none and the series are left out.
  void add_storage_metrics() {
    metrics_.add_collector([this](std::vector<Metrics::Sample>& out) {
      const auto s = log_->storage_stats();
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
  std::unique_ptr<keys::SecretStore> secrets_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<projections::LiveViews> views_;
  std::unique_ptr<service::CommandService> commands_;
  std::unique_ptr<replay::Snapshotter> snapshotter_;
  std::unique_ptr<keys::TokenService> tokens_;
  std::unique_ptr<Mailer> mailer_;
  std::unique_ptr<net::io_context> ioc_;
  std::unique_ptr<net::ssl::context> tls_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Checkpointer> checkpoints_;
  std::unique_ptr<Reminders> reminders_;
};

}  // namespace

Result<std::unique_ptr<App>> App::open(const Config& config) {
  auto app = std::make_unique<ServerApp>(config);
  if (auto st = app->init(); !st) return st.error();
  return std::unique_ptr<App>(std::move(app));
}

}  // namespace latchkey::http
