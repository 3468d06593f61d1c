#include "base/aead.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>

#include "base/encoding.h"

namespace latchkey {

namespace {

// Fetched once: EVP_aes_256_gcm() would make every init look the cipher up
// again (OpenSSL 3's implicit fetch).
const EVP_CIPHER* gcm() {
  static EVP_CIPHER* fetched = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return fetched != nullptr ? fetched : EVP_aes_256_gcm();
}

// One context per thread, re-initialised for each value.
struct ThreadCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~ThreadCtx() { EVP_CIPHER_CTX_free(ctx); }
};
EVP_CIPHER_CTX* thread_ctx() {
  thread_local ThreadCtx t;
  return t.ctx;
}

const unsigned char* u(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
}  // namespace

std::string aead_seal(std::string_view key, std::string_view nonce, std::string_view aad,
                      std::string_view plain) {
  std::string out(kAeadNonceBytes + plain.size() + kAeadTagBytes, '\0');
  if (key.size() != kAeadKeyBytes || nonce.size() != kAeadNonceBytes) return {};
  out.replace(0, kAeadNonceBytes, nonce);
  EVP_CIPHER_CTX* ctx = thread_ctx();
  auto* body = reinterpret_cast<unsigned char*>(out.data() + kAeadNonceBytes);
  int len = 0;
  int total = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx, gcm(), u(key), u(nonce), nullptr) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx, body, &len, u(plain), static_cast<int>(plain.size())) != 1) {
    return {};
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx, body + total, &len) != 1) return {};
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kAeadTagBytes),
                          body + total) != 1) {
    return {};
  }
  return out;
}

std::optional<std::string> aead_open(std::string_view key, std::string_view aad,
                                     std::string_view sealed) {
  if (key.size() != kAeadKeyBytes || sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return std::nullopt;
  }
  const std::string_view nonce = sealed.substr(0, kAeadNonceBytes);
  const std::string_view body =
      sealed.substr(kAeadNonceBytes, sealed.size() - kAeadNonceBytes - kAeadTagBytes);
  std::string tag(sealed.substr(sealed.size() - kAeadTagBytes));
  std::string out(body.size(), '\0');
  EVP_CIPHER_CTX* ctx = thread_ctx();
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx, gcm(), u(key), u(nonce), nullptr) != 1 ||
      (!aad.empty() &&
       EVP_DecryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, u(body),
                        static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kAeadTagBytes), tag.data()) !=
          1) {
    return std::nullopt;
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &final_len) !=
      1) {
    return std::nullopt;
  }
  return out;
}

std::string aead_synthetic_nonce(std::string_view key, std::string_view aad,
                                 std::string_view plain) {
  // SHA-256 over the fixed-length key, then the lengths and the values: a
  // PRF of (aad, plain) keyed by the key, truncated (so no length extension).
  // HMAC would rekey OpenSSL's MAC context for every principal's key.
  char buf[256];
  std::string heap;
  const std::size_t n = key.size() + 16 + aad.size() + plain.size();
  char* p = buf;
  if (n > sizeof buf) {
    heap.resize(n);
    p = heap.data();
  }
  std::size_t at = 0;
  auto put = [&](std::string_view s) {
    std::memcpy(p + at, s.data(), s.size());
    at += s.size();
  };
  auto put_len = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[at++] = static_cast<char>(v >> (8 * i));
  };
  put(key);
  put_len(aad.size());
  put_len(plain.size());
  put(aad);
  put(plain);
  const Digest d = sha256(std::string_view(p, at));
  return std::string(reinterpret_cast<const char*>(d.data()), kAeadNonceBytes);
}

}  // namespace latchkey
