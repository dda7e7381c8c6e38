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

void EnergyTracker::first_token(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(ticket);
  if (it == running_.end() || it->second.prompt_joules >= 0) return;
  split_since_last_read();
  it->second.prompt_joules = it->second.joules;
}

Attribution EnergyTracker::end(uint64_t ticket) {
  std::lock_guard lock(mutex_);
  split_since_last_read();
  Attribution out{.method = meter_->method(), .scope = meter_->scope()};
  if (auto it = running_.find(ticket); it != running_.end()) {
    out.joules = it->second.joules;
    out.complete = it->second.complete;
    out.prompt_measured = it->second.prompt_joules >= 0;
    out.prompt_joules = out.prompt_measured ? it->second.prompt_joules : 0;
    running_.erase(it);
  }
  return out;
}

void Attribution::split_by_time(double prompt_ms, double generation_ms) {
  if (prompt_measured) return;
  const double total_ms = prompt_ms + generation_ms;
  prompt_joules = total_ms > 0 ? joules * prompt_ms / total_ms : 0;
}

}  // namespace tandem::energy
