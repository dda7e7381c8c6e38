// The L-BFGS-trained softmax regression: it learns, reaches the optimum of its objective (the
// gradient vanishes there), leaves untouched rows at zero, and gives the same model on more threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "router/softmax_regression.h"

namespace tandem::router {
namespace {

struct Problem {
  std::vector<SparseVector> inputs;
  std::vector<int32_t> labels;
};

// Three classes, each marked by its own feature (0..2), with two noise features (3, 4) and
// `flipped` of the labels drawn at random, so the classes overlap and the optimum is finite.
Problem noisy_classes(int n, double flipped) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> noise(0.0F, 0.3F);
  std::bernoulli_distribution flip(flipped);
  std::uniform_int_distribution<int32_t> any_label(0, 2);
  Problem problem;
  for (int i = 0; i < n; ++i) {
    const int32_t y = i % 3;
    problem.inputs.push_back({{static_cast<uint32_t>(y), 1.0F}, {3, noise(rng)}, {4, noise(rng)}});
    problem.labels.push_back(flip(rng) ? any_label(rng) : y);
  }
  return problem;
}

// The gradient of the mean cross-entropy + l2/2 |weights|^2 at the model's weights, in double.
std::vector<double> objective_gradient(const SoftmaxRegression& model, const Problem& problem, double l2) {
  const auto c = static_cast<size_t>(model.classes());
  const auto& w = model.weights();
  std::vector<double> gradient(w.size(), 0.0);
  for (size_t i = 0; i < problem.inputs.size(); ++i) {
    std::vector<float> p(c);
    model.logits(problem.inputs[i], p);
    softmax(p);
    p[static_cast<size_t>(problem.labels[i])] -= 1.0F;
    for (const auto& feature : problem.inputs[i]) {
      for (size_t k = 0; k < c; ++k) gradient[feature.index * c + k] += feature.value * p[k];
    }
    for (size_t k = 0; k < c; ++k) gradient[model.dimensions() * c + k] += p[k];
  }
  for (size_t j = 0; j < gradient.size(); ++j) {
    gradient[j] /= static_cast<double>(problem.inputs.size());
    if (j < model.dimensions() * c) gradient[j] += l2 * w[j];
  }
  return gradient;
}

TEST(SoftmaxRegressionTest, LearnsSeparableClassesAndGivesProbabilities) {
  const auto problem = noisy_classes(300, 0.0);
  SoftmaxRegression model(5, 3);
  TrainingOptions options;
  int32_t last_seen = 0;
  options.on_iteration = [&](int32_t iteration, int32_t most) {
    EXPECT_EQ(most, options.max_iterations);
    EXPECT_EQ(iteration, last_seen + 1);
    last_seen = iteration;
  };
  const int32_t iterations = model.train(problem.inputs, problem.labels, options);
  EXPECT_EQ(iterations, last_seen);
  EXPECT_GT(iterations, 0);
  EXPECT_LE(iterations, options.max_iterations);
  for (size_t i = 0; i < problem.inputs.size(); ++i) {
    std::vector<float> p(3);
    model.logits(problem.inputs[i], p);
    softmax(p);
    EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-5);
    EXPECT_GT(p[static_cast<size_t>(problem.labels[i])], 0.8F) << i;
  }
}

TEST(SoftmaxRegressionTest, ReachesTheOptimumAndLeavesUnusedRowsAtZero) {
  const auto problem = noisy_classes(600, 0.3);
  SoftmaxRegression model(7, 3);  // features 5 and 6 never occur
  TrainingOptions options;
  options.l2 = 0.01F;
  options.tolerance = 1e-9;
  const int32_t cold = model.train(problem.inputs, problem.labels, options);
  for (double g : objective_gradient(model, problem, options.l2)) EXPECT_NEAR(g, 0.0, 1e-4);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(model.weights()[5 * 3 + k], 0.0F);
    EXPECT_EQ(model.weights()[6 * 3 + k], 0.0F);
  }

  // Started at the optimum, it stops within a few iterations and stays there.
  SoftmaxRegression warm(7, 3);
  warm.set_weights(model.weights());
  EXPECT_LT(warm.train(problem.inputs, problem.labels, options), cold / 2);
  for (size_t j = 0; j < model.weights().size(); ++j) EXPECT_NEAR(warm.weights()[j], model.weights()[j], 1e-3);
}

TEST(SoftmaxRegressionTest, MoreThreadsGiveTheSameModel) {
  const auto problem = noisy_classes(3000, 0.3);
  TrainingOptions options;
  options.l2 = 0.01F;
  SoftmaxRegression one(5, 3);
  one.train(problem.inputs, problem.labels, options);
  options.threads = 4;
  SoftmaxRegression four(5, 3);
  four.train(problem.inputs, problem.labels, options);
  // Sums in another order differ in the last bits only.
  for (size_t j = 0; j < one.weights().size(); ++j) EXPECT_NEAR(four.weights()[j], one.weights()[j], 1e-3);
}

}  // namespace
}  // namespace tandem::router
