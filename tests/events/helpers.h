#pragma once
// Small builders of events for the events/ tests.

#include <string>
#include <vector>

#include "events/event.h"

namespace latchkey::test {

inline events::Draft user_created(const std::string& id, const std::string& name = "Ann") {
  return events::Draft{events::EventType::user_created,
                       events::PrincipalCreated{id, name, name + "@example.com", {}},
                       events::RequestContext{"system", "req-1", "127.0.0.1"}};
}

inline events::Draft token_issued(const std::string& apikey, const std::string& principal, int n) {
  events::TokenIssued t;
  char jti[33];
  std::snprintf(jti, sizeof jti, "%032x", n);
  t.jti = jti;
  t.apikey = apikey;
  t.principal_id = principal;
  t.iat = 1000 + n;
  t.exp = 4600 + n;
  t.kid = "k1";
  return events::Draft{events::EventType::token_issued, t,
                       events::RequestContext{principal, "req", "10.0.0.1"}};
}

}  // namespace latchkey::test
