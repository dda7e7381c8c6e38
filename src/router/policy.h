// Where a request runs: the routing policy turns what the router understood (intent, predicted
// local quality) and what the caller asked for (tandem/auto | tandem/local | tandem/cloud) into a
// decision with its reasons. Privacy comes first: a request that may be sensitive or about the
// user's own documents stays on the device whatever the quality prediction says.
//
//   auto decision = router::decide(RouteMode::kAuto, signals, policy);
//   // decision.target == RouteTarget::kLocal, decision.reasons == {"intent 'sensitive' ..."}
//
// Thread-safety: pure function over value types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "router/router.h"

namespace tandem::router {

// kCascade: the local model answers first; the cloud only when that answer scores too low.
enum class RouteMode { kAuto, kLocal, kCloud, kCascade };
enum class RouteTarget { kLocal, kCloud };
std::string_view route_target_name(RouteTarget target);  // "local", "cloud"
std::string_view route_mode_name(RouteMode mode);        // "auto", "local", "cloud", "cascade"

struct PolicyOptions {
  // Intents that never leave the device; a request counts as one when such an intent has at
  // least `private_min_probability`, even if another intent ranks first.
  std::vector<std::string> private_intents = {"sensitive", "documents"};
  float private_min_probability = 0.2F;
  // Without a quality-gap model, these intents go to the cloud when the classifier is confident.
  std::vector<std::string> hard_intents = {"reasoning", "code", "writing"};
  float min_intent_confidence = 0.5F;
  // Below this intent confidence the large model is asked to classify the request (when it may
  // leave the device and the cloud is up). 0: never; 1: always.
  float ask_cloud_below = 0.5F;
  // With a quality-gap model: the cloud answers when the predicted chance that the local answer
  // is good enough falls below this (QualityGapModel::threshold_for_cloud_share sets it).
  float cloud_below = 0.5F;
  // Cascade: the local answer stands when its mean token log-probability reaches this.
  double cascade_min_mean_logprob = -1.0;
};

struct RouteSignals {
  std::optional<IntentPrediction> intent;  // absent: no intent model
  std::optional<float> local_good_enough;  // absent: no quality-gap model
  bool cloud_configured = false;
  bool cloud_available = false;  // its circuit breaker lets calls through
  // Non-empty: why the privacy policy keeps this request on the device. It decides before
  // anything else, and is the reason given (not the cloud's health).
  std::string held_on_device;
};

struct Decision {
  RouteMode mode = RouteMode::kAuto;
  RouteTarget target = RouteTarget::kLocal;
  std::string intent;  // empty without an intent model
  float intent_confidence = 0;
  bool intent_from_cloud = false;  // the small model was unsure and the large one classified it
  bool out_of_scope = false;
  bool cascade = false;  // target is local, and the pipeline may escalate its answer to the cloud
  std::optional<float> local_good_enough;
  std::vector<std::string> reasons;  // in the order they were weighed, the deciding one last
};

Decision decide(RouteMode mode, const RouteSignals& signals, const PolicyOptions& policy);

// False when any private intent reaches the policy's probability, or the request is out of scope:
// such text is not sent to the cloud, not even to be classified.
bool may_leave_device(const IntentPrediction& intent, const PolicyOptions& policy);

}  // namespace tandem::router
