#pragma once
// What the server keeps per project (an IAM of its own, see
// docs/projects.md), and the directory of projects the platform API manages.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "domain/projects.h"
#include "events/event_log.h"
#include "http/api.h"
#include "http/config.h"
#include "http/login_gate.h"
#include "keys/data_keys.h"
#include "keys/secret_store.h"
#include "keys/tokens.h"
#include "projections/live_views.h"
#include "projections/projects.h"
#include "replay/rebuild.h"
#include "service/bootstrap.h"
#include "service/command_service.h"

namespace latchkey::http {

// One IAM being served: the default project, another project, or the
// platform (whose principals are the platform's operators).
struct ProjectRuntime {
  std::string id;
  events::EventLog* log = nullptr;
  std::unique_ptr<keys::SecretStore> secrets;
  std::shared_ptr<keys::DataKeys> data_keys;  // seal the personal data of its log
  std::unique_ptr<projections::LiveViews> views;
  std::unique_ptr<replay::Snapshotter> snapshotter;
  std::unique_ptr<service::CommandService> commands;
  std::unique_ptr<keys::TokenService> tokens;
  // Its token issuer and public URL (empty: the server's, public_url_of).
  // Not a copy of the server's Config: at 10,000 loaded projects, that was
  // about a kilobyte each.
  std::string issuer;
  std::string public_url;
  std::unique_ptr<Api> api;
  // Its share of the server's logins (none: server.project_login_concurrency = 0).
  std::unique_ptr<LoginGate> login_gate;

  ProjectRuntime() = default;
  ProjectRuntime(const ProjectRuntime&) = delete;
  ProjectRuntime& operator=(const ProjectRuntime&) = delete;
  // Finishes what was submitted for it, then releases it.
  ~ProjectRuntime();
};

// The projects of the server, for the platform API. Blocking methods wait
// for the writer: call them off the I/O threads.
class ProjectDirectory {
 public:
  virtual ~ProjectDirectory() = default;
  [[nodiscard]] virtual const projections::ProjectRegistry& registry() const = 0;
  // The runtime of a project that is active or suspended (opened on first
  // use); nullptr for an unknown or deleted one.
  [[nodiscard]] virtual std::shared_ptr<ProjectRuntime> runtime(std::string_view id) = 0;
  // The projects whose runtime is open now (the platform's excluded).
  [[nodiscard]] virtual std::vector<std::shared_ptr<ProjectRuntime>> open_runtimes() const = 0;
  // The runtime of a project if it is open now (never opens it).
  [[nodiscard]] virtual std::shared_ptr<ProjectRuntime> open_runtime(std::string_view id) const = 0;
  [[nodiscard]] virtual ProjectRuntime& platform() = 0;
  // Whether this server appends now: false on a node of a cluster that is
  // not the writer (docs/cluster.md), where the jobs that append on their
  // own (checkpoints, archiving, reminders) leave it to the writer.
  [[nodiscard]] virtual bool writes() const { return true; }
  [[nodiscard]] virtual events::EventLog& log_of(std::string_view id) = 0;
  // Blocking; the writer's. Removes the data of deleted projects that a
  // stop interrupted removing (a cluster's writer cannot at its start).
  virtual void finish_deletions() {}

  // Blocking. project.created in the platform's log after the project's own
  // first events; the first admin's keys.
  [[nodiscard]] virtual Result<service::FirstAdmin> create(const std::string& id,
                                                           const std::string& name,
                                                           const events::RequestContext& ctx) = 0;
  // Blocking. The platform's events the patch appended (none: no change).
  [[nodiscard]] virtual Result<std::vector<events::Event>> update(
      const std::string& id, const domain::ProjectPatch& patch,
      const events::RequestContext& ctx) = 0;
  // Blocking. project.deleted, then the project's data is removed.
  [[nodiscard]] virtual Result<events::Event> remove(const std::string& id,
                                                     const events::RequestContext& ctx) = 0;
};

}  // namespace latchkey::http
