// The one place that knows the whole request flow: understand (router models), decide (policy),
// generate (the local engine or the cloud provider), and fall back to the local model when the
// cloud fails before it said anything. Questions about the user's documents are grounded in the
// knowledge base and answered locally with citations. Whatever goes to the cloud passes the
// privacy stage first: personal data is pseudonymized (and restored in the answer, also in a
// stream), types the policy blocks keep the request on this device, and every egress is written
// to the audit log. The energy ledger joins here when its module lands.
//
//   pipeline::Pipeline pipeline({.local = local, .cloud = cloud, .router = router});
//   auto route = pipeline.route(request, router::RouteMode::kAuto);   // fast: no generation
//   if (!route) return route.error();
//   send_headers(*route);                                              // e.g. X-Tandem-Route
//   auto answer = pipeline.answer(request, *route, &on_delta);
//   // answer->route.decision.target, answer->fallback, answer->result.text ...
//
// Thread-safety: any number of threads at once (the parts are thread-safe and never change, but
// for the intent classifier, which relearning replaces whole: a request keeps the one it began with).
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/status.h"
#include "knowledge/grounding.h"
#include "knowledge/knowledge_base.h"
#include "pipeline/intent_relearning.h"
#include "pipeline/learned_examples.h"
#include "privacy/audit_log.h"
#include "privacy/pii_scanner.h"
#include "privacy/policy.h"
#include "providers/provider.h"
#include "router/cloud_share.h"
#include "router/policy.h"
#include "router/router.h"

namespace tandem::pipeline {

// Every member has an initializer, so designated initializers may name only what they set.
struct PipelineParts {
  std::shared_ptr<providers::Provider> local{};    // required
  std::shared_ptr<providers::Provider> cloud{};    // null: no cloud configured
  std::shared_ptr<const router::Router> router{};  // null: the policy decides without models
  router::PolicyOptions policy{};
  // With a quality-gap model: keeps the cloud's share of tandem/auto at the knob (router.cloud_share).
  std::shared_ptr<router::CloudShareController> cloud_share{};
  // Where the large model's intent answers are kept as training examples; empty: not kept.
  std::string learned_examples_path{};
  // Where tandem/cascade's verdicts on its local attempts are kept as routing examples; empty: not kept.
  std::string cascade_outcomes_path{};
  std::optional<privacy::Key> learned_examples_key{};  // both files: the keyring's "router" data key; nullopt: in clear
  // Retraining the intent classifier on what the large model taught it (every == 0: never; needs
  // a router with an intent classifier).
  RelearningOptions relearning{};
  // The user's documents; null: no knowledge base. Grounded answers are generated locally, so
  // the documents never leave this device.
  std::shared_ptr<knowledge::KnowledgeBase> knowledge{};
  knowledge::SearchOptions knowledge_search{};
  knowledge::GroundingOptions grounding{};
  std::string documents_intent = "documents";  // the router's label for questions about the user's documents
  // The privacy stage, enforced in code on everything sent to the cloud. Null scanner: nothing is
  // pseudonymized (only for tests of other stages; the CLI and server always set one).
  std::shared_ptr<const privacy::PiiScanner> pii{};
  privacy::PrivacyPolicy privacy_policy{};
  std::shared_ptr<privacy::AuditLog> audit{};  // one entry per egress; null: not logged
};

// Whether a request is answered from the knowledge base: when the router says it asks about the
// user's documents (kAuto), always, or never.
enum class KnowledgeUse { kAuto, kAlways, kNever };

// What left the device for the cloud: whether any text did, and how many distinct values of each
// personal data type were replaced by placeholders first.
struct Egress {
  bool sent = false;
  std::array<int, privacy::kEntityTypeCount> pseudonymized{};
  void add(const Egress& other);
};

// What the privacy stage found in one message, with a fingerprint of the text it scanned.
struct ScannedMessage {
  size_t content_hash = 0;  // std::hash of the content
  privacy::Inspection inspection;
};

struct RouteOptions {
  KnowledgeUse knowledge = KnowledgeUse::kAuto;
  std::vector<std::string> collections{};  // empty: all
  std::string tenant = "local";             // who asks, for the audit log ("local": the single local user)
};

struct Route {
  router::Decision decision;
  double router_ms = 0;                   // understanding and deciding
  int64_t estimated_prompt_tokens = 0;    // ~4 bytes per token, before the provider counts
  double estimated_cloud_cost_usd = 0;    // prompt + max_tokens at the cloud's prices (0: no cloud)
  double intent_from_cloud_cost_usd = 0;  // asking the large model to classify, when it was asked
  // Set when the request is answered from the knowledge base: the passages and their citations,
  // or found == false with the honest "not found" answer.
  std::optional<knowledge::Grounded> grounded;
  double retrieval_ms = 0;
  // What the privacy stage found in each message of the request, scanned once here: what goes to
  // the cloud is pseudonymized from it, so answer() must be given the request route() was (a
  // message whose text differs is never sent).
  std::vector<ScannedMessage> privacy;
  // Personal data types the privacy policy blocks that the request holds: it stays on this device.
  std::vector<privacy::EntityType> blocked;
  std::string tenant = "local";
  Egress intent_egress;  // asking the large model for the intent
};

// One generation a request went through (a cascade makes up to two).
struct Attempt {
  router::RouteTarget target = router::RouteTarget::kLocal;
  std::string provider;
  std::optional<engine::TokenConfidence> confidence;  // the local attempt of a cascade
  bool accepted = false;
  double cost_usd = 0;
  double elapsed_ms = 0;
  std::string error;  // empty: it answered
};

struct Answer {
  providers::ChatResult result;
  Route route;
  router::RouteTarget answered_by = router::RouteTarget::kLocal;
  bool fallback = false;  // the cloud was chosen, failed before any output, and the local model answered
  std::string fallback_reason;
  std::vector<Attempt> attempts;  // cascades only
  Egress egress;                  // what left for the cloud, the route's intent question included
};

class Pipeline {
 public:
  explicit Pipeline(PipelineParts parts);

  // kNotFound for tandem/cloud or tandem/cascade without a cloud provider. A router model that fails (it should
  // not) is logged and the policy decides without it.
  // kNotFound also for a collection that does not exist.
  Result<Route> route(const providers::ChatRequest& request, router::RouteMode mode,
                      const RouteOptions& options = {}) const;

  // Generates where `route` says; streams to `on_delta` when it is not null.
  Result<Answer> answer(const providers::ChatRequest& request, const Route& route,
                        const providers::DeltaCallback* on_delta) const;

  bool has_cloud() const { return parts_.cloud != nullptr; }
  knowledge::KnowledgeBase* knowledge() const { return parts_.knowledge.get(); }
  // Where relearning stands; nullopt when it is off.
  std::optional<RelearningStatus> relearning() const;
  // Blocks until relearning has nothing due or running (tests and benchmarks); returns at once when off.
  void wait_for_relearning() const;

 private:
  std::shared_ptr<const router::Router> current_router() const;
  // Asks the cloud to classify `text`; when its answer names one of `intents`' labels, rewrites
  // `intent`, keeps the example (and hands it to relearning) and returns true. Notes go to `notes`.
  bool ask_cloud_for_intent(const router::IntentClassifier& intents, const std::string& text,
                            router::IntentPrediction& intent, Route& route, std::vector<std::string>& notes) const;
  // Retrieves for the latest user turn and decides whether the documents hold an answer.
  Status ground(const providers::ChatRequest& request, router::RouteMode mode, const RouteOptions& options,
                Route& route) const;
  Result<Answer> answer_grounded(const providers::ChatRequest& request, const Route& route,
                                 const providers::DeltaCallback* on_delta) const;
  // Local first, scored; the cloud when the score is too low. The local answer is held back (not
  // streamed) until it is accepted. The verdict is kept as a routing example.
  Result<Answer> cascade(const providers::ChatRequest& request, const Route& route,
                         const providers::DeltaCallback* on_delta) const;
  // The privacy stage: the request pseudonymized from `scanned` (one per message, from inspect()),
  // the egress audited (no audit entry, no egress), then the cloud's answer restored, deltas
  // included.
  Result<providers::ChatResult> ask_cloud(const providers::ChatRequest& request,
                                          const std::vector<ScannedMessage>& scanned, const std::string& tenant,
                                          const providers::DeltaCallback* on_delta, Egress& egress) const;
  // What the scanner finds in each message and what the privacy policy does with it.
  std::vector<ScannedMessage> inspect(const providers::ChatRequest& request) const;

  PipelineParts parts_;                                // parts_.router is moved into router_
  std::unique_ptr<LearnedExamples> learned_;           // intent examples
  std::unique_ptr<LearnedExamples> cascade_outcomes_;  // routing examples
  mutable std::mutex router_mutex_;
  std::shared_ptr<const router::Router> router_;  // replaced whole when relearning installs a classifier
  std::unique_ptr<IntentRelearner> relearner_;    // last: its thread stops before the rest goes
};

}  // namespace tandem::pipeline
