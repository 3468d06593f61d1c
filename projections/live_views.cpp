#include "projections/live_views.h"

#include <mutex>

namespace latchkey::projections {

void LiveViews::apply(std::span<const events::Event> committed) {
  if (committed.empty()) return;
  std::unique_lock lock(mu_);
  for (const auto& e : committed) projections::apply(views_, e);
  seq_.store(views_.seq, std::memory_order_release);
}

}  // namespace latchkey::projections
