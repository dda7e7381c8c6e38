#include "pipeline/intent_relearning.h"

#include <chrono>

#include "core/log.h"

namespace tandem::pipeline {
namespace {

// Texts per embedding call while retraining: about 10 ms of the embedder for short requests.
constexpr int32_t kRelearningEmbedBatch = 8;

}  // namespace

IntentRelearner::IntentRelearner(RelearningOptions options, std::shared_ptr<engine::Embedder> embedder, Install install)
    : options_(std::move(options)), embedder_(std::move(embedder)), install_(std::move(install)) {
  options_.train.embed_batch = kRelearningEmbedBatch;
  options_.train.threads = 1;  // the other cores serve requests
  options_.train.progress = nullptr;
  due_ = options_.every > 0 && !options_.learned.empty();
  thread_ = std::thread([this] { train_when_due(); });
}

IntentRelearner::~IntentRelearner() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void IntentRelearner::add(router::IntentExample example) {
  std::lock_guard lock(mutex_);
  options_.learned.push_back(std::move(example));
  if (options_.every > 0 && ++since_last_ >= options_.every) {
    since_last_ = 0;
    due_ = true;
    wake_.notify_one();
  }
}

RelearningStatus IntentRelearner::status() const {
  std::lock_guard lock(mutex_);
  auto status = status_;
  status.learned = options_.learned.size();
  status.busy = due_ || training_;
  return status;
}

void IntentRelearner::wait_until_idle() const {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !due_ && !training_; });
}

void IntentRelearner::train_when_due() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || due_; });
    if (stop_) return;
    due_ = false;
    training_ = true;
    auto examples = options_.base;
    examples.insert(examples.end(), options_.learned.begin(), options_.learned.end());
    const size_t learned = options_.learned.size();
    lock.unlock();

    const auto start = std::chrono::steady_clock::now();
    auto trained = router::IntentClassifier::train(examples, embedder_, options_.train);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (trained) {
      install_(std::make_shared<const router::IntentClassifier>(std::move(*trained)));
      TANDEM_LOG(kInfo, "router",
                 "retrained the intent classifier on {} examples, {} of them learned from the large "
                 "model, in {:.1f} s: it is in service now",
                 examples.size(), learned, seconds);
    } else {
      TANDEM_LOG(kWarn, "router", "retraining the intent classifier failed, the previous one stays: {}",
                 trained.error().message);
    }

    lock.lock();
    training_ = false;
    if (trained) {
      ++status_.retrainings;
      status_.learned_in_use = learned;
    } else {
      ++status_.failures;
      status_.last_error = trained.error().message;
    }
    idle_.notify_all();
  }
}

}  // namespace tandem::pipeline
