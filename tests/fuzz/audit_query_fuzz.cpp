// Fuzz target: the query of GET /iam/audit, as the handler reads it
// (http parse_query, then replay::parse_audit_filter).
// Properties: nothing throws or crashes; refusals are invalid_request; an
// accepted filter describes itself and is consistent (order and cursors).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/body.h"
#include "replay/queries.h"

using namespace latchkey;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view query(reinterpret_cast<const char*>(data), size);
  auto params = http::parse_query(query);
  if (!params) {
    if (params.error().code != Errc::invalid_request) std::abort();
    return 0;
  }
  auto filter = replay::parse_audit_filter(*params);
  if (!filter) {
    if (filter.error().code != Errc::invalid_request) std::abort();
    return 0;
  }
  if (filter->limit < 1 || filter->limit > 1000) std::abort();
  if (filter->after && filter->descending) std::abort();
  if (filter->before && !filter->descending) std::abort();
  if (filter->from && filter->to && *filter->from > *filter->to) std::abort();
  (void)filter->describe();
  return 0;
}
