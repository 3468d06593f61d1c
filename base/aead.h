#pragma once
// AES-256-GCM (OpenSSL) for small values: the personal data in events and the
// data keys that seal it (see keys/data_keys.h).

#include <optional>
#include <string>
#include <string_view>

namespace latchkey {

inline constexpr std::size_t kAeadKeyBytes = 32;
inline constexpr std::size_t kAeadNonceBytes = 12;
inline constexpr std::size_t kAeadTagBytes = 16;

// nonce || ciphertext || tag. `key` is 32 bytes and `nonce` 12; `aad` is
// authenticated, not encrypted.
std::string aead_seal(std::string_view key, std::string_view nonce, std::string_view aad,
                      std::string_view plain);
// The plaintext, or nullopt if `sealed` was not made by aead_seal with this
// key and aad (or is malformed).
std::optional<std::string> aead_open(std::string_view key, std::string_view aad,
                                     std::string_view sealed);

// A nonce derived from the key, the aad and the plaintext (SHA-256 keyed by
// prefix, truncated): sealing the same value twice gives the same bytes, so a record
// encodes deterministically, and two different values never share a nonce
// short of a 96-bit collision. It shows only that two sealed values are equal.
std::string aead_synthetic_nonce(std::string_view key, std::string_view aad,
                                 std::string_view plain);

}  // namespace latchkey
