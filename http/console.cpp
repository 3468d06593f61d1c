#include "http/console.h"

#include <cstring>

namespace latchkey::http {
namespace console_files {
struct File {
  const char* path;
  std::string_view data;
};
extern const File kFiles[];
}  // namespace console_files

namespace {

const char* mime(const std::string& path) {
  auto ends = [&](const char* s) {
    const std::size_t n = std::strlen(s);
    return path.size() >= n && path.compare(path.size() - n, n, s) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

bool serve_console(const std::string& path, Response& out) {
  std::string rel = path.substr(std::strlen("/console/"));
  if (rel.empty()) rel = "index.html";
  if (rel == "platform") rel = "platform.html";  // the platform page (base domain only)
  for (const auto* f = console_files::kFiles; f->path != nullptr; ++f) {
    if (rel != f->path) continue;
    out.status = HttpStatus::ok;
    out.content_type = mime(rel);
    out.body.assign(f->data);
    // Strict: only our own scripts and styles, no inline script, no framing,
    // API calls to this origin only.
    out.headers.emplace_back(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'");
    out.headers.emplace_back("X-Frame-Options", "DENY");
    out.headers.emplace_back("Referrer-Policy", "no-referrer");
    out.headers.emplace_back("Cache-Control", "no-cache");
    return true;
  }
  return false;
}

}  // namespace latchkey::http
