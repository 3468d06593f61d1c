#include "keys/data_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "base/aead.h"
#include "base/durable_dirs.h"
#include "base/encoding.h"
#include "base/signing.h"
#include "events/binary.h"
#include "keys/secret_store.h"

namespace latchkey::keys {

namespace {

constexpr std::uint8_t kKeyRecord = 1;
constexpr std::uint8_t kErasedRecord = 2;
constexpr std::uint8_t kSigningKeyRecord = 3;      // replicated only, never in the file
constexpr std::uint8_t kProjectSecretsRecord = 4;  // replicated only, never in the file
constexpr std::size_t kWrappedBytes = kAeadNonceBytes + kAeadKeyBytes + kAeadTagBytes;

std::string wrap_aad(std::string_view id) { return "latchkey-datakey:v1:" + std::string(id); }
std::string signing_aad(std::string_view kid) {
  return "latchkey-signingkey:v1:" + std::string(kid);
}
std::string project_secrets_aad(std::string_view project) {
  return "latchkey-projectsecrets:v1:" + std::string(project);
}

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
  std::shared_ptr<DataKeys> store(new DataKeys(dir, kek, read_only));
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
      auto key = aead_open(store->kek(), wrap_aad(id), wrapped);
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
      Key k{};
      std::memcpy(k.data(), key->data(), kAeadKeyBytes);
      store->put(id, k);
    } else if (kind == kErasedRecord && r.ok()) {
      store->remove(id);
      store->mark_erased(id);
    } else {
      if (!r.ok()) break;
      return make_error(Errc::corruption, file + ": unknown record");
    }
    good = bytes.size() - r.remaining();
  }
  store->keys_.shrink_to_fit();
  store->ids_.shrink_to_fit();
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

std::vector<DataKeys::Entry>::const_iterator DataKeys::find(std::string_view id) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), id,
                             [this](const Entry& e, std::string_view v) { return id_of(e) < v; });
  return it != keys_.end() && id_of(*it) == id ? it : keys_.end();
}

void DataKeys::put(std::string_view id, const Key& key) {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), id,
                             [this](const Entry& e, std::string_view v) { return id_of(e) < v; });
  if (it != keys_.end() && id_of(*it) == id) {
    it->key = key;
    return;
  }
  const Entry e{static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint16_t>(id.size()),
                key};
  ids_.append(id);
  keys_.insert(it, e);
}

void DataKeys::remove(std::string_view id) {
  auto it = find(id);
  if (it == keys_.end()) return;
  keys_.erase(it);
  // The arena keeps the id's bytes until it holds more garbage than ids.
  std::size_t live = 0;
  for (const Entry& e : keys_) live += e.id_size;
  if (ids_.size() > 2 * live + 64) {
    std::string compact;
    compact.reserve(live);
    for (Entry& e : keys_) {
      const std::string_view v = id_of(e);
      e.id_offset = static_cast<std::uint32_t>(compact.size());
      compact.append(v);
    }
    ids_ = std::move(compact);
  }
}

bool DataKeys::is_erased(std::string_view id) const {
  return std::binary_search(erased_.begin(), erased_.end(), id, std::less<>{});
}

void DataKeys::mark_erased(std::string_view id) {
  auto it = std::lower_bound(erased_.begin(), erased_.end(), id, std::less<>{});
  if (it == erased_.end() || *it != id) erased_.insert(it, std::string(id));
}

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
  w.raw(aead_seal(kek(), random_bytes(kAeadNonceBytes), wrap_aad(id),
                  std::string_view(key.data(), key.size())));
  return w.take();
}

Result<std::optional<std::string>> DataKeys::seal(std::string_view subject,
                                                  std::string_view plain) {
  Key key{};
  bool found = false;
  {
    std::shared_lock lock(mu_);
    if (auto it = find(subject); it != keys_.end()) {
      key = it->key;
      found = true;
    } else if (is_erased(subject)) {
      return std::optional<std::string>{};
    }
  }
  if (!found) {
    std::unique_lock lock(mu_);
    if (auto it = find(subject); it != keys_.end()) {
      key = it->key;
    } else if (is_erased(subject)) {
      return std::optional<std::string>{};
    } else {
      if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
      Key fresh{};
      const std::string random = random_bytes(kAeadKeyBytes);
      std::memcpy(fresh.data(), random.data(), fresh.size());
      std::string record = record_of_key(subject, fresh);
      if (auto st = append(record); !st) return st.error();
      key = fresh;
      put(subject, fresh);
      if (keep_new_) new_records_.push_back(std::move(record));
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
    auto it = find(subject);
    if (it == keys_.end()) return std::nullopt;
    key = it->key;
  }
  return aead_open(std::string_view(key.data(), key.size()), subject, sealed);
}

std::string DataKeys::file_without(std::string_view erased_id) const {
  std::string out;
  for (const Entry& e : keys_) {
    if (id_of(e) != erased_id) out += record_of_key(id_of(e), e.key);
  }
  bin::Writer w;
  for (const auto& id : erased_) {
    w.u8(kErasedRecord);
    w.bytes(id);
  }
  if (!is_erased(erased_id)) {
    w.u8(kErasedRecord);
    w.bytes(erased_id);
  }
  return out + w.take();
}

Status DataKeys::erase(std::string_view subject) {
  std::unique_lock lock(mu_);
  if (is_erased(subject) && find(subject) == keys_.end()) return {};
  if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
  // The new file holds every other key (rewrapped under fresh nonces) and
  // the erased ids; it replaces the old one atomically. The old file's
  // blocks go back to the filesystem with its last name.
  const std::string file = path(dir_);
  const std::string content = file_without(subject);
  if (auto st = write_private_file(file, content); !st) return st;
  broken_ = false;
  size_ = content.size();
  remove(subject);
  mark_erased(subject);
  return {};
}

Result<std::shared_ptr<DataKeys>> open_data_keys(const std::string& secrets_dir, bool read_only) {
  auto secrets = SecretStore::open(secrets_dir, /*check_permissions=*/false);
  if (!secrets) return secrets.error();
  return DataKeys::open(secrets_dir, (*secrets)->pepper(), read_only);
}

void DataKeys::keep_new_records() {
  std::unique_lock lock(mu_);
  keep_new_ = true;
}

std::vector<std::string> DataKeys::take_new_records() {
  std::vector<std::string> out;
  std::unique_lock lock(mu_);
  out.swap(new_records_);
  return out;
}

void DataKeys::share_signing_key(std::string_view kid, std::string_view pem) {
  std::unique_lock lock(mu_);
  if (!keep_new_) return;
  bin::Writer w;
  w.u8(kSigningKeyRecord);
  w.bytes(kid);
  w.bytes(aead_seal(kek(), random_bytes(kAeadNonceBytes), signing_aad(kid), pem));
  new_records_.push_back(w.take());
}

void DataKeys::share_record(std::string record) {
  std::unique_lock lock(mu_);
  if (!keep_new_) return;
  new_records_.push_back(std::move(record));
}

std::string DataKeys::wrap_project_secrets(std::string_view project, const Pepper& pepper,
                                           const SigningKey& key) const {
  bin::Writer plain;
  plain.bytes(pepper.bytes());
  plain.bytes(key.to_pem());
  bin::Writer w;
  w.u8(kProjectSecretsRecord);
  w.bytes(project);
  w.bytes(
      aead_seal(kek(), random_bytes(kAeadNonceBytes), project_secrets_aad(project), plain.str()));
  return w.take();
}

bool DataKeys::is_project_secrets(std::string_view record) {
  return !record.empty() && static_cast<std::uint8_t>(record[0]) == kProjectSecretsRecord;
}

Status DataKeys::install_project_secrets(std::string_view project, std::string_view record,
                                         const std::string& secrets_dir) const {
  bin::Reader r(record);
  const std::uint8_t kind = r.u8();
  const std::string_view id = r.bytes();
  const std::string_view wrapped = r.bytes();
  if (!r.ok() || !r.at_end() || kind != kProjectSecretsRecord)
    return make_error(Errc::corruption, "a replicated project secrets record is malformed");
  if (id != project)
    return make_error(Errc::corruption, "a replicated project secrets record names project " +
                                            std::string(id) + ", not " + std::string(project));
  auto plain = aead_open(kek(), project_secrets_aad(project), wrapped);
  if (!plain)
    return make_error(Errc::corruption,
                      "a replicated project secrets record does not open under the platform's key");
  bin::Reader p(*plain);
  const std::string pepper(p.bytes());
  const std::string_view pem = p.bytes();
  if (!p.ok() || !p.at_end() || pepper.size() != 32)
    return make_error(Errc::corruption, "a replicated project secrets record is malformed");
  if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
  return SecretStore::install(secrets_dir, Pepper(pepper), pem);
}

Status DataKeys::import_signing_key(std::string_view kid, std::string_view wrapped) {
  if (!is_kid(kid))
    return make_error(Errc::corruption, "a replicated signing key has a malformed kid");
  auto pem = aead_open(kek(), signing_aad(kid), wrapped);
  if (!pem)
    return make_error(Errc::corruption,
                      "a replicated signing key does not open under this project's key");
  auto key = SigningKey::from_pem(*pem);
  if (!key || key->kid() != kid)
    return make_error(Errc::corruption, "a replicated signing key is not the key it names");
  if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
  const std::string file = dir_ + "/signing/" + std::string(kid) + ".pem";
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) return {};
  return write_private_file(file, *pem);
}

Status DataKeys::import_record(std::string_view record) {
  bin::Reader r(record);
  const std::uint8_t kind = r.u8();
  const std::string id(r.bytes());
  // Written before this store was opened (install_project_secrets).
  if (kind == kProjectSecretsRecord) return {};
  if (kind == kSigningKeyRecord) {
    const std::string wrapped(r.bytes());
    if (!r.ok() || !r.at_end())
      return make_error(Errc::corruption, "a replicated signing key record is malformed");
    return import_signing_key(id, wrapped);
  }
  const std::string_view wrapped = r.raw(kWrappedBytes);
  if (!r.ok() || !r.at_end() || kind != kKeyRecord)
    return make_error(Errc::corruption, "a replicated data key record is malformed");
  auto key = aead_open(kek(), wrap_aad(id), wrapped);
  if (!key || key->size() != kAeadKeyBytes)
    return make_error(Errc::corruption,
                      "a replicated data key does not open under this project's key");
  std::unique_lock lock(mu_);
  if (find(id) != keys_.end() || is_erased(id)) return {};
  if (read_only_) return make_error(Errc::unavailable, "the data keys are open read-only");
  if (auto st = append(record); !st) return st.error();
  Key k{};
  std::memcpy(k.data(), key->data(), kAeadKeyBytes);
  put(id, k);
  return {};
}

bool DataKeys::erased(std::string_view subject) const {
  std::shared_lock lock(mu_);
  return is_erased(subject);
}

bool DataKeys::has_key(std::string_view subject) const {
  std::shared_lock lock(mu_);
  return find(subject) != keys_.end();
}

}  // namespace latchkey::keys
