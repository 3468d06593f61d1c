#pragma once
// Personal data in events, and how it is sealed (see docs/data-lifecycle.md).
//
// Fields of kind FieldKind::personal (names, emails, key descriptions, mail
// recipients, blocked networks) and every event's source address are stored
// sealed under a data key of the principal they are about: AES-256-GCM, keyed
// per principal, the principal's id as associated data. Destroying that key
// (erasure) leaves the sealed bytes, and so the hash chain over them, intact
// and unreadable. The keys live apart from the log (keys/data_keys.h); the log
// only calls this interface.
//
// Stored form of such a field (record format 2): one tag byte, then
//   0 clear   the value as is (nobody's: no principal to seal it for)
//   1 sealed  nonce || ciphertext || tag, under the subject's key
//   2 erased  nothing (the subject was erased before this event was written)

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace latchkey::events {

// What a sealed field reads as once its principal's key is destroyed, and
// what it reads as when the log is read without the keys at all.
inline constexpr std::string_view kErased = "[erased]";
inline constexpr std::string_view kSealed = "[sealed]";

class PersonalKeys {
 public:
  virtual ~PersonalKeys() = default;
  // The sealed bytes of `plain`, a value about `subject` (a principal id),
  // creating the subject's key first (stored durably before this returns) if
  // it has none. nullopt: the subject was erased; the value is not stored.
  // Errors: unavailable when a new key cannot be stored durably.
  // REQUIRES: the log's appending thread.
  [[nodiscard]] virtual Result<std::optional<std::string>> seal(std::string_view subject,
                                                                std::string_view plain) = 0;
  // The value sealed by seal() for `subject`; nullopt if the subject's key is
  // gone (erased) or the bytes do not open under it. Any thread.
  [[nodiscard]] virtual std::optional<std::string> open(std::string_view subject,
                                                        std::string_view sealed) const = 0;

  // ---- a cluster's replication (docs/cluster.md) ----
  // From now on, keep the stored record of every key seal() creates, for
  // take_new_records(). Off by default: a single node keeps nothing.
  virtual void keep_new_records() {}
  // The records kept since the last call (each a key wrapped under the
  // project's key-encryption key, as stored), taken.
  [[nodiscard]] virtual std::vector<std::string> take_new_records() { return {}; }
  // Stores a record that another node's take_new_records() gave, durably;
  // a subject that already has a key, or was erased, is left as it is.
  // Errors: corruption when it does not open under this store's
  // key-encryption key; unavailable on I/O errors.
  [[nodiscard]] virtual Status import_record(std::string_view /*record*/) {
    return make_error(Errc::unavailable, "these keys cannot be replicated");
  }
  // Destroys `subject`'s key, durably (erasure). Errors: unavailable.
  [[nodiscard]] virtual Status erase(std::string_view /*subject*/) {
    return make_error(Errc::unavailable, "these keys cannot be erased");
  }
};

}  // namespace latchkey::events
