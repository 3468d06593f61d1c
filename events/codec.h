#pragma once
// Stored form of an event and its JSON rendering.
//
// Stored value = canonical bytes || SHA-256(canonical bytes). The canonical
// bytes hold every field of the event, prev_hash included, so the hashes chain
// the log: changing, removing or reordering any event breaks the chain at it.
//
//   u8 format(=2) | varint seq | svarint time | u16 type | u16 version |
//   bytes actor | bytes request_id | bytes source_ip | 32 prev_hash |
//   bytes data (varint field count, then the fields in declaration order)
//
// In format 2 the source address and each personal field hold a tag byte and
// are sealed (events/personal.h); format 1 (older logs) holds them in clear.

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"
#include "events/event.h"

namespace latchkey::events {

class PersonalKeys;

// Canonical bytes of `e` (its `hash` field is ignored), personal data in clear.
std::string encode_canonical(const Event& e);
// The stored value: canonical bytes then their SHA-256. Sets e.hash. With
// `keys`, personal data is sealed (and the error is that of keys->seal).
Result<std::string> encode_stored(Event& e, PersonalKeys* keys);
std::string encode_stored(Event& e);
// What decode_stored opens of the sealed personal data: all of it, or the
// data's fields alone, leaving the source address "[sealed]" (a rebuild of
// the views, which never read it, saves one decryption per event).
enum class Opening { all, data_only };

// Decodes a stored value and checks its own hash. Errc::corruption on any
// malformed input, unknown type or a hash that does not match; never throws,
// never reads outside `stored`. Sealed personal data is opened with `keys`;
// it reads "[erased]" once its key is gone and "[sealed]" without `keys`.
Result<Event> decode_stored(std::string_view stored, const PersonalKeys* keys = nullptr,
                            Opening opening = Opening::all);

// Data-only encoding (for tests and snapshots of event data).
std::string encode_data(const Data& d);
// Decodes data written under schema `version` of `type`, upcasting it to the current version.
Result<Data> decode_data(EventType type, std::uint16_t version, std::string_view bytes);

// JSON for audit output and the CLI: every field but the secret hash, times in
// RFC 3339 UTC with microseconds, digests in hex.
nlohmann::json to_json(const Event& e);
nlohmann::json data_to_json(const Data& d);

}  // namespace latchkey::events
