#include "energy/tracker.h"

namespace tandem::energy {

EnergyTracker::EnergyTracker(std::unique_ptr<EnergyMeter> meter) : meter_(std::move(meter)) {}

void EnergyTracker::split_since_last_read() {
  auto sample = meter_->read();
  if (!sample) {
    for (auto& [ticket, share] : running_) share.complete = false;
    have_last_ = false;  // the next good read starts a new interval
    return;
  }
  if (have_last_ && !running_.empty()) {
    const double each = (sample->joules - last_joules_) / static_cast<double>(running_.size());
    for (auto& [ticket, share] : running_) share.joules += each;
  }
  last_joules_ = sample->joules;
  have_last_ = true;
}

uint64_t EnergyTracker::begin() {
  std::lock_guard lock(mutex_);
  split_since_last_read();
  const uint64_t ticket = next_ticket_++;
  // Without a good read now, the request's first interval cannot be measured.
  running_.emplace(ticket, Share{.complete = have_last_});
  return ticket;
}

Attribution EnergyTracker::end(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  split_since_last_read();
  Attribution out{.method = meter_->method(), .scope = meter_->scope()};
  if (auto it = running_.find(ticket); it != running_.end()) {
    out.joules = it->second.joules;
    out.complete = it->second.complete;
    running_.erase(it);
  }
  return out;
}

}  // namespace tandem::energy
