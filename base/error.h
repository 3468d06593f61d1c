#pragma once
// The error value shared by every latchkey library: a code the caller can
// switch on, and a message. The message is written for the person who reads
// it (a client or an operator) and never holds a secret.

#include <string>
#include <utility>

#include <boost/system/result.hpp>

namespace latchkey {

// Why something failed. Only failures: success is the value of a Result.
// http/error_map.cpp gives each code exactly one status and wire name;
// storage failures (unavailable, corruption) are never 4xx.
enum class Errc {
  invalid_request = 1,         // a malformed or out-of-range input
  invalid_credentials = 2,     // a login failed, whatever the reason
  unauthorized = 3,            // no valid bearer token
  forbidden = 4,               // authenticated, but the role does not allow it
  not_found = 5,               // no such resource
  conflict = 6,                // the change contradicts the state (e.g. a limit)
  payload_too_large = 7,       // a body over the limit
  unsupported_media_type = 8,  // a body of a type the route does not take
  too_many_requests = 9,       // throttled or locked; retry_after_seconds set
  unavailable = 10,            // the event log cannot be written: nothing changed
  internal = 11,               // a bug or an unexpected condition
  corruption = 12,             // the log on disk is not what was written
  exists = 13,                 // e.g. `init` on a directory that holds a log
};

// The code's name, for operators' logs and exceptions ("invalid_request", ...).
// Not the wire name: that is http/error_map.h's.
const char* errc_name(Errc e) noexcept;

struct Error {
  Errc code = Errc::internal;
  std::string message;
  // Extra detail for the operator's log only (e.g. a RocksDB status string);
  // never sent to a client.
  std::string detail = {};
  int retry_after_seconds = 0;  // with too_many_requests
};

inline Error make_error(Errc code, std::string message, std::string detail = {}) {
  return Error{code, std::move(message), std::move(detail), 0};
}

// A value or an Error. [[nodiscard]]: a result that nobody looks at is a
// failure that nobody handles, so ignoring one does not compile
// (-Werror=unused-result).
template <class T>
class [[nodiscard]] Result : public boost::system::result<T, Error> {
  using Base = boost::system::result<T, Error>;

 public:
  using Base::Base;
  Result(Base b) : Base(std::move(b)) {}  // NOLINT: implicit, like the base's own
};
using Status = Result<void>;

// Required by boost::system::result<T, Error>::value().
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

}  // namespace latchkey
