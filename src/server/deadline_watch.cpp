#include "server/deadline_watch.h"

#include <poll.h>

#include <algorithm>
#include <vector>

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

DeadlineWatch::Guard DeadlineWatch::watch(Clock::time_point deadline, std::shared_ptr<std::atomic<bool>> cancel,
                                          int socket) {
  auto entry = std::make_shared<Entry>();
  entry->cancel = std::move(cancel);
  entry->socket = socket;
  Key key;
  {
    std::lock_guard lock(mutex_);
    key = {deadline, next_id_++};
    entries_.emplace(key, entry);
    if (socket >= 0) ++sockets_;
  }
  changed_.notify_all();
  return Guard(this, key, std::move(entry));
}

void DeadlineWatch::release(const Key& key) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end()) return;  // it already expired
  if (found->second->socket >= 0) --sockets_;
  entries_.erase(found);
}

void DeadlineWatch::cancel_hung_up() {
  std::vector<pollfd> polled;
  std::vector<Entry*> owners;
  for (auto& [key, entry] : entries_) {
    if (entry->socket < 0 || entry->hung_up) continue;
    polled.push_back({.fd = entry->socket, .events = POLLRDHUP, .revents = 0});
    owners.push_back(entry.get());
  }
  if (polled.empty() || poll(polled.data(), polled.size(), 0) <= 0) return;
  for (size_t i = 0; i < polled.size(); ++i) {
    // The peer closed (or reset) the connection; bytes it sent, like a pipelined request, do not count.
    if (polled[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      owners[i]->hung_up = true;
      owners[i]->cancel->store(true);
    }
  }
}

void DeadlineWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (entries_.empty()) {
      changed_.wait(lock);
      continue;
    }
    cancel_hung_up();
    auto earliest = entries_.begin();
    // A copy: the entry may be released (and its node freed) while this thread waits.
    const Clock::time_point deadline = earliest->first.first;
    if (deadline > Clock::now()) {
      changed_.wait_until(lock, sockets_ > 0 ? std::min(deadline, Clock::now() + kHangUpPoll) : deadline);
      continue;
    }
    earliest->second->expired = true;
    earliest->second->cancel->store(true);
    if (earliest->second->socket >= 0) --sockets_;
    entries_.erase(earliest);
  }
}

}  // namespace tandem::server
