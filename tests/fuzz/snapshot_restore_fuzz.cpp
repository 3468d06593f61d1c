// Fuzz target: the view snapshot decoder (projections::restore), which
// start-up and every replay trust. Properties: nothing crashes or reads out
// of bounds; views that restore are consistent, so every cross-reference that
// replay and the server follow without checking (a token's key, a key's
// principal, a principal's keys) is in range; they encode again to the same
// bytes; and the fold goes on from them (apply() of the next events).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "events/event.h"
#include "projections/views.h"

using namespace latchkey;
using namespace latchkey::projections;

namespace {

void follow_every_reference(const Views& v) {
  for (const auto& p : v.principals.all()) {
    for (auto pos : p.keys) {
      if (pos >= v.keys.size()) std::abort();
      if (&v.principals.at(v.keys.at(pos).principal) != &p) std::abort();
    }
    if (v.principals.find(p.id) != &p) std::abort();
  }
  for (const auto& k : v.keys.all()) {
    if (k.principal >= v.principals.size()) std::abort();
    if (v.keys.find(k.apikey) != &k) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto v = restore(bytes);
  if (!v) return 0;
  follow_every_reference(*v);
  const std::string again = snapshot(*v);
  auto back = restore(again);
  if (!back || snapshot(*back) != again) std::abort();
  // The fold continues from restored views: a token for each key, then its deletion.
  events::Seq seq = v->seq;
  const Micros t = std::max<Micros>(v->time, 0) + kMicrosPerSecond;
  std::uint8_t n = 0;
  for (const auto& k : v->keys.all()) {
    if (++n > 8) break;
    events::Event issued;
    issued.seq = ++seq;
    issued.time = t;
    issued.type = events::EventType::token_issued;
    events::TokenIssued claims;
    claims.jti = std::string(31, '0') + static_cast<char>('0' + n % 10);
    claims.apikey = k.apikey;
    claims.iat = t / kMicrosPerSecond;
    claims.exp = claims.iat + 60;
    issued.data = claims;
    events::Event deleted = issued;
    deleted.seq = ++seq;
    deleted.type = events::EventType::key_deleted;
    deleted.data = events::KeyChanged{k.apikey, v->principals.at(k.principal).id};
    apply(*back, issued);
    apply(*back, deleted);
  }
  follow_every_reference(*back);
  return 0;
}
