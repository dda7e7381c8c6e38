// What the running pipeline learns, kept as training data for the router's small models:
//  - intent examples, {"text", "label"}: the large model's answer when the small classifier was
//    unsure (`tandem router train-intents --data defaults.jsonl --data learned.jsonl`);
//  - routing examples, {"prompt", "weak_correct", "strong_correct"}: tandem/cascade's verdict on
//    its local attempt (`tandem router train-routing --data outcomes.jsonl ...`), so that the
//    quality-gap model learns to send straight to the cloud what the cascade would escalate.
// Thread-safety: append from any thread (a mutex; the file itself is flock'ed by RecordLog).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "privacy/sealed_file.h"

namespace tandem::pipeline {

// Examples keep the head of a request's text: more tells the router's models nothing they need,
// and the JSON Lines readers refuse lines over 1 MiB.
inline constexpr size_t kMaxExampleTextBytes = 16 * 1024;

nlohmann::json intent_example(const std::string& text, const std::string& label);
// The cascade judges only the local answer; the cloud's is taken to be right, the premise on
// which it escalates. The quality-gap model learns "needs the cloud" from weak_correct = false.
nlohmann::json routing_example(const std::string& prompt, bool local_answer_accepted, double mean_logprob);

// One file of examples: JSON Lines, or with `key` (the keyring's "router" data key) a sealed
// record log (privacy/sealed_file.h) that the `tandem router` commands read with the same key.
class LearnedExamples {
 public:
  explicit LearnedExamples(std::string path, std::optional<privacy::Key> key = std::nullopt)
      : path_(std::move(path)), key_(std::move(key)) {}
  // Appends one record (write + fdatasync); creates the file and its folder.
  Status append(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::optional<privacy::Key> key_;
  std::mutex mutex_;
  std::unique_ptr<privacy::RecordLog> log_;  // opened on the first append
};

}  // namespace tandem::pipeline
