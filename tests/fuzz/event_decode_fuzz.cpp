// Fuzz target: the decoders of what is read back from disk.
// First byte: 0 a stored record as is (events/codec.h decode_stored);
// 1 canonical bytes, to which the target appends their own SHA-256 so the
// fuzzer gets past the hash check into the field decoder; 2 an event's data
// alone (decode_data: type, version, bytes); 3 a view snapshot
// (projections::restore).
// Properties: nothing crashes or reads out of bounds; whatever decodes
// encodes again to something that decodes to the same event (or views).
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "events/codec.h"
#include "base/encoding.h"
#include "projections/views.h"

using namespace latchkey;
using namespace latchkey::events;

namespace {

void check_event(const Event& e) {
  Event copy = e;
  const std::string again = encode_stored(copy);
  auto back = decode_stored(again);
  if (!back) std::abort();
  if (encode_canonical(*back) != encode_canonical(e)) std::abort();
  (void)to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)subjects_of(e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto e = decode_stored(rest);
      if (e) check_event(*e);
      break;
    }
    case 1: {
      std::string stored(rest);
      const Digest h = sha256(rest);
      stored.append(reinterpret_cast<const char*>(h.data()), h.size());
      auto e = decode_stored(stored);
      if (e) check_event(*e);
      break;
    }
    case 2: {
      if (rest.size() < 3) return 0;
      const auto type = static_cast<EventType>(static_cast<std::uint8_t>(rest[0]) % 24);
      const auto version = static_cast<std::uint16_t>(static_cast<std::uint8_t>(rest[1]) % 4);
      auto d = decode_data(type, version, rest.substr(2));
      if (d) {
        const std::string bytes = encode_data(*d);
        auto back = decode_data(type, current_version(type), bytes);
        if (!back || encode_data(*back) != bytes) std::abort();
        (void)data_to_json(*d).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
      break;
    }
    default: {
      auto v = projections::restore(rest);
      if (v) {
        const std::string snap = projections::snapshot(*v);
        auto back = projections::restore(snap);
        if (!back || projections::snapshot(*back) != snap) std::abort();
      }
      break;
    }
  }
  return 0;
}
