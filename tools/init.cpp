#include "tools/init.h"

#include <filesystem>
#include <future>

#include "domain/credentials.h"
#include "events/event_log.h"
#include "keys/data_keys.h"
#include "keys/ids.h"
#include "keys/secret_store.h"
#include "projections/live_views.h"
#include "service/bootstrap.h"
#include "service/command_service.h"

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
    auto store = events::open_rocksdb_store(keys::SecretStore::log_dir(o.data_dir),
                                            events::OpenMode::create_new);
    if (!store) return store.error();
    SystemClock clock;
    service::Sequencer writer(**store, clock, {});
    const events::RequestContext ctx{"system", keys::new_request_id(), ""};
    service::BootstrapOptions options;
    options.admin_name = o.admin_name;
    options.lifetime_days = o.lifetime_days;

    auto data_keys = keys::DataKeys::open(o.data_dir, (*secrets)->pepper(), false);
    if (!data_keys) return data_keys.error();
    (*store)->log(events::kDefaultProject).set_personal_keys(*data_keys);
    projections::LiveViews views{projections::Views{}};
    service::CommandService commands(writer, (*store)->log(events::kDefaultProject), views);
    auto admin = service::bootstrap_iam(commands, **secrets, options, ctx);
    commands.stop();
    if (!admin) return admin.error();

    options.admin_name = "platform operator";
    auto operator_ = service::bootstrap_platform(writer, **store, o.data_dir, o.alg, options, ctx);
    if (!operator_) return operator_.error();
    writer.stop();

    InitResult out;
    out.principal_id = admin->principal_id;
    out.apikey = admin->apikey;
    out.secretkey = admin->secretkey;
    out.expires_at = admin->expires_at;
    out.platform_principal_id = operator_->principal_id;
    out.platform_apikey = operator_->apikey;
    out.platform_secretkey = operator_->secretkey;
    out.platform_expires_at = operator_->expires_at;
    return out;
  }();

  if (!result) {
    // Leave the directory as it was found.
    fs::remove_all(keys::SecretStore::log_dir(o.data_dir), ec);
    fs::remove_all(o.data_dir + "/signing", ec);
    fs::remove(o.data_dir + "/pepper", ec);
    fs::remove_all(service::platform_secrets_dir(o.data_dir), ec);
    if (!existed) fs::remove(o.data_dir, ec);
  }
  return result;
}

}  // namespace latchkey::tools
