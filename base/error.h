#pragma once
// The error value shared by every latchkey library: a code from a category the
// caller can switch on, and a message. The message is written for the person
// who reads it (a client or an operator) and never holds a secret.

#include <string>
#include <system_error>
#include <utility>

#include <boost/system/result.hpp>

namespace latchkey {

// Error codes of the whole product. The HTTP layer maps each to exactly one
// status (http/error_map.cpp); storage failures are `unavailable`, never 4xx.
// Values are stable: they appear in tests and logs.
enum class Errc {
  ok = 0,
  invalid_request = 1,
  invalid_credentials = 2,
  unauthorized = 3,
  forbidden = 4,
  not_found = 5,
  conflict = 6,
  payload_too_large = 7,
  unsupported_media_type = 8,
  too_many_requests = 9,
  unavailable = 10,  // the event log cannot be written: nothing changed
  internal = 11,     // a bug or an unexpected condition
  corruption = 12,   // the log on disk is not what was written
  exists = 13,       // e.g. `init` on a directory that holds a log
};

const std::error_category& latchkey_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), latchkey_category()};
}
// The contract's wire name of a code ("invalid_request", ...).
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

template <class T>
using Result = boost::system::result<T, Error>;
using Status = boost::system::result<void, Error>;

// Required by boost::system::result<T, Error>::value().
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

}  // namespace latchkey

template <>
struct std::is_error_code_enum<latchkey::Errc> : std::true_type {};
