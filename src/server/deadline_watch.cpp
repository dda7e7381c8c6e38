#include "server/deadline_watch.h"

namespace tandem::server {

DeadlineWatch::Guard::Guard(Guard&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), key_(other.key_), entry_(other.entry_) {}

DeadlineWatch::Guard::~Guard() {
  if (owner_) owner_->release(key_);
}

DeadlineWatch::DeadlineWatch() : thread_([this] { run(); }) {}

DeadlineWatch::~DeadlineWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

DeadlineWatch::Guard DeadlineWatch::watch(Clock::time_point deadline, std::shared_ptr<std::atomic<bool>> cancel) {
  auto entry = std::make_shared<Entry>();
  entry->cancel = std::move(cancel);
  Key key;
  {
    std::lock_guard lock(mutex_);
    key = {deadline, next_id_++};
    entries_.emplace(key, entry);
  }
  changed_.notify_all();
  return Guard(this, key, std::move(entry));
}

void DeadlineWatch::release(const Key& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);  // a no-op when it already expired
}

void DeadlineWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (entries_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto earliest = entries_.begin();
    // A copy: the entry may be released (and its node freed) while this thread waits.
    const Clock::time_point deadline = earliest->first.first;
    if (deadline > Clock::now()) {
      changed_.wait_until(lock, deadline);
      continue;
    }
    earliest->second->expired = true;
    earliest->second->cancel->store(true);
    entries_.erase(earliest);
  }
}

}  // namespace tandem::server
