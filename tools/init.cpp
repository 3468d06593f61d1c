#include "tools/init.h"

#include <filesystem>
#include <future>

#include "service/command_service.h"
#include "domain/credentials.h"
#include "keys/ids.h"
#include "keys/secret_store.h"
#include "events/event_log.h"
#include "projections/live_views.h"

namespace latchkey::tools {

namespace fs = std::filesystem;

Result<InitResult> init_data_dir(const InitOptions& o) {
  std::error_code ec;
  if (fs::exists(keys::SecretStore::log_dir(o.data_dir) + "/CURRENT", ec) ||
      fs::exists(o.data_dir + "/pepper", ec)) {
    return make_error(Errc::exists,
                      o.data_dir + " already holds a latchkey log; nothing was changed");
  }
  const bool existed = fs::exists(o.data_dir, ec);
  auto secrets = keys::SecretStore::create(o.data_dir, o.alg);
  if (!secrets) return secrets.error();

  auto result = [&]() -> Result<InitResult> {
    auto log = events::open_rocksdb_log(keys::SecretStore::log_dir(o.data_dir),
                                        events::OpenMode::create_new);
    if (!log) return log.error();
    SystemClock clock;
    projections::LiveViews views{projections::Views{}};
    service::CommandService commands(**log, views, clock);
    const events::RequestContext ctx{"system", keys::new_request_id(), ""};

    auto first = [&]() -> Status {
      std::promise<Result<std::vector<events::Event>>> p;
      auto f = p.get_future();
      commands.record({events::Draft{events::EventType::system_initialized,
                                     events::SystemInitialized{keys::new_request_id(), 1},
                                     {}}},
                      ctx,
                      [&p](Result<std::vector<events::Event>> r) { p.set_value(std::move(r)); });
      auto r = f.get();
      if (!r) return r.error();
      return {};
    }();
    if (!first) return first.error();

    const auto key = (*secrets)->newest();
    auto rotated = commands.execute_and_wait(
        domain::RotateSigningKey{key->kid(), alg_name(key->alg()), key->public_key().jwk()}, ctx);
    if (!rotated) return rotated.error();

    domain::CreatePrincipal admin;
    admin.kind = projections::PrincipalKind::service_account;
    admin.id = keys::new_service_account_id();
    admin.name = o.admin_name;
    admin.roles = {"admin"};
    if (auto r = commands.execute_and_wait(admin, ctx); !r) return r.error();

    InitResult out;
    out.principal_id = admin.id;
    out.apikey = keys::new_apikey();
    out.secretkey = keys::new_secretkey();
    domain::CreateKey k;
    k.kind = projections::PrincipalKind::service_account;
    k.principal_id = admin.id;
    k.apikey = out.apikey;
    k.secret_hash = (*secrets)->pepper().hash(out.secretkey);
    if (o.lifetime_days > 0) k.lifetime_days = o.lifetime_days;
    k.description = "created by latchkey init";
    auto created = commands.execute_and_wait(k, ctx);
    if (!created) return created.error();
    out.expires_at = std::get<events::KeyCreated>(created->front().data).expires_at;
    commands.stop();
    return out;
  }();

  if (!result) {
    // Leave the directory as it was found.
    fs::remove_all(keys::SecretStore::log_dir(o.data_dir), ec);
    fs::remove_all(o.data_dir + "/signing", ec);
    fs::remove(o.data_dir + "/pepper", ec);
    if (!existed) fs::remove(o.data_dir, ec);
  }
  return result;
}

}  // namespace latchkey::tools
