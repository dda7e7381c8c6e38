// The small model learns from the large one while Tandem runs. Each intent the large model gives
// for a request the small classifier was unsure of is kept (learned_examples.h) and handed here;
// after every `every` of them the intent classifier is trained again, in the background, on what
// it was first trained on plus everything learned, and the new one is installed (the pipeline
// swaps its router). Requests never wait for training: they use the classifier in service until
// the new one is ready, and their embeddings queue behind one small training batch at most.
//
//   IntentRelearner relearner({.every = 25, .base = base, .learned = earlier, .train = options},
//                             embedder, [&](auto classifier) { install(std::move(classifier)); });
//   relearner.add({"what's the weather on Mars", "factual"});   // every 25th starts a retraining
//
// Thread-safety: add() and status() from any thread. Training runs on a thread of its own, which
// calls `install`; the destructor waits for a retraining in progress.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "router/router.h"

namespace tandem::pipeline {

struct RelearningOptions {
  size_t every = 0;                            // learned examples between retrainings; 0: never
  std::vector<router::IntentExample> base;     // what the classifier in service was trained on
  std::vector<router::IntentExample> learned;  // learned before this start: retrained on at once
  router::IntentTrainOptions train;            // the classifier's own (IntentClassifier::training_options)
};

struct RelearningStatus {
  size_t learned = 0;         // examples learned in all, before this start included
  size_t learned_in_use = 0;  // how many of them the classifier in service was retrained on
  size_t retrainings = 0;
  size_t failures = 0;
  std::string last_error;  // of the latest failed retraining
  bool busy = false;       // a retraining is due or running
};

class IntentRelearner {
 public:
  using Install = std::function<void(std::shared_ptr<const router::IntentClassifier>)>;

  // `embedder`: the router's own, so that the new classifier reads the embeddings the router makes.
  IntentRelearner(RelearningOptions options, std::shared_ptr<engine::Embedder> embedder, Install install);
  ~IntentRelearner();
  IntentRelearner(const IntentRelearner&) = delete;
  IntentRelearner& operator=(const IntentRelearner&) = delete;

  void add(router::IntentExample example);
  RelearningStatus status() const;
  // Blocks until no retraining is due or running (tests and benchmarks).
  void wait_until_idle() const;

 private:
  void train_when_due();  // the training thread

  RelearningOptions options_;
  std::shared_ptr<engine::Embedder> embedder_;
  Install install_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;          // a retraining is due, or stop
  mutable std::condition_variable idle_;  // a retraining ended
  size_t since_last_ = 0;                 // learned since the latest retraining was started
  bool due_ = false;
  bool training_ = false;
  bool stop_ = false;
  RelearningStatus status_;  // retrainings, failures, the last error; status() adds the rest
  std::thread thread_;  // last: started once everything above is set
};

}  // namespace tandem::pipeline
