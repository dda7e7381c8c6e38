#include "router/policy.h"

#include <algorithm>
#include <fmt/format.h>

namespace tandem::router {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The private intent among the ranked labels that reaches the policy's probability, if any.
std::optional<std::pair<std::string, float>> private_intent(const IntentPrediction& intent,
                                                            const PolicyOptions& policy) {
  for (const auto& [label, probability] : intent.ranked) {
    if (contains(policy.private_intents, label) && probability >= policy.private_min_probability) {
      return std::make_pair(label, probability);
    }
  }
  return std::nullopt;
}

}  // namespace

bool may_leave_device(const IntentPrediction& intent, const PolicyOptions& policy) {
  return !intent.out_of_scope && !private_intent(intent, policy);
}

std::string_view route_target_name(RouteTarget target) { return target == RouteTarget::kCloud ? "cloud" : "local"; }

std::string_view route_mode_name(RouteMode mode) {
  switch (mode) {
    case RouteMode::kLocal:
      return "local";
    case RouteMode::kCloud:
      return "cloud";
    case RouteMode::kCascade:
      return "cascade";
    case RouteMode::kAuto:
      break;
  }
  return "auto";
}

Decision decide(RouteMode mode, const RouteSignals& signals, const PolicyOptions& policy) {
  Decision d;
  d.mode = mode;
  d.local_good_enough = signals.local_good_enough;
  if (signals.intent) {
    d.intent = signals.intent->label;
    d.intent_confidence = signals.intent->confidence;
    d.out_of_scope = signals.intent->out_of_scope;
  }
  auto local = [&](std::string reason) {
    d.target = RouteTarget::kLocal;
    d.reasons.push_back(std::move(reason));
    return d;
  };
  auto cloud = [&](std::string reason) {
    d.target = RouteTarget::kCloud;
    d.reasons.push_back(std::move(reason));
    return d;
  };

  if (mode == RouteMode::kLocal) return local("tandem/local requested");
  if (mode == RouteMode::kCloud) return cloud("tandem/cloud requested");
  if (!signals.held_on_device.empty()) return local(signals.held_on_device);

  if (signals.intent) {
    if (auto sensitive = private_intent(*signals.intent, policy)) {
      return local(fmt::format("intent '{}' (p={:.2f}) stays on the device", sensitive->first, sensitive->second));
    }
    if (signals.intent->out_of_scope) return local("out of scope: not worth a cloud call");
  }
  if (!signals.cloud_configured) return local("no cloud provider is configured");
  if (!signals.cloud_available) return local("the cloud provider is unavailable (circuit open)");
  if (mode == RouteMode::kCascade) {
    d.cascade = true;
    return local(fmt::format("cascade: the local model answers first; the cloud if its mean token log-probability "
                             "is below {:.2f}",
                             policy.cascade_min_mean_logprob));
  }

  if (signals.local_good_enough) {
    const float p = *signals.local_good_enough;
    if (p < policy.cloud_below) {
      return cloud(fmt::format("predicted local quality {:.2f} < {:.2f}: the large model is needed", p,
                               policy.cloud_below));
    }
    return local(fmt::format("predicted local quality {:.2f} >= {:.2f}: the small model suffices", p,
                             policy.cloud_below));
  }
  if (signals.intent && contains(policy.hard_intents, signals.intent->label) &&
      signals.intent->confidence >= policy.min_intent_confidence) {
    return cloud(fmt::format("intent '{}' (p={:.2f}) needs the large model", signals.intent->label,
                             signals.intent->confidence));
  }
  if (signals.intent) {
    return local(fmt::format("intent '{}' (p={:.2f}) is handled locally", signals.intent->label,
                             signals.intent->confidence));
  }
  return local("no router model: local by default");
}

}  // namespace tandem::router
