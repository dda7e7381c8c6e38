// The router's learned parts: an intent classifier (the local embedding model plus a trained
// linear head, with calibrated confidence and out-of-scope detection) and a quality-gap model
// (how likely the small local model's answer is good enough for this prompt). Both are trained
// in C++ from JSON Lines files and saved to a directory. At request time `Router` runs both on one
// embedding; `policy.h` turns what they say into a decision.
//
//   auto examples = router::read_intent_examples("train.jsonl");       // {"text", "label"} lines
//   auto classifier = router::IntentClassifier::train(*examples, embedder, {});
//   classifier->save("my-router");
//   auto intent = classifier->classify("translate this into French: ...");
//   // intent->label == "translation", intent->confidence == 0.97, intent->out_of_scope == false
//
// Thread-safety: trained or loaded models are immutable; classify/predict may run on any thread
// (the shared Embedder serialises its own work).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "privacy/aes_gcm.h"

namespace tandem::router {

struct IntentExample {
  std::string text;
  std::string label;
};

struct RoutingExample {
  std::string prompt;
  bool weak_correct = false;    // the small model answered correctly
  bool strong_correct = false;  // the large model answered correctly
};

// JSON Lines readers; errors name the file and line. Empty files, blank texts, missing fields
// and lines over 1 MiB are refused.
// `key`: the keyring's "router" data key, for the sealed learned examples (router.learned_examples,
// router.cascade_outcomes).
Result<std::vector<IntentExample>> read_intent_examples(const std::string& path,
                                                        const std::optional<privacy::Key>& key = std::nullopt);
Result<std::vector<RoutingExample>> read_routing_examples(const std::string& path,
                                                          const std::optional<privacy::Key>& key = std::nullopt);

// Called with a stage ("embedding", "training", ...) and its progress.
using ProgressCallback = std::function<void(std::string_view stage, size_t done, size_t total)>;

// Texts per call to the embedder when a model embeds a list (training, classify_batch).
inline constexpr int32_t kDefaultEmbedBatch = 64;

struct TrainOptions {
  int32_t max_iterations = 300;   // L-BFGS iterations; training stops earlier once converged
  float l2 = 2e-5F;               // L2 regularisation of the mean cross-entropy
  int32_t hash_bits = 16;         // 2^bits buckets for the hashed n-grams
  float embedding_weight = 2.0F;  // of the unit-length embedding beside the unit-length n-grams
  // The scripts the embedding model reads (ScriptSet::parse, engine.embedding_scripts): a text
  // mostly in other scripts is classified by its n-grams alone, in training and after, and is not
  // embedded. Saved with the model; "all" embeds every text.
  std::string embedding_scripts = "Latin";
  double holdout_fraction = 0.1;  // per label, for calibration; the final model sees everything
  uint64_t seed = 1;              // picks the held-out slice
  int32_t threads = 1;            // for the optimiser's gradient
  // Units of a ReLU hidden layer over the embedding whose logits are added to the linear head's
  // (0: the linear head alone), and its L2 regularisation.
  int32_t hidden_units = 0;
  float hidden_l2 = 1e-4F;
  // Texts per call to the embedder. The embedder decodes one call at a time, so a model retrained
  // while requests are served uses small batches: a request's own embedding then waits for one
  // small batch at most, never for the whole training set.
  int32_t embed_batch = kDefaultEmbedBatch;
  ProgressCallback progress;
};

struct IntentTrainOptions : TrainOptions {
  std::string oos_label = "oos";
  // How many of the held-out in-scope answers the out-of-scope threshold may reject (0.001 =
  // 0.1%). Higher catches more out-of-scope requests and loses more in-scope ones.
  double max_in_scope_loss = 0.001;
  // The files the examples came from, recorded in model.json: what a running server retrains on,
  // with what it has learned since (pipeline/intent_relearning.h). A relative path is relative to
  // the model's directory; training_options() returns it resolved.
  std::vector<std::string> data_files;
};

struct IntentPrediction {
  std::string label;          // the oos label when out of scope
  float confidence = 0;       // calibrated probability of the top-ranked label
  bool out_of_scope = false;  // the best label is the oos label, or confidence < the threshold
  std::vector<std::pair<std::string, float>> ranked;  // the top three labels with probabilities
};

class IntentClassifier {
 public:
  static Result<IntentClassifier> train(const std::vector<IntentExample>& examples,
                                        std::shared_ptr<engine::Embedder> embedder, const IntentTrainOptions& options);
  // Refuses a directory trained with a different embedding model.
  static Result<IntentClassifier> load(const std::string& dir, std::shared_ptr<engine::Embedder> embedder);
  Status save(const std::string& dir) const;

  Result<IntentPrediction> classify(const std::string& text) const;
  Result<std::vector<IntentPrediction>> classify_batch(const std::vector<std::string>& texts) const;
  // With the text's embedding already computed by this model's embedder (see Router); empty when
  // !embeds(text).
  IntentPrediction classify_embedded(const std::string& text, std::span<const float> embedding) const;
  // Whether the model reads `text`'s embedding (TrainOptions::embedding_scripts).
  bool embeds(const std::string& text) const;
  const std::string& embedding_scripts() const;  // ScriptSet::names() of those scripts

  const std::vector<std::string>& labels() const;
  const std::string& oos_label() const;
  float oos_threshold() const;
  float temperature() const;
  // The options it was trained with (data_files included), as far as its model.json records them;
  // the defaults for the rest. Training again with them and the same examples gives the same model.
  const IntentTrainOptions& training_options() const;

  struct Impl;

 private:
  explicit IntentClassifier(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Predicts, from the prompt alone, the probability that the small model's answer is good enough,
// i.e. that the large model would not do better (RouteLLM's "weak wins or ties").
class QualityGapModel {
 public:
  static Result<QualityGapModel> train(const std::vector<RoutingExample>& examples,
                                       std::shared_ptr<engine::Embedder> embedder, const TrainOptions& options);
  static Result<QualityGapModel> load(const std::string& dir, std::shared_ptr<engine::Embedder> embedder);
  Status save(const std::string& dir) const;

  Result<float> local_good_enough(const std::string& prompt) const;
  Result<std::vector<float>> local_good_enough_batch(const std::vector<std::string>& prompts) const;
  float local_good_enough_embedded(const std::string& prompt, std::span<const float> embedding) const;
  bool embeds(const std::string& prompt) const;  // as IntentClassifier::embeds
  const std::string& embedding_scripts() const;

  // The score below which `share` (0..1) of the held-out training prompts fall: sending prompts
  // that score below it to the cloud keeps the cloud's share of similar traffic near `share`.
  float threshold_for_cloud_share(double share) const;

  struct Impl;

 private:
  explicit QualityGapModel(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// What the router understands of one request, from a single embedding shared by both models.
struct Understanding {
  std::optional<IntentPrediction> intent;  // absent without an intent model
  std::optional<float> local_good_enough;  // absent without a quality-gap model
};

// The request-time face of the router: embeds a request once (not at all when neither model
// reads its scripts) and asks both models.
class Router {
 public:
  // Either model may be null; both must have been loaded with `embedder`.
  Router(std::shared_ptr<engine::Embedder> embedder, std::shared_ptr<const IntentClassifier> intents,
         std::shared_ptr<const QualityGapModel> quality);
  Result<Understanding> understand(const std::string& text) const;
  bool empty() const { return !intents_ && !quality_; }
  const IntentClassifier* intents() const { return intents_.get(); }
  const std::shared_ptr<engine::Embedder>& embedder() const { return embedder_; }
  // The same router with another intent classifier (loaded or trained with embedder()).
  std::shared_ptr<const Router> with_intents(std::shared_ptr<const IntentClassifier> intents) const;

 private:
  std::shared_ptr<engine::Embedder> embedder_;
  std::shared_ptr<const IntentClassifier> intents_;
  std::shared_ptr<const QualityGapModel> quality_;
};

struct IntentEvaluation {
  size_t n = 0;
  size_t in_scope = 0;
  size_t out_of_scope = 0;
  double in_scope_accuracy = 0;  // an in-scope example is right only with its own label
  double top1_accuracy = 0;      // in-scope, the top-ranked label alone (no out-of-scope threshold)
  double oos_recall = 0;
  double oos_precision = 0;
  double latency_ms_p50 = 0;  // one request at a time: embedding + features + head
  double latency_ms_p95 = 0;
};

// Unknown labels in `examples` are an error that names the first one.
Result<IntentEvaluation> evaluate_intents(const IntentClassifier& classifier, const std::vector<IntentExample>& examples);

struct RoutingPoint {
  double cloud_share = 0;  // 0..1
  double accuracy = 0;
  double pgr = 0;  // performance gap recovered: (accuracy - weak) / (strong - weak)
};

struct RoutingEvaluation {
  size_t n = 0;
  double weak_accuracy = 0;
  double strong_accuracy = 0;
  double apgr = 0;   // area under PGR over cloud share (RouteLLM: 11 points, trapezoid)
  double cpt50 = 0;  // cloud share (%) where PGR reaches 0.5, interpolated between the 11 points
  double cpt80 = 0;
  double latency_ms_p50 = 0;
  double latency_ms_p95 = 0;
  std::vector<RoutingPoint> curve;
  // Set by evaluate_routing when asked for a target share: what the threshold calibrated at
  // training gave, and what the online controller (CloudShareController, in the data's order) gave.
  std::optional<double> target_cloud_share;
  double achieved_cloud_share = 0;
  double accuracy_at_target = 0;
  double online_cloud_share = 0;
  double online_accuracy = 0;
};

struct LatencyEvaluation {
  size_t n = 0;
  double latency_ms_p50 = 0;
  double latency_ms_p95 = 0;
};

// Router::understand on each text, one at a time, as requests arrive in production.
Result<LatencyEvaluation> evaluate_latency(const Router& router, const std::vector<std::string>& texts);

// The quality-vs-cloud-share curve of routing to the cloud the prompts least likely to be fine
// locally. `local_good_enough[i]` scores `examples[i]`.
RoutingEvaluation routing_curve(const std::vector<float>& local_good_enough, const std::vector<RoutingExample>& examples);
// With `target_cloud_share`, also routes by the model's threshold for that share and reports
// the share and accuracy it achieves on `examples`.
Result<RoutingEvaluation> evaluate_routing(const QualityGapModel& model, const std::vector<RoutingExample>& examples,
                                           std::optional<double> target_cloud_share = std::nullopt);

}  // namespace tandem::router
