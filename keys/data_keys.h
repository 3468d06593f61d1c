#pragma once
// The data keys that seal personal data in events, one per principal
// (events/personal.h), in one file beside the pepper:
//
//   DIR/datakeys   records: u8 kind | varint id length | id | body
//                    kind 1 (key):    body = the key wrapped (AES-256-GCM)
//                    kind 2 (erased): no body; the principal's key is gone
//
// In a cluster, a third kind travels in blocks and is never stored in the
// file: kind 3 (signing key), id = its kid, body = the PKCS#8 PEM wrapped
// (AES-256-GCM) under the same key-encryption key. A node that imports it
// writes DIR/signing/KID.pem (0600), the file SecretStore reads.
//
// A fourth kind travels in blocks too, and is never stored: kind 4
// (project secrets), id = a new project's id, body = its pepper and first
// signing key wrapped under the key-encryption key of the *platform's*
// store, which every node holds. It rides first in the new project's first
// block; a node writes the project's secrets directory from it
// (SecretStore::install) before it opens the project's data keys.
//
// The wrapping key is derived from the pepper (HMAC-SHA256 with a fixed
// label), so the file alone opens nothing. A new key is appended and synced
// before any event sealed with it is written. Erasing rewrites the file
// without the key (temp file, fsync, rename, fsync of the directory) and
// keeps the id as erased, so later events about it store nothing. A record
// torn by a crash at the tail is a key no event used: it is dropped on open.

#include <array>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/signing.h"
#include "events/personal.h"
#include "keys/ids.h"

namespace latchkey::keys {

class DataKeys final : public events::PersonalKeys {
 public:
  // Opens DIR/datakeys (created if absent, unless read_only). Errors:
  // corruption for a record that does not open (other than a torn tail),
  // unavailable on I/O errors.
  static Result<std::shared_ptr<DataKeys>> open(const std::string& dir, const Pepper& pepper,
                                                bool read_only);
  ~DataKeys() override;
  DataKeys(const DataKeys&) = delete;
  DataKeys& operator=(const DataKeys&) = delete;

  Result<std::optional<std::string>> seal(std::string_view subject,
                                          std::string_view plain) override;
  std::optional<std::string> open(std::string_view subject, std::string_view sealed) const override;

  // Destroys `subject`'s key, durably: once this returns, no file of the
  // store holds it. Idempotent. Errors: unavailable when the file cannot be
  // rewritten (the key is then still there). Any thread.
  Status erase(std::string_view subject) override;
  void keep_new_records() override;
  std::vector<std::string> take_new_records() override;
  // Imports a data key (kind 1) or a signing key (kind 3, written to
  // DIR/signing/KID.pem unless that file is there).
  Status import_record(std::string_view record) override;
  // While keep_new_records() is on, keeps a record of a signing key made on
  // this node, for take_new_records(): a cluster's other nodes import it, so
  // that whichever of them writes next signs with it. Off: nothing.
  void share_signing_key(std::string_view kid, std::string_view pem);
  // Keeps `record` (one of this store's project, e.g. a new project's
  // secrets) for take_new_records(), ahead of what follows, while
  // keep_new_records() is on; off: nothing.
  void share_record(std::string record);

  // ---- a new project's secrets (kind 4), made and opened by the platform's store ----
  // The record of project `project`'s pepper and signing key.
  std::string wrap_project_secrets(std::string_view project, const Pepper& pepper,
                                   const SigningKey& key) const;
  // Writes the secrets `record` holds to `secrets_dir` (SecretStore::install).
  // Errors: corruption when it is not such a record of `project` or does not
  // open under this store's key; unavailable on I/O errors.
  Status install_project_secrets(std::string_view project, std::string_view record,
                                 const std::string& secrets_dir) const;
  static bool is_project_secrets(std::string_view record);

  bool erased(std::string_view subject) const;
  bool has_key(std::string_view subject) const;

  static std::string path(const std::string& dir) { return dir + "/datakeys"; }

 private:
  using Key = std::array<char, 32>;
  // The keys, sorted by id, with the ids in one arena: a server holds one
  // store per project, so a node and a heap string per key would cost more
  // than the keys themselves.
  struct Entry {
    std::uint32_t id_offset;
    std::uint16_t id_size;
    Key key;
  };
  DataKeys(std::string dir, const Digest& kek, bool read_only)
      : dir_(std::move(dir)), kek_(kek), read_only_(read_only) {}
  std::string_view kek() const { return {reinterpret_cast<const char*>(kek_.data()), kek_.size()}; }
  std::string_view id_of(const Entry& e) const { return {ids_.data() + e.id_offset, e.id_size}; }
  std::vector<Entry>::const_iterator find(std::string_view id) const;  // REQUIRES: mu_ held
  void put(std::string_view id, const Key& key);                       // REQUIRES: mu_ held
  void remove(std::string_view id);                                    // REQUIRES: mu_ held
  bool is_erased(std::string_view id) const;                           // REQUIRES: mu_ held
  void mark_erased(std::string_view id);                               // REQUIRES: mu_ held
  std::string record_of_key(std::string_view id, const Key& key) const;
  std::string file_without(std::string_view erased_id) const;  // REQUIRES: mu_ held
  Status append(std::string_view record);                      // REQUIRES: mu_ held
  Status import_signing_key(std::string_view kid, std::string_view wrapped);

  const std::string dir_;
  const Digest kek_;
  const bool read_only_;
  bool keep_new_ = false;                 // GUARDED_BY(mu_)
  std::vector<std::string> new_records_;  // GUARDED_BY(mu_)
  bool broken_ = false;                   // a failed append's tail is still there GUARDED_BY(mu_)
  std::size_t size_ = 0;                  // bytes of whole records in the file   GUARDED_BY(mu_)
  mutable std::shared_mutex mu_;
  std::vector<Entry> keys_;          // sorted by id       GUARDED_BY(mu_)
  std::string ids_;                  // the ids of keys_   GUARDED_BY(mu_)
  std::vector<std::string> erased_;  // sorted             GUARDED_BY(mu_)
};

// The data keys beside the pepper of `secrets_dir` (a SecretStore's
// directory), for a reader of the log: tools, tests. Errors: those of
// SecretStore::open and DataKeys::open.
Result<std::shared_ptr<DataKeys>> open_data_keys(const std::string& secrets_dir, bool read_only);

}  // namespace latchkey::keys
