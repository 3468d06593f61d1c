#include "keys/secret_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/durable_dirs.h"

namespace latchkey::keys {
namespace fs = std::filesystem;

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status private_enough(const std::string& path, bool is_dir) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(Errc::not_found, "cannot stat " + path);
  if ((st.st_mode & 077) != 0) {
    return make_error(Errc::invalid_request, "refusing to start: " + path +
                                                 " can be read by other users (chmod " +
                                                 (is_dir ? "700" : "600") + " " + path + ")");
  }
  return {};
}

}  // namespace

Status write_private_file(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::unavailable, "cannot write " + path);
  std::size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n <= 0) {
      ::close(fd);
      return make_error(Errc::unavailable, "cannot write " + path);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(Errc::unavailable, "cannot write " + path);
  }
  // The fsync above made the bytes durable, not the new name: until the
  // directory is synced a power cut can leave no file, or the old one.
  const fs::path parent = fs::path(path).parent_path();
  if (auto st = sync_dir(parent.empty() ? "." : parent.string()); !st) {
    return make_error(Errc::unavailable, "cannot write " + path + ": " + st.error().message);
  }
  return {};
}

Result<std::unique_ptr<SecretStore>> SecretStore::create(const std::string& data_dir, SignAlg alg) {
  std::error_code ec;
  if (fs::exists(data_dir + "/pepper", ec))
    return make_error(Errc::exists, data_dir + " already holds a pepper");
  // The data directory and signing/ must outlive a power cut like the files in them.
  if (auto st = create_directories_durably(data_dir + "/signing"); !st) return st.error();
  ::chmod(data_dir.c_str(), 0700);
  ::chmod((data_dir + "/signing").c_str(), 0700);
  Pepper pepper = Pepper::generate();
  if (auto st = write_private_file(data_dir + "/pepper", pepper.bytes()); !st) return st.error();
  std::unique_ptr<SecretStore> store(new SecretStore(data_dir, std::move(pepper)));
  auto key = store->add_signing_key(alg);
  if (!key) return key.error();
  return store;
}

Status SecretStore::install(const std::string& data_dir, const Pepper& pepper,
                            std::string_view pem) {
  auto key = SigningKey::from_pem(pem);
  if (!key) return make_error(Errc::corruption, "a replicated signing key is not a key");
  std::error_code ec;
  if (auto have = read_file(data_dir + "/pepper"); have) {
    if (*have == pepper.bytes() && fs::exists(data_dir + "/signing/" + key->kid() + ".pem", ec))
      return {};
    if (*have != pepper.bytes()) {
      fs::remove_all(data_dir, ec);
      if (ec) return make_error(Errc::unavailable, "cannot remove " + data_dir, ec.message());
    }
  }
  if (auto st = create_directories_durably(data_dir + "/signing"); !st) return st.error();
  ::chmod(data_dir.c_str(), 0700);
  ::chmod((data_dir + "/signing").c_str(), 0700);
  if (auto st = write_private_file(data_dir + "/signing/" + key->kid() + ".pem", std::string(pem));
      !st)
    return st.error();
  return write_private_file(data_dir + "/pepper", pepper.bytes());
}

Result<std::unique_ptr<SecretStore>> SecretStore::open(const std::string& data_dir,
                                                       bool check_permissions) {
  if (check_permissions) {
    for (const auto& [path, dir] : {std::pair{data_dir, true},
                                    {data_dir + "/signing", true},
                                    {data_dir + "/pepper", false}}) {
      if (auto st = private_enough(path, dir); !st) return st.error();
    }
  }
  auto pepper = read_file(data_dir + "/pepper");
  if (!pepper)
    return make_error(Errc::not_found, data_dir + " holds no pepper (run `latchkey init` first)");
  if (pepper->size() != 32)
    return make_error(Errc::corruption, data_dir + "/pepper is not 32 bytes");
  std::unique_ptr<SecretStore> store(new SecretStore(data_dir, Pepper(std::move(*pepper))));
  std::error_code ec;
  fs::file_time_type newest_time{};
  for (const auto& entry : fs::directory_iterator(data_dir + "/signing", ec)) {
    if (entry.path().extension() != ".pem") continue;
    if (check_permissions) {
      if (auto st = private_enough(entry.path().string(), false); !st) return st.error();
    }
    auto pem = read_file(entry.path().string());
    if (!pem) return pem.error();
    auto key = SigningKey::from_pem(*pem);
    if (!key) return make_error(Errc::corruption, entry.path().string() + " is not a signing key");
    auto shared = std::make_shared<const SigningKey>(std::move(*key));
    const auto t = entry.last_write_time(ec);
    if (!store->newest_ || t > newest_time) {
      store->newest_ = shared;
      newest_time = t;
    }
    store->keys_[shared->kid()] = std::move(shared);
  }
  if (store->keys_.empty())
    return make_error(Errc::not_found, data_dir + "/signing holds no signing key");
  return store;
}

bool is_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > 128) return false;
  return std::all_of(kid.begin(), kid.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::shared_ptr<const SigningKey> SecretStore::signing_key(const std::string& kid) const {
  std::lock_guard lock(mu_);
  if (const auto it = keys_.find(kid); it != keys_.end()) return it->second;
  if (!is_kid(kid)) return nullptr;
  auto pem = read_file(dir_ + "/signing/" + kid + ".pem");
  if (!pem) return nullptr;
  auto key = SigningKey::from_pem(*pem);
  if (!key || key->kid() != kid) return nullptr;
  auto shared = std::make_shared<const SigningKey>(std::move(*key));
  keys_[kid] = shared;
  return shared;
}

std::shared_ptr<const SigningKey> SecretStore::newest() const {
  std::lock_guard lock(mu_);
  return newest_;
}

Result<std::shared_ptr<const SigningKey>> SecretStore::add_signing_key(SignAlg alg) {
  auto key = std::make_shared<const SigningKey>(SigningKey::generate(alg));
  if (auto st = write_private_file(dir_ + "/signing/" + key->kid() + ".pem", key->to_pem()); !st)
    return st.error();
  if (on_new_key_) on_new_key_(*key);
  std::lock_guard lock(mu_);
  keys_[key->kid()] = key;
  newest_ = key;
  return std::shared_ptr<const SigningKey>(key);
}

}  // namespace latchkey::keys
