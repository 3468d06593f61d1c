#pragma once
// Inside events/cluster only: the NATS handles behind a Nats connection.

#include <nats/nats.h>

#include "events/cluster/jetstream.h"

namespace latchkey::events::cluster {

struct Nats::Impl {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  int timeout_ms = 2000;
  ~Impl() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
  }
};

}  // namespace latchkey::events::cluster
