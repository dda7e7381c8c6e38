#include "pipeline/pipeline.h"

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "pipeline/intent_escalation.h"
#include "privacy/vault.h"

namespace tandem::pipeline {
namespace {

// What the router reads: the latest user turn, which is what the request asks now.
std::string routed_text(const providers::ChatRequest& request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role == "user" && !it->content.empty()) return it->content;
  }
  std::string all;
  for (const auto& m : request.messages) all += m.content + "\n";
  return all;
}

std::string type_list(const std::vector<privacy::EntityType>& types) {
  std::string out;
  for (auto type : types) out += (out.empty() ? "" : ", ") + std::string(privacy::entity_type_name(type));
  return out;
}

// The exact messages that leave, as the audit log hashes them.
std::string messages_json(const providers::ChatRequest& request) {
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  return messages.dump();
}

}  // namespace

void Egress::add(const Egress& other) {
  sent = sent || other.sent;
  for (size_t i = 0; i < pseudonymized.size(); ++i) pseudonymized[i] += other.pseudonymized[i];
}

Pipeline::Pipeline(PipelineParts parts) : parts_(std::move(parts)), router_(std::move(parts_.router)) {
  if (!parts_.learned_examples_path.empty())
    learned_ = std::make_unique<LearnedExamples>(parts_.learned_examples_path, parts_.learned_examples_key);
  if (!parts_.cascade_outcomes_path.empty())
    cascade_outcomes_ = std::make_unique<LearnedExamples>(parts_.cascade_outcomes_path, parts_.learned_examples_key);
  if (parts_.relearning.every > 0 && router_ && router_->intents()) {
    relearner_ = std::make_unique<IntentRelearner>(std::move(parts_.relearning), router_->embedder(),
                                                   [this](std::shared_ptr<const router::IntentClassifier> intents) {
                                                     std::lock_guard lock(router_mutex_);
                                                     router_ = router_->with_intents(std::move(intents));
                                                   });
  }
}

std::shared_ptr<const router::Router> Pipeline::current_router() const {
  std::lock_guard lock(router_mutex_);
  return router_;
}

std::optional<RelearningStatus> Pipeline::relearning() const {
  if (!relearner_) return std::nullopt;
  return relearner_->status();
}

void Pipeline::wait_for_relearning() const {
  if (relearner_) relearner_->wait_until_idle();
}

bool Pipeline::ask_cloud_for_intent(const router::IntentClassifier& intents, const std::string& text,
                                    router::IntentPrediction& intent, Route& route,
                                    std::vector<std::string>& notes) const {
  const auto& labels = intents.labels();
  const auto request = classification_request(text, labels);
  auto answer = ask_cloud(request, inspect(request), route.tenant, nullptr, route.intent_egress);
  if (!answer) {
    notes.push_back("asking the large model for the intent failed: " + answer.error().message);
    return false;
  }
  route.intent_from_cloud_cost_usd = answer->cost_usd;
  auto label = parse_classification(answer->text, labels);
  if (!label) {
    notes.push_back("the large model's intent answer named no known label");
    return false;
  }
  notes.push_back(fmt::format("the small model was unsure ('{}', p={:.2f}); the large model says '{}'", intent.label,
                              intent.confidence, *label));
  intent.label = *label;
  intent.out_of_scope = *label == intents.oos_label();
  const auto example = intent_example(text, *label);
  if (learned_) {
    if (auto st = learned_->append(example); !st) {
      TANDEM_LOG(kWarn, "pipeline", "{}", st.error().message);
      notes.push_back("the learned example was not kept: " + st.error().message);
    }
  }
  // Learned in memory even when the file could not take it: it is a good example all the same.
  if (relearner_) relearner_->add({example["text"].get<std::string>(), *label});
  return true;
}

Status Pipeline::ground(const providers::ChatRequest& request, router::RouteMode mode, const RouteOptions& options,
                        Route& route) const {
  if (!parts_.knowledge || options.knowledge == KnowledgeUse::kNever) {
    if (options.knowledge == KnowledgeUse::kAlways) {
      return make_error(ErrorCode::kNotFound, "no knowledge base is configured");
    }
    return {};
  }
  const bool wanted = options.knowledge == KnowledgeUse::kAlways ||
                      (!route.decision.intent.empty() && route.decision.intent == parts_.documents_intent);
  if (!wanted) return {};
  if (mode == router::RouteMode::kCloud) {
    route.decision.reasons.push_back(
        "tandem/cloud: the documents stay on this device, so the cloud answers without them");
    return {};
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string question = routed_text(request);
  auto search = parts_.knowledge_search;
  if (!options.collections.empty()) search.collections = options.collections;
  auto found = parts_.knowledge->search(question, search);
  route.retrieval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!found) return found.error();
  route.grounded = knowledge::ground(question, *found, parts_.grounding);
  route.decision.target = router::RouteTarget::kLocal;
  route.decision.cascade = false;
  route.decision.reasons.push_back(
      route.grounded->found
          ? fmt::format(
                "answered from {} passages of your documents (best similarity {:.2f}), which stay on this device",
                route.grounded->citations.size(), found->top_similarity)
          : fmt::format("your documents hold no answer (best similarity {:.2f}), so none is invented",
                        found->top_similarity));
  return {};
}

Result<Route> Pipeline::route(const providers::ChatRequest& request, router::RouteMode mode,
                              const RouteOptions& options) const {
  const auto start = std::chrono::steady_clock::now();
  if ((mode == router::RouteMode::kCloud || mode == router::RouteMode::kCascade) && !parts_.cloud) {
    return make_error(ErrorCode::kNotFound, fmt::format("tandem/{} needs a cloud provider; none is configured "
                                                        "(cloud.base_url)",
                                                        router::route_mode_name(mode)));
  }
  router::RouteSignals signals;
  signals.cloud_configured = parts_.cloud != nullptr;
  signals.cloud_available = parts_.cloud && parts_.cloud->available();
  std::vector<std::string> notes;
  Route route;
  route.tenant = options.tenant;
  route.privacy = inspect(request);
  for (const auto& message : route.privacy) {
    for (auto type : message.inspection.blocked) {
      if (std::find(route.blocked.begin(), route.blocked.end(), type) == route.blocked.end()) {
        route.blocked.push_back(type);
      }
    }
  }
  if (!route.blocked.empty() && mode == router::RouteMode::kCloud) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("the request holds {}, which the privacy policy (privacy.block) never sends to a "
                                  "public model; ask tandem/local or tandem/auto",
                                  type_list(route.blocked)));
  }
  if (!route.blocked.empty()) {
    signals.held_on_device =
        fmt::format("the request holds {}, which the privacy policy keeps on this device", type_list(route.blocked));
  }
  bool intent_from_cloud = false;
  if (mode == router::RouteMode::kAuto || mode == router::RouteMode::kCascade) {
    if (const auto router = current_router()) {
      const std::string text = routed_text(request);
      if (auto understood = router->understand(text)) {
        signals.intent = std::move(understood->intent);
        signals.local_good_enough = understood->local_good_enough;
        const float ask_below = parts_.policy.ask_cloud_below;
        const bool unsure = signals.intent && (ask_below >= 1.0F || signals.intent->confidence < ask_below);
        if (unsure && signals.cloud_available && signals.held_on_device.empty() &&
            router::may_leave_device(*signals.intent, parts_.policy)) {
          intent_from_cloud = ask_cloud_for_intent(*router->intents(), text, *signals.intent, route, notes);
        }
      } else {
        TANDEM_LOG(kWarn, "pipeline", "the router failed: {}", understood.error().message);
        notes.push_back("the router failed: " + understood.error().message);
      }
    }
  }
  auto policy = parts_.policy;
  if (parts_.cloud_share && signals.local_good_enough) {
    policy.cloud_below = parts_.cloud_share->threshold_then_observe(*signals.local_good_enough);
  }
  route.decision = router::decide(mode, signals, policy);
  route.decision.intent_from_cloud = intent_from_cloud;
  route.decision.reasons.insert(route.decision.reasons.begin(), notes.begin(), notes.end());
  if (auto st = ground(request, mode, options, route); !st) return st.error();
  route.estimated_prompt_tokens = engine::approximate_tokens(request.messages);
  if (parts_.cloud) {
    route.estimated_cloud_cost_usd = parts_.cloud->cost_usd(route.estimated_prompt_tokens, request.sampling.max_tokens);
  }
  route.router_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return route;
}

Result<Answer> Pipeline::cascade(const providers::ChatRequest& request, const Route& route,
                                 const providers::DeltaCallback* on_delta) const {
  Answer answer;
  answer.route = route;
  answer.egress = route.intent_egress;
  auto scored = request;
  scored.sampling.score_tokens = true;
  auto local = parts_.local->complete(scored);
  Attempt first;
  first.provider = parts_.local->name();
  if (local) {
    first.confidence = local->confidence;
    first.elapsed_ms = local->elapsed_ms;
    // An empty answer has nothing to be sure of.
    first.accepted = local->confidence && local->confidence->mean_logprob >= parts_.policy.cascade_min_mean_logprob;
  } else {
    first.error = local.error().message;
  }
  answer.attempts.push_back(first);
  const bool cancelled = request.cancel && request.cancel->load();
  if (cascade_outcomes_ && first.confidence && !cancelled) {
    const auto example = routing_example(routed_text(request), first.accepted, first.confidence->mean_logprob);
    if (auto st = cascade_outcomes_->append(example); !st) {
      TANDEM_LOG(kWarn, "pipeline", "{}", st.error().message);
      answer.route.decision.reasons.push_back("the cascade's verdict was not kept: " + st.error().message);
    }
  }
  if (!first.accepted && !cancelled) {
    Attempt second;
    second.target = router::RouteTarget::kCloud;
    second.provider = parts_.cloud->name();
    auto cloud = ask_cloud(request, route.privacy, route.tenant, on_delta, answer.egress);
    if (cloud) {
      second.accepted = true;
      second.cost_usd = cloud->cost_usd;
      second.elapsed_ms = cloud->elapsed_ms;
      answer.attempts.push_back(second);
      answer.result = std::move(*cloud);
      answer.answered_by = router::RouteTarget::kCloud;
      return answer;
    }
    second.error = cloud.error().message;
    answer.attempts.push_back(second);
    if (!local) return cloud.error();
    answer.fallback = true;
    answer.fallback_reason = fmt::format("the cloud failed ({}), so the local answer stands", cloud.error().message);
  }
  if (!local) return local.error();
  if (on_delta && !local->text.empty()) (*on_delta)(local->text);
  answer.result = std::move(*local);
  return answer;
}

std::vector<ScannedMessage> Pipeline::inspect(const providers::ChatRequest& request) const {
  std::vector<ScannedMessage> scanned;
  for (const auto& message : request.messages) {
    scanned.push_back({.content_hash = std::hash<std::string>{}(message.content)});
    if (parts_.pii) scanned.back().inspection = parts_.privacy_policy.inspect(parts_.pii->scan(message.content));
  }
  return scanned;
}

Result<providers::ChatResult> Pipeline::ask_cloud(const providers::ChatRequest& request,
                                                  const std::vector<ScannedMessage>& scanned,
                                                  const std::string& tenant, const providers::DeltaCallback* on_delta,
                                                  Egress& egress) const {
  const bool as_scanned =
      scanned.size() == request.messages.size() &&
      std::equal(scanned.begin(), scanned.end(), request.messages.begin(), [](const auto& s, const auto& message) {
        return s.content_hash == std::hash<std::string>{}(message.content);
      });
  if (!as_scanned) {
    return make_error(ErrorCode::kInternal, "the request sent to the cloud is not the one its route was made for");
  }
  // One vault for the whole conversation: a value gets the same placeholder in every turn.
  privacy::Vault vault;
  providers::ChatRequest outgoing = request;
  for (const auto& message : outgoing.messages) vault.reserve_placeholders_in(message.content);
  for (size_t i = 0; i < outgoing.messages.size(); ++i) {
    const privacy::Inspection& inspection = scanned[i].inspection;
    if (!inspection.blocked.empty()) {  // route() keeps such requests local; this guards any other path
      return make_error(ErrorCode::kInvalidArgument, fmt::format("the request holds {}, which the privacy "
                                                                 "policy never sends to a public model",
                                                                 type_list(inspection.blocked)));
    }
    outgoing.messages[i].content = vault.pseudonymize(outgoing.messages[i].content, inspection.pseudonymize);
  }
  // A value found anywhere in the conversation leaves nowhere in clear: not where the detectors
  // missed a repetition of it, nor in a stop string.
  for (auto& message : outgoing.messages) message.content = vault.replace_known(message.content);
  for (auto& stop : outgoing.sampling.stop) stop = vault.replace_known(stop);
  if (parts_.audit) {
    privacy::AuditEntry entry;
    entry.tenant = tenant;
    entry.provider = parts_.cloud->name();
    entry.model = parts_.cloud->model();
    for (const auto& [name, n] : privacy::counts_by_name(vault.counts())) entry.pseudonymized[name] = n;
    const std::string sent = messages_json(outgoing);
    entry.sent_sha256 = sha256_hex(sent);
    entry.sent_bytes = static_cast<int64_t>(sent.size());
    // No entry, no egress: a log that cannot be written keeps the text here.
    if (auto st = parts_.audit->append(std::move(entry)); !st) {
      return make_error(ErrorCode::kUnavailable,
                        "the audit log could not record the request, so it was not sent: " + st.error().message);
    }
  }
  egress.sent = true;
  const auto counts = vault.counts();
  for (size_t i = 0; i < counts.size(); ++i) egress.pseudonymized[i] += counts[i];
  Result<providers::ChatResult> result = make_error(ErrorCode::kInternal, "unreachable");
  if (on_delta) {
    privacy::StreamRestorer restorer(vault);
    bool go_on = true;
    providers::DeltaCallback restoring = [&](std::string_view delta) {
      const std::string ready = restorer.push(delta);
      if (!ready.empty()) go_on = (*on_delta)(ready);
      return go_on;
    };
    result = parts_.cloud->stream(outgoing, restoring);
    if (const std::string rest = restorer.finish(); go_on && !rest.empty()) (*on_delta)(rest);
  } else {
    result = parts_.cloud->complete(outgoing);
  }
  if (result) result->text = vault.restore(result->text);
  return result;
}

Result<Answer> Pipeline::answer_grounded(const providers::ChatRequest& request, const Route& route,
                                         const providers::DeltaCallback* on_delta) const {
  Answer answer;
  answer.route = route;
  answer.answered_by = router::RouteTarget::kLocal;
  const knowledge::Grounded& grounded = *route.grounded;
  if (!grounded.found) {
    answer.result.text = grounded.not_found_answer;
    answer.result.provider = "knowledge";
    answer.result.model = "knowledge";
    if (on_delta) (*on_delta)(answer.result.text);
    return answer;
  }
  // The passages (the system turn) replace any system prompt; the conversation follows.
  providers::ChatRequest with_passages = request;
  with_passages.messages = {grounded.messages.front()};
  for (const auto& message : request.messages) {
    if (message.role != "system") with_passages.messages.push_back(message);
  }
  auto result = on_delta ? parts_.local->stream(with_passages, *on_delta) : parts_.local->complete(with_passages);
  if (!result) return result.error();
  answer.result = std::move(*result);
  return answer;
}

Result<Answer> Pipeline::answer(const providers::ChatRequest& request, const Route& route,
                                const providers::DeltaCallback* on_delta) const {
  if (route.grounded) return answer_grounded(request, route, on_delta);
  if (route.decision.cascade) return cascade(request, route, on_delta);
  size_t deltas = 0;
  providers::DeltaCallback counting = [&](std::string_view delta) {
    ++deltas;
    return (*on_delta)(delta);
  };
  Answer answer;
  answer.route = route;
  answer.egress = route.intent_egress;
  const bool to_cloud = route.decision.target == router::RouteTarget::kCloud;
  answer.answered_by = route.decision.target;
  auto generate_locally = [&] {
    return on_delta ? parts_.local->stream(request, counting) : parts_.local->complete(request);
  };
  auto result =
      to_cloud ? ask_cloud(request, route.privacy, route.tenant, on_delta ? &counting : nullptr, answer.egress)
               : generate_locally();
  const bool cancelled = request.cancel && request.cancel->load();
  if (!result && to_cloud && deltas == 0 && !cancelled) {
    // Nothing reached the client yet, so the local model can still answer the whole request.
    answer.fallback = true;
    answer.fallback_reason = fmt::format("the cloud failed ({}), so the local model answered", result.error().message);
    TANDEM_LOG(kWarn, "pipeline", "{}", answer.fallback_reason);
    answer.answered_by = router::RouteTarget::kLocal;
    auto local = generate_locally();
    // The cloud's failure is what the client must hear (a retryable 502/503), not why the smaller
    // local model could not stand in (a prompt over its context would read as the client's fault).
    if (!local) {
      return make_error(result.error().code, fmt::format("{}; the local model could not answer instead: {}",
                                                         result.error().message, local.error().message));
    }
    result = std::move(local);
  }
  if (!result) return result.error();
  answer.result = std::move(*result);
  return answer;
}

}  // namespace tandem::pipeline
