#pragma once
// The secret material beside the log: the pepper and the token signing keys,
// each a 0600 file in a 0700 directory.
//
//   DATA/log/                 the event log (RocksDB)
//   DATA/pepper               32 random bytes
//   DATA/signing/KID.pem      one PKCS#8 private key per signing key
//
// Nothing here is ever written to the log: the log holds only public keys and
// HMACs made with the pepper.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/signing.h"
#include "keys/ids.h"

namespace latchkey::keys {

class SecretStore {
 public:
  // Creates the pepper and a first signing key in `data_dir`. Fails with
  // `exists` if a pepper is already there.
  static Result<std::unique_ptr<SecretStore>> create(const std::string& data_dir, SignAlg alg);
  // Writes the material of a project made on another node of a cluster
  // (docs/cluster.md): its pepper and first signing key, as create() would
  // have, the pepper last (a directory with a pepper is whole). A directory
  // that holds another pepper (a project of that id deleted before) is
  // replaced; one that holds this pepper is left as it is. Errors:
  // corruption when `pem` is not a key; unavailable on I/O errors.
  static Status install(const std::string& data_dir, const Pepper& pepper, std::string_view pem);
  // Loads the material. With `check_permissions`, refuses (invalid_request)
  // if the directory or any file can be read by group or others.
  static Result<std::unique_ptr<SecretStore>> open(const std::string& data_dir,
                                                   bool check_permissions);

  const Pepper& pepper() const { return pepper_; }
  // Where the material is (the data keys are there too: keys/data_keys.h).
  const std::string& dir() const { return dir_; }
  // The private key with that kid, or nullptr. A kid not loaded yet is looked
  // for on disk: in a cluster, a key made on another node arrives as a file
  // (keys/data_keys.h) after this store was opened. Thread-safe.
  std::shared_ptr<const SigningKey> signing_key(const std::string& kid) const;
  // The key created with the store (or the newest on disk).
  std::shared_ptr<const SigningKey> newest() const;
  // Writes a new signing key file and returns it, after handing it to the
  // listener set with on_new_signing_key. Thread-safe.
  Result<std::shared_ptr<const SigningKey>> add_signing_key(SignAlg alg);
  // Called with each key add_signing_key makes (a cluster shares it with
  // the other nodes). Set once, before the store is shared between threads.
  void on_new_signing_key(std::function<void(const SigningKey&)> listener) {
    on_new_key_ = std::move(listener);
  }

  static std::string log_dir(const std::string& data_dir) { return data_dir + "/log"; }

 private:
  SecretStore(std::string dir, Pepper pepper) : dir_(std::move(dir)), pepper_(std::move(pepper)) {}
  std::string dir_;
  Pepper pepper_;
  mutable std::mutex mu_;
  std::function<void(const SigningKey&)> on_new_key_;
  mutable std::map<std::string, std::shared_ptr<const SigningKey>> keys_;  // GUARDED_BY(mu_)
  std::shared_ptr<const SigningKey> newest_;                               // GUARDED_BY(mu_)
};

// Whether `kid` has the form of a key id (RFC 7638 thumbprint, base64url):
// safe as a file name.
bool is_kid(std::string_view kid);

// Writes `content` to `path` with mode 0600, atomically (temp file + rename) and synced.
Status write_private_file(const std::string& path, const std::string& content);

}  // namespace latchkey::keys
