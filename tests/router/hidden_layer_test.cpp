// The hidden-layer head: it learns XOR-like classes that no linear head can separate, training is
// deterministic for a seed, and the analytic gradient is the objective's.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "router/hidden_layer.h"

namespace tandem::router {
namespace {

struct DenseProblem {
  std::vector<std::vector<float>> inputs;
  std::vector<int32_t> labels;
};

// Points around the four corners of a square; opposite corners share a label (XOR).
DenseProblem xor_corners(int n) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> jitter(0.0F, 0.1F);
  DenseProblem problem;
  for (int i = 0; i < n; ++i) {
    const float a = (i & 1) ? 1.0F : -1.0F;
    const float b = (i & 2) ? 1.0F : -1.0F;
    problem.inputs.push_back({a + jitter(rng), b + jitter(rng)});
    problem.labels.push_back(a * b > 0 ? 1 : 0);
  }
  return problem;
}

double accuracy_of(const HiddenLayerNetwork& network, const DenseProblem& problem) {
  size_t right = 0;
  for (size_t i = 0; i < problem.inputs.size(); ++i) {
    std::vector<float> z(2, 0.0F);
    network.add_logits(problem.inputs[i], z);
    right += static_cast<size_t>((z[1] > z[0]) == (problem.labels[i] == 1));
  }
  return static_cast<double>(right) / static_cast<double>(problem.inputs.size());
}

TEST(HiddenLayerNetworkTest, SeparatesXorWhichTheLinearHeadCannot) {
  const auto problem = xor_corners(400);
  TrainingOptions options;
  options.l2 = 1e-4F;
  HiddenLayerNetwork network(2, 16, 2, 1);
  EXPECT_GT(network.train(problem.inputs, problem.labels, options), 0);
  EXPECT_GE(accuracy_of(network, problem), 0.99);

  std::vector<SparseVector> sparse;
  for (const auto& x : problem.inputs) sparse.push_back({{0, x[0]}, {1, x[1]}});
  SoftmaxRegression linear(2, 2);
  linear.train(sparse, problem.labels, options);
  size_t right = 0;
  for (size_t i = 0; i < sparse.size(); ++i) {
    std::vector<float> z(2);
    linear.logits(sparse[i], z);
    right += static_cast<size_t>((z[1] > z[0]) == (problem.labels[i] == 1));
  }
  EXPECT_LT(static_cast<double>(right) / static_cast<double>(sparse.size()), 0.75);
}

TEST(HiddenLayerNetworkTest, TrainingIsDeterministicForASeedAndAddsToTheLogits) {
  const auto problem = xor_corners(200);
  TrainingOptions options;
  options.max_iterations = 50;
  HiddenLayerNetwork first(2, 8, 2, 7);
  HiddenLayerNetwork second(2, 8, 2, 7);
  first.train(problem.inputs, problem.labels, options);
  second.train(problem.inputs, problem.labels, options);
  EXPECT_EQ(first.parameters(), second.parameters());
  EXPECT_NE(first.parameters(), HiddenLayerNetwork(2, 8, 2, 8).parameters());

  std::vector<float> alone(2, 0.0F);
  std::vector<float> offset = {10.0F, -10.0F};
  first.add_logits(problem.inputs[0], alone);
  first.add_logits(problem.inputs[0], offset);
  EXPECT_FLOAT_EQ(offset[0], 10.0F + alone[0]);
  EXPECT_FLOAT_EQ(offset[1], -10.0F + alone[1]);
}

TEST(HiddenLayerNetworkTest, MoreThreadsGiveTheSameNetwork) {
  const auto problem = xor_corners(2000);
  TrainingOptions options;
  options.max_iterations = 40;
  HiddenLayerNetwork one(2, 8, 2, 3);
  one.train(problem.inputs, problem.labels, options);
  options.threads = 4;
  HiddenLayerNetwork four(2, 8, 2, 3);
  four.train(problem.inputs, problem.labels, options);
  // Sums in another order differ in the last bits, which the optimiser may amplify a little.
  for (size_t j = 0; j < one.parameters().size(); ++j) EXPECT_NEAR(four.parameters()[j], one.parameters()[j], 1e-2);
  EXPECT_NEAR(accuracy_of(four, problem), accuracy_of(one, problem), 0.01);
}

}  // namespace
}  // namespace tandem::router
