#include "base/encoding.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <stdexcept>

namespace latchkey {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  if (!from_hex(hex, {reinterpret_cast<std::uint8_t*>(out.data()), out.size()}))
    return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+')
      c = '-';
    else if (c == '/')
      c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // JOSE's base64url has no padding (RFC 7515 section 2): '=' is refused below.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string std64(text);
  for (char& c : std64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || c == '=')
      return std::nullopt;  // not the URL alphabet, or padding
  }
  const std::size_t pad = (4 - std64.size() % 4) % 4;
  std64.append(pad, '=');
  std::string out(std64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(std64.data()),
                                static_cast<int>(std64.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  // EVP_DecodeBlock ignores some whitespace, and stray bits in the last digit:
  // insist on a round trip, so that each value has one spelling.
  if (base64url_encode(out) != text) {
    return std::nullopt;
  }
  return out;
}

// OpenSSL 3's one-shot SHA256() and HMAC() look their algorithm up by name on
// every call (EVP_Q_digest, EVP_Q_mac), which costs more than hashing a short
// record. So the algorithms are fetched once, and each thread keeps its own
// context: a digest context, and an HMAC context keyed once per key (each MAC
// works on a copy of it). The one-shot functions remain the fallback.
namespace {

const EVP_MD* fetched_sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

EVP_MAC* fetched_hmac() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

struct ThreadDigest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ThreadDigest() = default;
  ThreadDigest(const ThreadDigest&) = delete;
  ThreadDigest& operator=(const ThreadDigest&) = delete;
  ~ThreadDigest() { EVP_MD_CTX_free(ctx); }
};

// An HMAC-SHA256 context initialised with `key`, the last key this thread used.
struct ThreadHmac {
  std::string key;
  EVP_MAC_CTX* keyed = nullptr;
  ThreadHmac() = default;
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;
  ~ThreadHmac() {
    EVP_MAC_CTX_free(keyed);
    OPENSSL_cleanse(key.data(), key.size());
  }
  EVP_MAC_CTX* for_key(std::string_view k) {
    if (keyed && k.size() == key.size() && CRYPTO_memcmp(k.data(), key.data(), key.size()) == 0) {
      return keyed;
    }
    EVP_MAC_CTX_free(keyed);
    keyed = nullptr;
    OPENSSL_cleanse(key.data(), key.size());
    key.clear();
    EVP_MAC* mac = fetched_hmac();
    if (mac == nullptr) return nullptr;
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (ctx == nullptr || EVP_MAC_init(ctx, reinterpret_cast<const unsigned char*>(k.data()),
                                       k.size(), params) != 1) {
      EVP_MAC_CTX_free(ctx);
      return nullptr;
    }
    keyed = ctx;
    key.assign(k);
    return keyed;
  }
};

}  // namespace

Digest sha256(std::string_view bytes) {
  Digest d{};
  thread_local ThreadDigest t;
  unsigned int len = 0;
  const EVP_MD* md = fetched_sha256();
  if (md != nullptr && t.ctx != nullptr && EVP_DigestInit_ex2(t.ctx, md, nullptr) == 1 &&
      EVP_DigestUpdate(t.ctx, bytes.data(), bytes.size()) == 1 &&
      EVP_DigestFinal_ex(t.ctx, d.data(), &len) == 1 && len == d.size()) {
    return d;
  }
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d.data());
  return d;
}

void append_json_string(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet appended
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);  // the run before it, at once
    run = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

Digest hmac_sha256(std::string_view key, std::string_view message) {
  Digest d{};
  thread_local ThreadHmac t;
  if (EVP_MAC_CTX* keyed = t.for_key(key)) {
    EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
    std::size_t len = 0;
    const bool ok = ctx != nullptr &&
                    EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size()) == 1 &&
                    EVP_MAC_final(ctx, d.data(), &len, d.size()) == 1 && len == d.size();
    EVP_MAC_CTX_free(ctx);
    if (ok) return d;
  }
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), d.data(),
           &len) == nullptr ||
      len != d.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return d;
}

bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("the CSPRNG failed");
  }
  return out;
}

namespace {

// Bumped in a forked child: buffers filled before the fork are dropped.
std::atomic<unsigned> fork_generation{0};

struct RandomBuffer {
  std::array<unsigned char, 4096> bytes{};
  std::size_t used = bytes.size();
  unsigned generation = 0;
  ~RandomBuffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

}  // namespace

std::string random_id_bytes(std::size_t n) {
  static const bool registered = [] {
    return pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); }) == 0;
  }();
  if (n > 64 || !registered) return random_bytes(n);
  thread_local RandomBuffer buf;
  const unsigned generation = fork_generation.load(std::memory_order_relaxed);
  if (buf.generation != generation || buf.bytes.size() - buf.used < n) {
    if (RAND_bytes(buf.bytes.data(), static_cast<int>(buf.bytes.size())) != 1) {
      throw std::runtime_error("the CSPRNG failed");
    }
    buf.used = 0;
    buf.generation = generation;
  }
  std::string out(reinterpret_cast<const char*>(buf.bytes.data() + buf.used), n);
  OPENSSL_cleanse(buf.bytes.data() + buf.used, n);  // each byte is handed out once
  buf.used += n;
  return out;
}

}  // namespace latchkey
