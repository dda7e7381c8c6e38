// `tandem router train-intents | eval-intents | classify | train-routing | eval-routing`:
// training and evaluating the router's models on the user's own JSON Lines data.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/keyring_setup.h"
#include "cli/pipeline_setup.h"
#include "cli/progress_bar.h"
#include "privacy/sealed_file.h"
#include "router/router.h"

namespace tandem::cli {
namespace {

struct RouterArgs {
  std::string data;
  std::string out;
  std::string model;
  std::string oos_label = "oos";
  bool json = false;
  int32_t threads = 0;  // 0: the config's
  std::optional<double> cloud_share;
  router::IntentTrainOptions train;
  std::vector<std::string> texts;
  std::vector<std::string> data_files;
  std::string quality_model;
};

// The examples of every file, in order.
template <typename Example>
Result<std::vector<Example>> read_all(const std::vector<std::string>& files,
                                      const std::function<Result<std::vector<Example>>(const std::string&)>& read) {
  std::vector<Example> all;
  for (const auto& file : files) {
    auto examples = read(file);
    if (!examples) return examples.error();
    all.insert(all.end(), examples->begin(), examples->end());
  }
  return all;
}

// The keyring's "router" data key when one of `files` is sealed (the learned examples), else nullopt.
Result<std::optional<privacy::Key>> sealed_examples_key(const GlobalOptions& global,
                                                        const std::vector<std::string>& files) {
  for (const auto& file : files) {
    if (auto sealed = privacy::is_sealed_file(file); !sealed || !*sealed) continue;
    auto config = global.load();
    if (!config) return make_error(ErrorCode::kInvalidArgument, "the configuration is not valid");
    return data_key(*config, kRouterKey);
  }
  return std::optional<privacy::Key>();
}

// Prints "tandem router <cmd>: <error>" and sets the exit code; returns false on error.
bool report(const Status& status, std::string_view command, int& exit_code, ProgressBar* bar = nullptr) {
  if (status) return true;
  if (bar) bar->end_line();
  std::cerr << "tandem router " << command << ": " << status.error().message << "\n";
  exit_code = status.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  return false;
}

// Training embeds in large batches; evaluation one request at a time, as in production.
enum class Workload { kBatches, kOneByOne };

template <typename T>
bool report(const Result<T>& result, std::string_view command, int& exit_code, ProgressBar* bar = nullptr) {
  return report(result ? Status{} : Status{result.error()}, command, exit_code, bar);
}

// One JSON object, or "key: value" lines for people.
void print(const nlohmann::ordered_json& out, bool json) {
  if (json) {
    std::cout << out.dump() << "\n";
    return;
  }
  for (const auto& [key, value] : out.items()) std::cout << key << ": " << value.dump() << "\n";
}

Result<std::shared_ptr<engine::Embedder>> load_embedder(const Config& config, int32_t threads, Workload workload) {
  auto options = router_embedder_options(config);
  if (!options) return options.error();
  if (threads > 0) options->threads = threads;
  options->flash_attention = workload == Workload::kBatches;
  auto embedder = engine::Embedder::load(*options);
  if (!embedder) return embedder.error();
  return std::shared_ptr<engine::Embedder>(std::move(*embedder));
}

Result<std::shared_ptr<engine::Embedder>> load_embedder(const GlobalOptions& global, int32_t threads,
                                                        Workload workload) {
  auto config = global.load();
  if (!config) return make_error(ErrorCode::kInvalidArgument, "invalid configuration");
  return load_embedder(*config, threads, workload);
}

void add_training_options(CLI::App* cmd, RouterArgs& args) {
  cmd->add_option("--data", args.data_files, "JSON Lines training data (several files are joined)")->required();
  cmd->add_option("--out", args.out, "directory to write the model to")->required();
  cmd->add_option("--iterations", args.train.max_iterations, "most L-BFGS iterations (it stops once converged)")
      ->capture_default_str();
  cmd->add_option("--l2", args.train.l2, "L2 regularisation")->capture_default_str();
  cmd->add_option("--hash-bits", args.train.hash_bits, "2^bits n-gram buckets")->capture_default_str();
  cmd->add_option("--embedding-weight", args.train.embedding_weight,
                  "weight of the embedding beside the n-grams (both unit length)")
      ->capture_default_str();
  cmd->add_option("--hidden-units", args.train.hidden_units,
                  "units of a hidden layer over the embedding beside the linear head (0: none)")
      ->capture_default_str();
  cmd->add_option("--hidden-l2", args.train.hidden_l2, "L2 regularisation of the hidden layer")->capture_default_str();
  cmd->add_option("--holdout", args.train.holdout_fraction, "fraction held out for calibration")->capture_default_str();
  cmd->add_option("--seed", args.train.seed, "seed of the held-out choice")->capture_default_str();
  cmd->add_option("--threads", args.threads,
                  "embedding threads (default: router.threads), also the training threads (default: 1)");
}

// The scripts the embedding model reads come with it: the configuration's.
void prepare_training(RouterArgs& args, ProgressBar& bar, const Config& config) {
  args.train.embedding_scripts = config.engine_embedding_scripts;
  args.train.threads = std::max(1, args.threads);
  args.train.progress = [&bar](std::string_view stage, size_t done, size_t total) {
    bar.update(stage, done, total, stage == "training" ? "iterations" : "texts");
  };
}

nlohmann::ordered_json prediction_json(const router::IntentPrediction& p) {
  nlohmann::ordered_json ranked = nlohmann::ordered_json::array();
  for (const auto& [label, probability] : p.ranked) ranked.push_back({{"label", label}, {"probability", probability}});
  return {{"label", p.label}, {"confidence", p.confidence}, {"out_of_scope", p.out_of_scope}, {"ranked", ranked}};
}

void add_train_intents(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand("train-intents", "Train an intent classifier on {\"text\", \"label\"} lines");
  add_training_options(cmd, *args);
  cmd->add_option("--oos-label", args->train.oos_label, "label marking out-of-scope examples")->capture_default_str();
  cmd->add_option("--max-in-scope-loss", args->train.max_in_scope_loss,
                  "share of held-out in-scope answers the out-of-scope threshold may reject")
      ->capture_default_str();
  cmd->callback([&global, &exit_code, args] {
    auto key = sealed_examples_key(global, args->data_files);
    if (!report(key, "train-intents", exit_code)) return;
    auto examples = read_all<router::IntentExample>(
        args->data_files, [&](const std::string& file) { return router::read_intent_examples(file, *key); });
    if (!report(examples, "train-intents", exit_code)) return;
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto embedder = load_embedder(*config, args->threads, Workload::kBatches);
    if (!report(embedder, "train-intents", exit_code)) return;
    ProgressBar bar;
    prepare_training(*args, bar, *config);
    // Where a server finds them to retrain on: relative to the model for a file inside its
    // directory (they move together, as scripts/setup.sh's default head does), else absolute.
    const auto out_dir = std::filesystem::absolute(args->out).lexically_normal();
    for (const auto& file : args->data_files) {
      const auto path = std::filesystem::absolute(file).lexically_normal();
      const auto inside = path.lexically_relative(out_dir);
      const bool is_inside = !inside.empty() && *inside.begin() != "..";
      args->train.data_files.push_back(is_inside ? inside.string() : path.string());
    }
    auto classifier = router::IntentClassifier::train(*examples, *embedder, args->train);
    if (!report(classifier, "train-intents", exit_code, &bar)) return;
    if (!report(classifier->save(args->out), "train-intents", exit_code)) return;
    std::cerr << "wrote " << args->out << ": " << classifier->labels().size() << " labels from " << examples->size()
              << " examples, temperature " << classifier->temperature() << ", out-of-scope below "
              << classifier->oos_threshold() << "\n";
    exit_code = 0;
  });
}

void add_eval_intents(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand("eval-intents", "Evaluate an intent classifier on {\"text\", \"label\"} lines");
  cmd->add_option("--model", args->model, "directory written by train-intents")->required();
  cmd->add_option("--data", args->data, "JSON Lines test data")->required();
  cmd->add_option("--oos-label", args->oos_label, "label marking out-of-scope examples in the data")->capture_default_str();
  cmd->add_option("--threads", args->threads, "embedding threads (default: router.threads)");
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->callback([&global, &exit_code, args] {
    auto key = sealed_examples_key(global, {args->data});
    if (!report(key, "eval-intents", exit_code)) return;
    auto examples = router::read_intent_examples(args->data, *key);
    if (!report(examples, "eval-intents", exit_code)) return;
    auto embedder = load_embedder(global, args->threads, Workload::kOneByOne);
    if (!report(embedder, "eval-intents", exit_code)) return;
    auto classifier = router::IntentClassifier::load(args->model, *embedder);
    if (!report(classifier, "eval-intents", exit_code)) return;
    for (auto& e : *examples) {
      if (e.label == args->oos_label) e.label = classifier->oos_label();
    }
    auto eval = router::evaluate_intents(*classifier, *examples);
    if (!report(eval, "eval-intents", exit_code)) return;
    nlohmann::ordered_json out = {{"n", eval->n},
                                  {"in_scope", eval->in_scope},
                                  {"out_of_scope", eval->out_of_scope},
                                  {"in_scope_accuracy", eval->in_scope_accuracy},
                                  {"top1_accuracy", eval->top1_accuracy},
                                  {"oos_recall", eval->oos_recall},
                                  {"oos_precision", eval->oos_precision},
                                  {"latency_ms_p50", eval->latency_ms_p50},
                                  {"latency_ms_p95", eval->latency_ms_p95}};
    print(out, args->json);
    exit_code = 0;
  });
}

void add_classify(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand("classify", "Print the intent of each text as JSON");
  cmd->add_option("--model", args->model, "intent model directory (default: router.intent_model)");
  cmd->add_option("texts", args->texts, "texts to classify")->required();
  cmd->callback([&global, &exit_code, args] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto embedder = load_embedder(*config, 0, Workload::kBatches);
    if (!report(embedder, "classify", exit_code)) return;
    auto classifier =
        router::IntentClassifier::load(args->model.empty() ? config->router_intent_model : args->model, *embedder);
    if (!report(classifier, "classify", exit_code)) return;
    auto predictions = classifier->classify_batch(args->texts);
    if (!report(predictions, "classify", exit_code)) return;
    for (const auto& p : *predictions) std::cout << prediction_json(p).dump() << "\n";
    exit_code = 0;
  });
}

void add_train_routing(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand(
      "train-routing", "Train the quality-gap model on {\"prompt\", \"weak_correct\", \"strong_correct\"} lines");
  add_training_options(cmd, *args);
  cmd->callback([&global, &exit_code, args] {
    auto key = sealed_examples_key(global, args->data_files);
    if (!report(key, "train-routing", exit_code)) return;
    auto examples = read_all<router::RoutingExample>(
        args->data_files, [&](const std::string& file) { return router::read_routing_examples(file, *key); });
    if (!report(examples, "train-routing", exit_code)) return;
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto embedder = load_embedder(*config, args->threads, Workload::kBatches);
    if (!report(embedder, "train-routing", exit_code)) return;
    ProgressBar bar;
    prepare_training(*args, bar, *config);
    auto model = router::QualityGapModel::train(*examples, *embedder, args->train);
    if (!report(model, "train-routing", exit_code, &bar)) return;
    if (!report(model->save(args->out), "train-routing", exit_code)) return;
    std::cerr << "wrote " << args->out << " from " << examples->size() << " prompts\n";
    exit_code = 0;
  });
}

void add_eval_routing(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand("eval-routing", "Evaluate the quality-gap model: APGR, CPT, the curve");
  cmd->add_option("--model", args->model, "directory written by train-routing")->required();
  cmd->add_option("--data", args->data, "JSON Lines test data")->required();
  cmd->add_option("--threads", args->threads, "embedding threads (default: router.threads)");
  cmd->add_flag("--json", args->json, "print one JSON object, the curve included");
  cmd->add_option("--cloud-share", args->cloud_share, "also route with the threshold calibrated for this share (0..1)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->callback([&global, &exit_code, args] {
    auto key = sealed_examples_key(global, {args->data});
    if (!report(key, "eval-routing", exit_code)) return;
    auto examples = router::read_routing_examples(args->data, *key);
    if (!report(examples, "eval-routing", exit_code)) return;
    auto embedder = load_embedder(global, args->threads, Workload::kOneByOne);
    if (!report(embedder, "eval-routing", exit_code)) return;
    auto model = router::QualityGapModel::load(args->model, *embedder);
    if (!report(model, "eval-routing", exit_code)) return;
    auto eval = router::evaluate_routing(*model, *examples, args->cloud_share);
    if (!report(eval, "eval-routing", exit_code)) return;
    nlohmann::ordered_json out = {{"n", eval->n},
                                  {"weak_accuracy", eval->weak_accuracy},
                                  {"strong_accuracy", eval->strong_accuracy},
                                  {"apgr", eval->apgr},
                                  {"cpt50", eval->cpt50},
                                  {"cpt80", eval->cpt80},
                                  {"latency_ms_p50", eval->latency_ms_p50},
                                  {"latency_ms_p95", eval->latency_ms_p95}};
    if (eval->target_cloud_share) {
      out["target_cloud_share"] = *eval->target_cloud_share;
      out["achieved_cloud_share"] = eval->achieved_cloud_share;
      out["accuracy_at_target"] = eval->accuracy_at_target;
      out["online_cloud_share"] = eval->online_cloud_share;
      out["online_accuracy"] = eval->online_accuracy;
    }
    if (args->json) {  // the curve is for plots, not for reading
      auto& curve = out["curve"] = nlohmann::ordered_json::array();
      for (const auto& p : eval->curve) {
        curve.push_back({{"cloud_share", p.cloud_share}, {"accuracy", p.accuracy}, {"pgr", p.pgr}});
      }
    }
    print(out, args->json);
    exit_code = 0;
  });
}

// Lines of a text file, blank ones skipped.
Result<std::vector<std::string>> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  }
  if (lines.empty()) return make_error(ErrorCode::kInvalidArgument, path + " has no lines");
  return lines;
}

void add_latency(CLI::App& router_cmd, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<RouterArgs>();
  auto* cmd = router_cmd.add_subcommand(
      "latency", "Time the router (intent and quality-gap models on one shared embedding) per request");
  cmd->add_option("--texts", args->data, "requests, one per line")->required();
  cmd->add_option("--intent-model", args->model, "intent model directory (default: router.intent_model)");
  cmd->add_option("--quality-model", args->quality_model, "quality-gap model directory (default: router.quality_model)");
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->callback([&global, &exit_code, args] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    if (!args->model.empty()) config->router_intent_model = args->model;
    if (!args->quality_model.empty()) config->router_quality_model = args->quality_model;
    auto texts = read_lines(args->data);
    if (!report(texts, "latency", exit_code)) return;
    auto loaded = load_router(*config);
    if (!report(loaded, "latency", exit_code)) return;
    if (!loaded->router) {
      report(make_error(ErrorCode::kInvalidArgument, "no router model to time"), "latency", exit_code);
      return;
    }
    auto eval = router::evaluate_latency(*loaded->router, *texts);
    if (!report(eval, "latency", exit_code)) return;
    nlohmann::ordered_json out = {{"n", eval->n},
                                  {"intent_model", loaded->intents != nullptr},
                                  {"quality_model", loaded->quality != nullptr},
                                  {"max_input_tokens", config->router_max_input_tokens},
                                  {"threads", config->router_threads},
                                  {"latency_ms_p50", eval->latency_ms_p50},
                                  {"latency_ms_p95", eval->latency_ms_p95}};
    print(out, args->json);
    exit_code = 0;
  });
}

}  // namespace

void add_router_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto* cmd = app.add_subcommand("router", "Train and evaluate the router's intent and quality-gap models");
  cmd->require_subcommand(1);
  add_train_intents(*cmd, global, exit_code);
  add_eval_intents(*cmd, global, exit_code);
  add_classify(*cmd, global, exit_code);
  add_train_routing(*cmd, global, exit_code);
  add_eval_routing(*cmd, global, exit_code);
  add_latency(*cmd, global, exit_code);
}

}  // namespace tandem::cli
