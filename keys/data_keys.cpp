#include "keys/data_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "base/aead.h"
#include "base/durable_dirs.h"
#include "base/encoding.h"
#include "events/binary.h"
#include "keys/secret_store.h"

namespace latchkey::keys {

namespace {

constexpr std::uint8_t kKeyRecord = 1;
constexpr std::uint8_t kErasedRecord = 2;
constexpr std::size_t kWrappedBytes = kAeadNonceBytes + kAeadKeyBytes + kAeadTagBytes;

std::string wrap_aad(std::string_view id) { return "latchkey-datakey:v1:" + std::string(id); }

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n <= 0) return make_error(Errc::unavailable, "cannot write " + path);
    off += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<DataKeys>> DataKeys::open(const std::string& dir, const Pepper& pepper,
                                                 bool read_only) {
  const Digest kek = pepper.hash("latchkey-datakey-wrap:v1");
  std::shared_ptr<DataKeys> store(new DataKeys(
      dir, std::string(reinterpret_cast<const char*>(kek.data()), kek.size()), read_only));
  const std::string file = path(dir);
  std::string bytes;
  {
    std::ifstream in(file, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      bytes = ss.str();
    }
  }
  bin::Reader r(bytes);
  std::size_t good = 0;  // bytes of whole records
  while (!r.at_end()) {
    const std::uint8_t kind = r.u8();
    const std::string id(r.bytes());
    if (kind == kKeyRecord) {
      const std::string_view wrapped = r.raw(kWrappedBytes);
      if (!r.ok()) break;  // torn tail
      auto key = aead_open(store->kek_, wrap_aad(id), wrapped);
      if (!key) {
        // Only the last record can be torn; any other that does not open
        // means a different pepper or a damaged file.
        if (!r.at_end()) {
          return make_error(Errc::corruption, file + ": a data key does not open");
        }
        break;
      }
      if (key->size() != kAeadKeyBytes)
        return make_error(Errc::corruption, file + ": a bad data key");
      std::memcpy(store->keys_[id].data(), key->data(), kAeadKeyBytes);
    } else if (kind == kErasedRecord && r.ok()) {
      store->keys_.erase(id);
      store->erased_.insert(id);
    } else {
      if (!r.ok()) break;
      return make_error(Errc::corruption, file + ": unknown record");
    }
    good = bytes.size() - r.remaining();
  }
  if (read_only) return store;
  // No descriptor is kept: a server of thousands of projects would hold one
  // each, and a key is appended once per principal.
  const bool existed = !bytes.empty() || ::access(file.c_str(), F_OK) == 0;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::unavailable, "cannot open " + file);
  bool ok = true;
  if (good != bytes.size()) {
    // The torn tail of a crash: no event was sealed with it.
    ok = ::ftruncate(fd, static_cast<off_t>(good)) == 0 && ::fsync(fd) == 0;
  } else if (!existed) {
    ok = ::fsync(fd) == 0;
  }
  ::close(fd);
  if (!ok) return make_error(Errc::unavailable, "cannot repair or sync " + file);
  if (!existed) {
    if (auto st = sync_dir(dir); !st) return st.error();
  }
  store->size_ = good;
  return store;
}

DataKeys::~DataKeys() = default;

Status DataKeys::append(std::string_view record) {
  const std::string file = path(dir_);
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return make_error(Errc::unavailable, "cannot open " + file);
  // A failed append before this one left a tail it could not cut: cut it now.
  if (broken_ && ::ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    ::close(fd);
    return make_error(Errc::unavailable, "cannot repair " + file);
  }
  broken_ = false;
  Status st = write_all(fd, record, file);
  if (st && ::fdatasync(fd) != 0) st = make_error(Errc::unavailable, "cannot sync " + file);
  if (!st) {
    // A part of the record may be in the file (a full disk): cut it off,
    // or the next record would follow garbage. No event used this key.
    if (::ftruncate(fd, static_cast<off_t>(size_)) != 0) broken_ = true;
  } else {
    size_ += record.size();
  }
  ::close(fd);
  return st;
}

std::string DataKeys::record_of_key(std::string_view id, const Key& key) const {
  bin::Writer w;
  w.u8(kKeyRecord);
  w.bytes(id);
  w.raw(aead_seal(kek_, random_bytes(kAeadNonceBytes), wrap_aad(id),
                  std::string_view(key.data(), key.size())));
  return w.take();
}

Result<std::optional<std::string>> DataKeys::seal(std::string_view subject,
                                                  std::string_view plain) {
  Key key{};
  bool found = false;
  {
    std::shared_lock lock(mu_);
    if (auto it = keys_.find(subject); it != keys_.end()) {
      key = it->second;
      found = true;
    } else if (erased_.contains(subject)) {
      return std::optional<std::string>{};
    }
  }
  if (!found) {
    std::unique_lock lock(mu_);
    if (auto it = keys_.find(subject); it != keys_.end()) {
      key = it->second;
    } else if (erased_.contains(subject)) {
      return std::optional<std::string>{};
    } else {
      if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
      Key fresh{};
      const std::string random = random_bytes(kAeadKeyBytes);
      std::memcpy(fresh.data(), random.data(), fresh.size());
      if (auto st = append(record_of_key(subject, fresh)); !st) return st.error();
      key = fresh;
      keys_.emplace(std::string(subject), fresh);
    }
  }
  const std::string_view k(key.data(), key.size());
  return std::optional<std::string>(
      aead_seal(k, aead_synthetic_nonce(k, subject, plain), subject, plain));
}

std::optional<std::string> DataKeys::open(std::string_view subject, std::string_view sealed) const {
  Key key{};
  {
    std::shared_lock lock(mu_);
    auto it = keys_.find(subject);
    if (it == keys_.end()) return std::nullopt;
    key = it->second;
  }
  return aead_open(std::string_view(key.data(), key.size()), subject, sealed);
}

std::string DataKeys::file_without(std::string_view erased_id) const {
  std::string out;
  for (const auto& [id, key] : keys_) {
    if (id != erased_id) out += record_of_key(id, key);
  }
  bin::Writer w;
  for (const auto& id : erased_) {
    w.u8(kErasedRecord);
    w.bytes(id);
  }
  if (!erased_.contains(erased_id)) {
    w.u8(kErasedRecord);
    w.bytes(erased_id);
  }
  return out + w.take();
}

Status DataKeys::erase(std::string_view subject) {
  std::unique_lock lock(mu_);
  if (erased_.contains(subject) && !keys_.contains(subject)) return {};
  if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
  // The new file holds every other key (rewrapped under fresh nonces) and
  // the erased ids; it replaces the old one atomically. The old file's
  // blocks go back to the filesystem with its last name.
  const std::string file = path(dir_);
  const std::string content = file_without(subject);
  if (auto st = write_private_file(file, content); !st) return st;
  broken_ = false;
  size_ = content.size();
  keys_.erase(std::string(subject));
  erased_.insert(std::string(subject));
  return {};
}

Result<std::shared_ptr<DataKeys>> open_data_keys(const std::string& secrets_dir, bool read_only) {
  auto secrets = SecretStore::open(secrets_dir, /*check_permissions=*/false);
  if (!secrets) return secrets.error();
  return DataKeys::open(secrets_dir, (*secrets)->pepper(), read_only);
}

bool DataKeys::erased(std::string_view subject) const {
  std::shared_lock lock(mu_);
  return erased_.contains(subject);
}

bool DataKeys::has_key(std::string_view subject) const {
  std::shared_lock lock(mu_);
  return keys_.contains(subject);
}

}  // namespace latchkey::keys
