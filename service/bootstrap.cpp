#include "service/bootstrap.h"

#include <future>

#include "projections/live_views.h"

#include "domain/commands.h"
#include "keys/data_keys.h"
#include "keys/ids.h"

namespace latchkey::service {

Result<FirstAdmin> bootstrap_iam(CommandService& commands, const keys::SecretStore& secrets,
                                 const BootstrapOptions& o, const events::RequestContext& ctx) {
  {
    std::promise<Result<std::vector<events::Event>>> p;
    auto f = p.get_future();
    commands.record({events::Draft{events::EventType::system_initialized,
                                   events::SystemInitialized{keys::new_request_id(), 1},
                                   {}}},
                    ctx, [&p](Result<std::vector<events::Event>> r) { p.set_value(std::move(r)); });
    auto r = f.get();
    if (!r) return r.error();
  }

  const auto key = secrets.newest();
  auto rotated = commands.execute_and_wait(
      domain::RotateSigningKey{key->kid(), alg_name(key->alg()), key->public_key().jwk()}, ctx);
  if (!rotated) return rotated.error();

  domain::CreatePrincipal admin;
  admin.kind = projections::PrincipalKind::service_account;
  admin.id = keys::new_service_account_id();
  admin.name = o.admin_name;
  admin.roles = {"admin"};
  if (auto r = commands.execute_and_wait(admin, ctx); !r) return r.error();

  FirstAdmin out;
  out.principal_id = admin.id;
  out.apikey = keys::new_apikey();
  out.secretkey = keys::new_secretkey();
  domain::CreateKey k;
  k.kind = projections::PrincipalKind::service_account;
  k.principal_id = admin.id;
  k.apikey = out.apikey;
  k.secret_hash = secrets.pepper().hash(out.secretkey);
  if (o.lifetime_days > 0) k.lifetime_days = o.lifetime_days;
  k.description = o.key_description;
  auto created = commands.execute_and_wait(k, ctx);
  if (!created) return created.error();
  out.expires_at = std::get<events::KeyCreated>(created->front().data).expires_at;
  return out;
}

std::string platform_secrets_dir(const std::string& data_dir) { return data_dir + "/platform"; }

std::string project_secrets_dir(const std::string& data_dir, std::string_view project) {
  return data_dir + "/projects/" + std::string(project);
}

std::string log_secrets_dir(const std::string& data_dir, std::string_view log) {
  if (log == events::kDefaultProject) return data_dir;
  if (log == events::kPlatformLog) return platform_secrets_dir(data_dir);
  return project_secrets_dir(data_dir, log);
}

Result<FirstAdmin> bootstrap_platform(Sequencer& writer, events::EventStore& store,
                                      const std::string& data_dir, SignAlg alg,
                                      const BootstrapOptions& options,
                                      const events::RequestContext& ctx) {
  events::EventLog& log = store.log(events::kPlatformLog);
  if (log.head().seq != 0) return make_error(Errc::exists, "the platform's log is not empty");
  const std::string dir = platform_secrets_dir(data_dir);
  std::unique_ptr<keys::SecretStore> secrets;
  if (auto created = keys::SecretStore::create(dir, alg)) {
    secrets = std::move(*created);
  } else if (created.error().code == Errc::exists) {
    // Left by an attempt that stopped before its events were written.
    auto opened = keys::SecretStore::open(dir, /*check_permissions=*/true);
    if (!opened) return opened.error();
    secrets = std::move(*opened);
  } else {
    return created.error();
  }
  auto data_keys = keys::DataKeys::open(dir, secrets->pepper(), false);
  if (!data_keys) return data_keys.error();
  log.set_personal_keys(*data_keys);
  projections::LiveViews views{projections::Views{}};
  CommandService commands(writer, log, views);
  auto admin = bootstrap_iam(commands, *secrets, options, ctx);
  if (admin) {
    events::ProjectChanged d;
    d.id = std::string(events::kDefaultProject);
    d.name = "Default project";
    std::promise<Result<std::vector<events::Event>>> p;
    auto f = p.get_future();
    commands.record({events::Draft{events::EventType::project_created, std::move(d), {}}}, ctx,
                    [&p](Result<std::vector<events::Event>> r) { p.set_value(std::move(r)); });
    if (auto r = f.get(); !r) admin = r.error();
  }
  commands.stop();
  return admin;
}

}  // namespace latchkey::service
