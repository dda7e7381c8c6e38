#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "core/statistics.h"
#include "router/cloud_share.h"
#include "router/router.h"

namespace tandem::router {
namespace {

// Runs `call` once per item, one at a time, as requests arrive in production; returns milliseconds.
template <typename Call>
Result<std::vector<double>> timed_one_by_one(size_t count, Call&& call) {
  std::vector<double> latencies;
  latencies.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (auto st = call(i); !st) return st.error();
    latencies.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return latencies;
}

}  // namespace

Result<IntentEvaluation> evaluate_intents(const IntentClassifier& classifier,
                                          const std::vector<IntentExample>& examples) {
  const auto& labels = classifier.labels();
  for (const auto& e : examples) {
    if (e.label != classifier.oos_label() && std::find(labels.begin(), labels.end(), e.label) == labels.end()) {
      return make_error(ErrorCode::kInvalidArgument, "the label \"" + e.label + "\" is not one the model was trained on");
    }
  }
  IntentEvaluation eval;
  size_t in_scope_right = 0;
  size_t top1_right = 0;
  size_t oos_found = 0;
  size_t oos_predicted = 0;
  auto latencies = timed_one_by_one(examples.size(), [&](size_t i) -> Status {
    auto prediction = classifier.classify(examples[i].text);
    if (!prediction) return prediction.error();
    const bool truly_oos = examples[i].label == classifier.oos_label();
    eval.out_of_scope += truly_oos ? 1 : 0;
    oos_predicted += prediction->out_of_scope ? 1 : 0;
    if (truly_oos && prediction->out_of_scope) ++oos_found;
    if (!truly_oos && !prediction->out_of_scope && prediction->label == examples[i].label) ++in_scope_right;
    if (!truly_oos && prediction->ranked.front().first == examples[i].label) ++top1_right;
    return {};
  });
  if (!latencies) return latencies.error();
  eval.n = examples.size();
  eval.in_scope = eval.n - eval.out_of_scope;
  auto ratio = [](size_t a, size_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); };
  eval.in_scope_accuracy = ratio(in_scope_right, eval.in_scope);
  eval.top1_accuracy = ratio(top1_right, eval.in_scope);
  eval.oos_recall = ratio(oos_found, eval.out_of_scope);
  eval.oos_precision = ratio(oos_found, oos_predicted);
  eval.latency_ms_p50 = percentile(*latencies, 0.50);
  eval.latency_ms_p95 = percentile(*latencies, 0.95);
  return eval;
}

Result<LatencyEvaluation> evaluate_latency(const Router& router, const std::vector<std::string>& texts) {
  auto latencies = timed_one_by_one(texts.size(), [&](size_t i) -> Status {
    auto understood = router.understand(texts[i]);
    return understood ? Status{} : Status{understood.error()};
  });
  if (!latencies) return latencies.error();
  return LatencyEvaluation{texts.size(), percentile(*latencies, 0.50), percentile(*latencies, 0.95)};
}

RoutingEvaluation routing_curve(const std::vector<float>& local_good_enough, const std::vector<RoutingExample>& examples) {
  RoutingEvaluation eval;
  const size_t n = examples.size();
  eval.n = n;
  if (n == 0) return eval;
  double weak = 0;
  double strong = 0;
  for (const auto& e : examples) {
    weak += e.weak_correct ? 1 : 0;
    strong += e.strong_correct ? 1 : 0;
  }
  eval.weak_accuracy = weak / static_cast<double>(n);
  eval.strong_accuracy = strong / static_cast<double>(n);
  const double gap = eval.strong_accuracy - eval.weak_accuracy;

  // The cloud takes the prompts least likely to be fine locally first.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return local_good_enough[a] < local_good_enough[b]; });
  std::vector<double> accuracy(n + 1);
  double correct = weak;
  accuracy[0] = correct / static_cast<double>(n);
  for (size_t k = 1; k <= n; ++k) {
    const auto& e = examples[order[k - 1]];
    correct += (e.strong_correct ? 1 : 0) - (e.weak_correct ? 1 : 0);
    accuracy[k] = correct / static_cast<double>(n);
  }
  auto pgr = [&](size_t k) { return gap > 0 ? (accuracy[k] - eval.weak_accuracy) / gap : 0.0; };

  // RouteLLM's definitions (arXiv 2406.18665, routellm/evals): eleven cloud shares 0%, 10%, ...
  // 100%; APGR is the trapezoid area under PGR over them, CPT(p) the share where the straight
  // lines between them first reach PGR p.
  constexpr int kPoints = 11;
  std::vector<double> share(kPoints);
  std::vector<double> points(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    const auto k = static_cast<size_t>(std::lround(i / 10.0 * static_cast<double>(n)));
    share[static_cast<size_t>(i)] = static_cast<double>(k) / static_cast<double>(n);
    points[static_cast<size_t>(i)] = pgr(k);
  }
  for (size_t i = 1; i < kPoints; ++i) eval.apgr += (points[i - 1] + points[i]) / 2 * (share[i] - share[i - 1]);
  auto cpt = [&](double target) {
    if (points[0] >= target) return 0.0;
    for (size_t i = 1; i < kPoints; ++i) {
      if (points[i] >= target) {
        const double t = (target - points[i - 1]) / (points[i] - points[i - 1]);
        return 100.0 * (share[i - 1] + t * (share[i] - share[i - 1]));
      }
    }
    return 100.0;
  };
  eval.cpt50 = cpt(0.5);
  eval.cpt80 = cpt(0.8);
  for (int percent = 0; percent <= 100; ++percent) {
    const auto k = static_cast<size_t>(std::lround(percent / 100.0 * static_cast<double>(n)));
    eval.curve.push_back({static_cast<double>(k) / static_cast<double>(n), accuracy[k], pgr(k)});
  }
  return eval;
}

Result<RoutingEvaluation> evaluate_routing(const QualityGapModel& model, const std::vector<RoutingExample>& examples,
                                           std::optional<double> target_cloud_share) {
  std::vector<float> scores(examples.size());
  auto latencies = timed_one_by_one(examples.size(), [&](size_t i) -> Status {
    auto score = model.local_good_enough(examples[i].prompt);
    if (!score) return score.error();
    scores[i] = *score;
    return {};
  });
  if (!latencies) return latencies.error();
  auto eval = routing_curve(scores, examples);
  eval.latency_ms_p50 = percentile(*latencies, 0.50);
  eval.latency_ms_p95 = percentile(*latencies, 0.95);
  if (target_cloud_share && !examples.empty()) {
    const float calibrated = model.threshold_for_cloud_share(*target_cloud_share);
    CloudShareController controller(*target_cloud_share, calibrated);
    size_t to_cloud = 0;
    size_t correct = 0;
    size_t online_to_cloud = 0;
    size_t online_correct = 0;
    for (size_t i = 0; i < examples.size(); ++i) {
      auto outcome = [&](bool cloud) { return cloud ? examples[i].strong_correct : examples[i].weak_correct; };
      const bool cloud = scores[i] < calibrated;
      to_cloud += cloud ? 1 : 0;
      correct += outcome(cloud) ? 1 : 0;
      const bool online = scores[i] < controller.threshold_then_observe(scores[i]);
      online_to_cloud += online ? 1 : 0;
      online_correct += outcome(online) ? 1 : 0;
    }
    const auto n = static_cast<double>(examples.size());
    eval.target_cloud_share = target_cloud_share;
    eval.achieved_cloud_share = static_cast<double>(to_cloud) / n;
    eval.accuracy_at_target = static_cast<double>(correct) / n;
    eval.online_cloud_share = static_cast<double>(online_to_cloud) / n;
    eval.online_accuracy = static_cast<double>(online_correct) / n;
  }
  return eval;
}

}  // namespace tandem::router
