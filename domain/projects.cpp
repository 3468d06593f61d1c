#include "domain/projects.h"

#include <algorithm>
#include <array>

namespace latchkey::domain {

using projections::ProjectStatus;

std::span<const std::string_view> reserved_project_ids() {
  static constexpr std::array<std::string_view, 22> kReserved = {
      "admin", "api",   "app",    "assets",  "auth",    "console", "docs", "help",
      "iam",   "login", "mail",   "metrics", "ns",      "ns1",     "ns2",  "platform",
      "smtp",  "sso",   "static", "status",  "support", "www"};
  return kReserved;
}

Status check_project_id(std::string_view id) {
  const auto bad = [](std::string what) { return make_error(Errc::invalid_request, what); };
  if (id.empty() || id.size() > 63) return bad("a project id has 1 to 63 characters");
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return bad("a project id holds only a-z, 0-9 and '-'");
  }
  if (id.front() == '-' || id.back() == '-')
    return bad("a project id does not start or end with '-'");
  const auto reserved = reserved_project_ids();
  if (std::find(reserved.begin(), reserved.end(), id) != reserved.end())
    return bad("the project id '" + std::string(id) + "' is reserved");
  return {};
}

Status check_project_name(std::string_view name) {
  if (name.empty() || name.size() > 200)
    return make_error(Errc::invalid_request, "a project name has 1 to 200 characters");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return make_error(Errc::invalid_request, "a project name holds no control characters");
  }
  return {};
}

namespace {

events::Draft draft(events::EventType type, events::ProjectChanged data) {
  return events::Draft{type, std::move(data), {}};
}

Result<projections::ProjectInfo> live(const projections::ProjectRegistry& registry,
                                      const std::string& id) {
  auto p = registry.find(id);
  if (!p || p->status == ProjectStatus::deleted)
    return make_error(Errc::not_found, "no project " + id);
  return *p;
}

}  // namespace

Result<events::Draft> create_project(const projections::ProjectRegistry& registry,
                                     const std::string& id, const std::string& name) {
  if (auto st = check_project_id(id); !st) return st.error();
  if (auto st = check_project_name(name); !st) return st.error();
  if (auto p = registry.find(id)) {
    return make_error(Errc::exists, p->status == ProjectStatus::deleted
                                        ? "the project id " + id + " was used before"
                                        : "a project " + id + " exists");
  }
  events::ProjectChanged d;
  d.id = id;
  d.name = name;
  return draft(events::EventType::project_created, std::move(d));
}

Result<std::vector<events::Draft>> update_project(const projections::ProjectRegistry& registry,
                                                  const std::string& id,
                                                  const ProjectPatch& patch) {
  auto p = live(registry, id);
  if (!p) return p.error();
  if (patch.name) {
    if (auto st = check_project_name(*patch.name); !st) return st.error();
  }
  if (patch.status && *patch.status == ProjectStatus::deleted)
    return make_error(Errc::invalid_request, "status is active or suspended");
  if (patch.login_rate_per_second && *patch.login_rate_per_second > kMaxProjectLoginRate)
    return make_error(Errc::invalid_request, "login_rate_per_second is 0 (unlimited) to " +
                                                 std::to_string(kMaxProjectLoginRate));
  const std::uint64_t archive = patch.archive_after_seconds.value_or(p->archive_after_seconds);
  const std::uint64_t retention = patch.retention_seconds.value_or(p->retention_seconds);
  if (retention != 0 && retention < archive) {
    return make_error(Errc::invalid_request,
                      "retention_days must be 0 (the server's setting) or at least "
                      "archive_after_days: only archived events are deleted");
  }
  std::vector<events::Draft> out;
  const bool renamed = patch.name && *patch.name != p->name;
  const bool rate =
      patch.login_rate_per_second && *patch.login_rate_per_second != p->login_rate_per_second;
  const bool life = archive != p->archive_after_seconds || retention != p->retention_seconds;
  if (renamed || rate || life) {
    events::ProjectChanged d;
    d.id = id;
    d.name = patch.name.value_or(p->name);
    d.old_name = p->name;
    d.login_rate_per_second = patch.login_rate_per_second.value_or(p->login_rate_per_second);
    d.old_login_rate_per_second = p->login_rate_per_second;
    d.archive_after_seconds = archive;
    d.retention_seconds = retention;
    out.push_back(draft(events::EventType::project_updated, std::move(d)));
  }
  if (patch.status && *patch.status != p->status) {
    events::ProjectChanged d;
    d.id = id;
    d.name = patch.name.value_or(p->name);
    d.login_rate_per_second = patch.login_rate_per_second.value_or(p->login_rate_per_second);
    d.archive_after_seconds = archive;
    d.retention_seconds = retention;
    out.push_back(draft(*patch.status == ProjectStatus::suspended
                            ? events::EventType::project_suspended
                            : events::EventType::project_resumed,
                        std::move(d)));
  }
  return out;
}

Result<events::Draft> delete_project(const projections::ProjectRegistry& registry,
                                     const std::string& id, events::Seq final_seq,
                                     const Digest& final_hash) {
  auto p = live(registry, id);
  if (!p) return p.error();
  if (id == "default")
    return make_error(Errc::invalid_request,
                      "the default project cannot be deleted (set server.default_project "
                      "empty to stop serving it on other hosts, or suspend it)");
  events::ProjectChanged d;
  d.id = id;
  d.name = p->name;
  d.final_seq = final_seq;
  d.final_hash = final_hash;
  return draft(events::EventType::project_deleted, std::move(d));
}

}  // namespace latchkey::domain
