#pragma once
// The platform's registry of projects, folded from the project.* events of
// the platform's log (events::kPlatformLog). Thread-safe: applied on the
// writer thread, read from any.

#include <cstddef>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"

namespace latchkey::projections {

enum class ProjectStatus { active, suspended, deleted };
const char* status_name(ProjectStatus s) noexcept;

struct ProjectInfo {
  std::string id;
  std::string name;
  ProjectStatus status = ProjectStatus::active;
  Micros created_at = 0;
  Micros updated_at = 0;
  Micros deleted_at = 0;                    // 0 unless deleted
  events::Seq final_seq = 0;                // deleted: the project's event count then
  std::uint64_t login_rate_per_second = 0;  // 0: unlimited
  // Its own data.archive_after_days and data.retention_days, in seconds
  // (0: the server's).
  std::uint64_t archive_after_seconds = 0;
  std::uint64_t retention_seconds = 0;
};

class ProjectRegistry {
 public:
  // Folds one event of the platform's log (other types are ignored).
  void apply(const events::Event& e);

  [[nodiscard]] std::optional<ProjectInfo> find(std::string_view id) const;

  struct Page {
    std::vector<ProjectInfo> items;
    std::string next;  // the cursor of the next page; empty at the end
  };
  // Projects not deleted whose id or name contains `search` (case-insensitive),
  // in id order, after the id `cursor`, at most `limit`.
  [[nodiscard]] Page list(std::string_view search, std::string_view cursor,
                          std::size_t limit) const;
  // Ids of every project ever created, deleted included.
  [[nodiscard]] std::vector<ProjectInfo> all() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, ProjectInfo, std::less<>> projects_;  // GUARDED_BY(mu_)
};

}  // namespace latchkey::projections
