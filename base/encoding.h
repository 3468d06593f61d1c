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
// The same into `out`, without allocating: false unless `hex` is exactly
// 2 * out.size() of [0-9a-fA-F] (then `out` is left partly written).
bool from_hex(std::string_view hex, std::span<std::uint8_t> out);

// RFC 4648 section 5, without padding (as JOSE uses it).
std::string base64url_encode(std::string_view bytes);

// Appends `s` as a JSON string, quotes included: ", \ and control characters
// escaped, every other byte as is (s must be UTF-8). For the few hot paths
// that write small JSON without building a document (a login's token and
// response).
void append_json_string(std::string& out, std::string_view s);
// The unpadded base64url of JOSE, in its one canonical spelling: nullopt on
// padding, any other character, or stray bits in the last digit.
std::optional<std::string> base64url_decode(std::string_view text);

Digest sha256(std::string_view bytes);
Digest hmac_sha256(std::string_view key, std::string_view message);

// Constant-time equality of two equally sized buffers.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// `n` bytes from OpenSSL's CSPRNG. Throws std::runtime_error if the CSPRNG fails.
std::string random_bytes(std::size_t n);
// `n` (at most 64) bytes of the same CSPRNG, served from a per-thread buffer
// that is refilled 4 KiB at a time: for identifiers made on every request
// (token ids, request ids), where one RAND_bytes call each would cost more than
// the bytes. Not for secrets, whose bytes should not wait in a buffer. A forked
// child starts with empty buffers, so it never repeats its parent's bytes.
std::string random_id_bytes(std::size_t n);

}  // namespace latchkey
