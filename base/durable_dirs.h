#pragma once
// Names on disk that survive a power cut. A file's name (its creation, a
// rename over another, a new directory) is durable only once the directory
// that holds it is fsync'ed: an fsync of the file itself makes its bytes
// durable, not its name. POSIX promises no more, and some filesystems give
// no more, so a synced file whose directory never was can vanish in a cut.
// RocksDB fsyncs the database directory, never the one above it; the pepper
// and signing keys are written beside it with a rename. The code that makes
// those names calls these.

#include <string>

#include "base/error.h"

namespace latchkey {

// fsyncs the directory `dir`: the names it holds now are on disk.
Status sync_dir(const std::string& dir);

// std::filesystem::create_directories, and each directory it makes is made
// durable: its parent is fsync'ed right after the mkdir, from the top down.
Status create_directories_durably(const std::string& dir);

}  // namespace latchkey
