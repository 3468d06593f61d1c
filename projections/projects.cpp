#include "projections/projects.h"

#include <algorithm>
#include <cctype>
#include <mutex>

namespace latchkey::projections {

const char* status_name(ProjectStatus s) noexcept {
  switch (s) {
    case ProjectStatus::active: return "active";
    case ProjectStatus::suspended: return "suspended";
    case ProjectStatus::deleted: return "deleted";
  }
  return "active";
}

void ProjectRegistry::apply(const events::Event& e) {
  const auto* d = std::get_if<events::ProjectChanged>(&e.data);
  if (d == nullptr) return;
  std::unique_lock lock(mu_);
  using T = events::EventType;
  if (e.type == T::project_created) {
    ProjectInfo p;
    p.id = d->id;
    p.name = d->name;
    p.created_at = p.updated_at = e.time;
    p.login_rate_per_second = d->login_rate_per_second;
    p.archive_after_seconds = d->archive_after_seconds;
    p.retention_seconds = d->retention_seconds;
    projects_.insert_or_assign(d->id, std::move(p));
    return;
  }
  auto it = projects_.find(d->id);
  if (it == projects_.end()) return;
  ProjectInfo& p = it->second;
  p.updated_at = e.time;
  switch (e.type) {
    case T::project_updated:
      p.name = d->name;
      p.login_rate_per_second = d->login_rate_per_second;
      p.archive_after_seconds = d->archive_after_seconds;
      p.retention_seconds = d->retention_seconds;
      break;
    case T::project_suspended: p.status = ProjectStatus::suspended; break;
    case T::project_resumed: p.status = ProjectStatus::active; break;
    case T::project_deleted:
      p.status = ProjectStatus::deleted;
      p.deleted_at = e.time;
      p.final_seq = d->final_seq;
      break;
    default: break;
  }
}

std::optional<ProjectInfo> ProjectRegistry::find(std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = projects_.find(id);
  if (it == projects_.end()) return std::nullopt;
  return it->second;
}

namespace {

bool contains_folded(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

}  // namespace

ProjectRegistry::Page ProjectRegistry::list(std::string_view search, std::string_view cursor,
                                            std::size_t limit) const {
  Page page;
  std::shared_lock lock(mu_);
  auto it = cursor.empty() ? projects_.begin() : projects_.upper_bound(cursor);
  for (; it != projects_.end(); ++it) {
    const ProjectInfo& p = it->second;
    if (p.status == ProjectStatus::deleted) continue;
    if (!contains_folded(p.id, search) && !contains_folded(p.name, search)) continue;
    if (page.items.size() == limit) {
      page.next = page.items.back().id;
      break;
    }
    page.items.push_back(p);
  }
  return page;
}

std::vector<ProjectInfo> ProjectRegistry::all() const {
  std::shared_lock lock(mu_);
  std::vector<ProjectInfo> out;
  out.reserve(projects_.size());
  for (const auto& [_, p] : projects_) out.push_back(p);
  return out;
}

}  // namespace latchkey::projections
