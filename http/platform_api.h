#pragma once
// The platform API (docs/projects.md): POST /platform/login, /platform/audit
// and /platform/projects, served on the base domain for the platform's
// operators. Login and audit are the platform IAM's own /iam/login and
// /iam/audit; the rest manages the ProjectDirectory.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <mutex>
#include <string>

#include "http/projects.h"
#include "http/router.h"

namespace latchkey::http {

class PlatformApi {
 public:
  explicit PlatformApi(ProjectDirectory& projects);
  PlatformApi(const PlatformApi&) = delete;
  PlatformApi& operator=(const PlatformApi&) = delete;
  ~PlatformApi();

  // Serves a request whose path starts with /platform. Never throws.
  [[nodiscard]] boost::asio::awaitable<Response> handle(const Request& req) const;
  [[nodiscard]] const Router& router() const { return router_; }

 private:
  using Reply = boost::asio::awaitable<Response>;
  Reply forward(const Request& req, std::string path) const;
  Reply create(const Call& c) const;
  Reply list(const Call& c) const;
  Reply get(const Call& c) const;
  Reply update(const Call& c) const;
  Reply remove(const Call& c) const;
  Reply export_log(const Call& c) const;
  Reply project_audit(const Call& c) const;
  // GET /platform/usage?period=day|month: the figures of every project summed
  // (replay/usage.h), computed off the I/O threads and kept for 30 seconds.
  Reply usage(const Call& c) const;
  [[nodiscard]] events::RequestContext context(const Call& c) const;

  ProjectDirectory& projects_;
  Router router_;
  // Where the blocking work of the directory runs, off the I/O threads.
  mutable boost::asio::thread_pool blocking_{1};
  struct CachedUsage {
    Micros at = 0;
    std::string body;
  };
  mutable std::mutex usage_mu_;
  mutable std::map<std::string, CachedUsage> usage_cache_;  // GUARDED_BY(usage_mu_)
};

}  // namespace latchkey::http
