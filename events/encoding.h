#pragma once
// Byte encodings and digests used across latchkey, all on OpenSSL.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace latchkey {

using Digest = std::array<std::uint8_t, 32>;

std::string to_hex(std::span<const std::uint8_t> bytes);
inline std::string to_hex(std::string_view bytes) {
  return to_hex({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
}
// nullopt unless `hex` is an even number of [0-9a-fA-F].
std::optional<std::string> from_hex(std::string_view hex);

// RFC 4648 section 5, without padding (as JOSE uses it).
std::string base64url_encode(std::string_view bytes);
// Accepts input with or without padding; nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);

Digest sha256(std::string_view bytes);
Digest hmac_sha256(std::string_view key, std::string_view message);

// Constant-time equality of two equally sized buffers.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// `n` bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the CSPRNG fails.
std::string random_bytes(std::size_t n);

}  // namespace latchkey
