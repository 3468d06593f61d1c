#pragma once
// The first events of an IAM (the default project, a new project, or the
// platform): system.initialized, the first signing key, and a first admin
// service account with one key, whose secret is returned once.

#include <string>

#include "base/clock.h"
#include "base/error.h"
#include "events/event.h"
#include "events/event_log.h"
#include "keys/secret_store.h"
#include "service/command_service.h"

namespace latchkey::service {

struct FirstAdmin {
  std::string principal_id;
  std::string apikey;
  std::string secretkey;
  Micros expires_at = 0;
};

struct BootstrapOptions {
  std::string admin_name = "admin";
  std::int64_t lifetime_days = 0;  // 0: default_key_lifetime_days
  std::string key_description = "created by latchkey init";
};

// Appends the first events through `commands` (whose log must be empty),
// with the newest signing key of `secrets`. Blocking: not on an I/O thread.
[[nodiscard]] Result<FirstAdmin> bootstrap_iam(CommandService& commands,
                                               const keys::SecretStore& secrets,
                                               const BootstrapOptions& options,
                                               const events::RequestContext& ctx);

// Where the secret material of the platform and of each project other than
// the default one lives (the default project's is the data directory's own).
[[nodiscard]] std::string platform_secrets_dir(const std::string& data_dir);
[[nodiscard]] std::string project_secrets_dir(const std::string& data_dir,
                                              std::string_view project);
// Where the secret material of a log is: the default project's, the
// platform's or another project's.
[[nodiscard]] std::string log_secrets_dir(const std::string& data_dir, std::string_view log);

// The platform: its secret material in platform_secrets_dir(), its first
// events in the store's platform log (bootstrap_iam: the first platform
// operator), then project.created of the default project. REQUIRES: the
// platform's log is empty. Blocking: not on an I/O thread.
[[nodiscard]] Result<FirstAdmin> bootstrap_platform(Sequencer& writer, events::EventStore& store,
                                                    const std::string& data_dir, SignAlg alg,
                                                    const BootstrapOptions& options,
                                                    const events::RequestContext& ctx);

}  // namespace latchkey::service
