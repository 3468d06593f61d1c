#pragma once
// The admin console's static files, embedded in the binary at build time.

#include <string>

#include "http/types.h"

namespace latchkey::http {

// Fills `out` with the file for a /console/... path; false if there is none.
bool serve_console(const std::string& path, Response& out);

}  // namespace latchkey::http
