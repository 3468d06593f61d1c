#pragma once
// The rules of the platform's projects: which ids and names are valid, and
// which changes the registry allows. Pure: no threads, files or clocks.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "events/event.h"
#include "projections/projects.h"

namespace latchkey::domain {

// Ids that name no project, because the platform or a DNS set-up uses them
// (docs/projects.md lists them).
[[nodiscard]] std::span<const std::string_view> reserved_project_ids();

// A DNS label: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-',
// and not reserved. invalid_request says which rule fails.
[[nodiscard]] Status check_project_id(std::string_view id);
// 1 to 200 characters, no control characters.
[[nodiscard]] Status check_project_name(std::string_view name);

// project.created. exists (409) if the id exists or existed.
[[nodiscard]] Result<events::Draft> create_project(const projections::ProjectRegistry& registry,
                                                   const std::string& id, const std::string& name);

// The largest login_rate_per_second a project may be given.
inline constexpr std::uint64_t kMaxProjectLoginRate = 1'000'000;

struct ProjectPatch {
  std::optional<std::string> name;
  std::optional<std::uint64_t> login_rate_per_second;
  std::optional<projections::ProjectStatus> status;  // active | suspended
  // Seconds (0: the server's setting); retention, if set, at least the archiving age.
  std::optional<std::uint64_t> archive_after_seconds;
  std::optional<std::uint64_t> retention_seconds;
};
// project.updated (name, login rate), project.suspended, project.resumed, as
// the patch changes them (none if nothing changes). not_found for an unknown or deleted project.
[[nodiscard]] Result<std::vector<events::Draft>> update_project(
    const projections::ProjectRegistry& registry, const std::string& id, const ProjectPatch& patch);

// project.deleted with the project's final head. not_found for an unknown
// or deleted project; invalid_request for the default project.
[[nodiscard]] Result<events::Draft> delete_project(const projections::ProjectRegistry& registry,
                                                   const std::string& id, events::Seq final_seq,
                                                   const Digest& final_hash);

}  // namespace latchkey::domain
