#include "cli/pipeline_setup.h"

#include <algorithm>
#include <filesystem>

#include "cli/engine_options.h"
#include "cli/keyring_setup.h"
#include "core/log.h"
#include "privacy/name_detector.h"
#include "privacy/token_tagger.h"
#include "providers/local_provider.h"
#include "providers/remote_provider.h"

namespace tandem::cli {

Result<std::shared_ptr<providers::Provider>> make_cloud_provider(const Config& config) {
  if (config.cloud_base_url.empty()) return std::shared_ptr<providers::Provider>();
  auto cloud = providers::RemoteProvider::create(
      {.name = config.cloud_name,
       .base_url = config.cloud_base_url,
       .model = config.cloud_model,
       .api_key_env = config.cloud_api_key_env,
       .input_usd_per_mtok = config.cloud_input_usd_per_mtok,
       .output_usd_per_mtok = config.cloud_output_usd_per_mtok,
       .timeout_ms = config.cloud_timeout_ms,
       .max_retries = static_cast<int32_t>(config.cloud_max_retries),
       .circuit = {.failure_threshold = static_cast<int32_t>(config.cloud_circuit_failures),
                   .cool_down = std::chrono::milliseconds(config.cloud_circuit_cooldown_ms)}});
  if (!cloud) return make_error(cloud.error().code, "cloud provider: " + cloud.error().message);
  return std::shared_ptr<providers::Provider>(std::move(*cloud));
}

Result<LoadedRouter> load_router(const Config& config) {
  LoadedRouter loaded;
  const bool default_intents = config.router_intent_model == default_intent_model_dir();
  const bool have_intents = std::filesystem::exists(config.router_intent_model + "/model.json");
  const bool want_intents = have_intents || !default_intents;
  if (!want_intents) {
    TANDEM_LOG(kWarn, "router", "no intent model at {} (run scripts/setup.sh): tandem/auto routes without intents",
               config.router_intent_model);
  }
  if (!want_intents && config.router_quality_model.empty()) return loaded;

  auto options = router_embedder_options(config);
  if (!options) return options.error();
  auto embedder = engine::Embedder::load(*options);
  if (!embedder) return make_error(embedder.error().code, "router embedding model: " + embedder.error().message);
  std::shared_ptr<engine::Embedder> shared = std::move(*embedder);
  if (want_intents) {
    auto intents = router::IntentClassifier::load(config.router_intent_model, shared);
    if (!intents) return make_error(intents.error().code, "router.intent_model: " + intents.error().message);
    loaded.intents = std::make_shared<const router::IntentClassifier>(std::move(*intents));
  }
  if (!config.router_quality_model.empty()) {
    auto quality = router::QualityGapModel::load(config.router_quality_model, shared);
    if (!quality) return make_error(quality.error().code, "router.quality_model: " + quality.error().message);
    loaded.quality = std::make_shared<const router::QualityGapModel>(std::move(*quality));
  }
  loaded.router = std::make_shared<const router::Router>(shared, loaded.intents, loaded.quality);
  return loaded;
}

namespace {

// What a server retrains the intent classifier on (router.relearn_every): the files its model.json
// records, less the learned examples, and what was learned before this start. Relearning needs all
// of them, so one that cannot be read turns it off, with a warning that says why.
std::optional<pipeline::RelearningOptions> relearning_options(const Config& config,
                                                              const router::IntentClassifier& intents,
                                                              const std::optional<privacy::Key>& key) {
  namespace fs = std::filesystem;
  auto off = [](const std::string& why) {
    TANDEM_LOG(kWarn, "router", "the intent classifier will not relearn from the large model: {}", why);
    return std::nullopt;
  };
  pipeline::RelearningOptions options;
  options.every = static_cast<size_t>(config.router_relearn_every);
  options.train = intents.training_options();
  if (options.train.data_files.empty()) {
    return off(config.router_intent_model +
               " does not record what it was trained on (trained by an earlier "
               "version): train it again with `tandem router train-intents`");
  }
  std::error_code ec;
  const auto learned_path = fs::weakly_canonical(config.router_learned_examples, ec);
  for (const auto& file : options.train.data_files) {
    if (fs::weakly_canonical(file, ec) == learned_path) continue;  // read below, as what was learned
    auto examples = router::read_intent_examples(file, key);
    if (!examples) return off(examples.error().message);
    options.base.insert(options.base.end(), examples->begin(), examples->end());
  }
  if (fs::exists(config.router_learned_examples) && fs::file_size(config.router_learned_examples, ec) > 0) {
    auto learned = router::read_intent_examples(config.router_learned_examples, key);
    if (!learned) return off(learned.error().message);
    // Examples learned for another intent model's labels (router.intent_model was changed) stay out.
    const auto& labels = intents.labels();
    for (auto& example : *learned) {
      if (std::find(labels.begin(), labels.end(), example.label) != labels.end()) {
        options.learned.push_back(std::move(example));
      }
    }
    if (const size_t left_out = learned->size() - options.learned.size(); left_out > 0) {
      TANDEM_LOG(kWarn, "router", "{} of the examples in {} have labels {} does not know; relearning leaves them out",
                 left_out, config.router_learned_examples, config.router_intent_model);
    }
  }
  return options;
}

}  // namespace

Result<std::unique_ptr<pipeline::Pipeline>> build_pipeline(const Config& config, engine::ChatEngine& chat,
                                                           PipelineUse use) {
  pipeline::PipelineParts parts;
  parts.local = std::make_shared<providers::LocalProvider>(chat);

  auto cloud = make_cloud_provider(config);
  if (!cloud) return cloud.error();
  parts.cloud = std::move(*cloud);

  auto router = load_router(config);
  if (!router) return router.error();
  if (router->quality) {
    parts.policy.cloud_below = router->quality->threshold_for_cloud_share(config.router_cloud_share);
    parts.cloud_share =
        std::make_shared<router::CloudShareController>(config.router_cloud_share, parts.policy.cloud_below);
  }
  parts.router = std::move(router->router);
  parts.policy.ask_cloud_below = static_cast<float>(config.router_ask_cloud_below);
  parts.policy.cascade_min_mean_logprob = config.router_cascade_min_mean_logprob;
  parts.learned_examples_path = config.router_learned_examples;
  parts.cascade_outcomes_path = config.router_cascade_outcomes;
  auto router_key = data_key(config, kRouterKey);
  if (!router_key) return router_key.error();
  parts.learned_examples_key = *router_key;
  // A cloud to learn from, a classifier to retrain, and a process that lives long enough to use it.
  if (use == PipelineUse::kServer && config.router_relearn_every > 0 && parts.cloud && router->intents) {
    if (auto relearning = relearning_options(config, *router->intents, *router_key)) {
      parts.relearning = std::move(*relearning);
    }
  }

  const bool create_knowledge_base = use == PipelineUse::kServer;
  if (create_knowledge_base || std::filesystem::exists(std::filesystem::path(config.knowledge_dir) / "kb.sqlite")) {
    auto kb = open_knowledge_base(config, KnowledgeUse::kSearch);
    if (!kb) return kb.error();
    parts.knowledge = std::move(*kb);
    parts.knowledge_search = knowledge_search_options(config);
    parts.grounding.min_similarity = grounding_min_similarity(config, *parts.knowledge);
  }

  auto scanner = make_pii_scanner(config);
  if (!scanner) return scanner.error();
  parts.pii = std::move(*scanner);
  auto policy = privacy_policy(config);
  if (!policy) return policy.error();
  parts.privacy_policy = *policy;
  if (parts.cloud) {  // no cloud, no egress: the log is opened only when something can leave
    auto key = data_key(config, kAuditKey);
    if (!key) return key.error();
    auto audit = privacy::AuditLog::open(config.privacy_audit_log, *key);
    if (!audit) return audit.error();
    parts.audit = std::make_shared<privacy::AuditLog>(std::move(*audit));
  }
  return std::make_unique<pipeline::Pipeline>(std::move(parts));
}

namespace {

// privacy.tagger for `gazetteer`; null when off, without a gazetteer, or when the default file is
// missing or unusable (a warning): the rules alone.
Result<std::shared_ptr<const privacy::TokenTagger>> load_pii_tagger(
    const Config& config, const std::shared_ptr<const privacy::Gazetteer>& gazetteer) {
  if (config.privacy_tagger == "off" || !gazetteer) return std::shared_ptr<const privacy::TokenTagger>();
  const bool is_default = config.privacy_tagger == default_pii_tagger_path();
  auto loaded = privacy::TokenTagger::load(config.privacy_tagger, gazetteer);
  if (loaded) return std::make_shared<const privacy::TokenTagger>(std::move(*loaded));
  if (!is_default) return make_error(loaded.error().code, "privacy.tagger: " + loaded.error().message);
  TANDEM_LOG(kWarn, "privacy", "{} (scripts/setup.sh copies data/pii/pii-tagger.bin there): names, organisations, "
             "places and addresses are found by the rules alone", loaded.error().message);
  return std::shared_ptr<const privacy::TokenTagger>();
}

}  // namespace

Result<std::shared_ptr<const privacy::PiiScanner>> make_pii_scanner(const Config& config) {
  std::shared_ptr<const privacy::Gazetteer> gazetteer;
  if (std::filesystem::exists(config.privacy_gazetteer)) {
    auto loaded = privacy::Gazetteer::load(config.privacy_gazetteer);
    if (!loaded) return loaded.error();
    gazetteer = std::make_shared<const privacy::Gazetteer>(std::move(*loaded));
  } else if (config.privacy_gazetteer != default_gazetteer_path()) {
    return make_error(ErrorCode::kNotFound, "privacy.gazetteer: no file at " + config.privacy_gazetteer);
  } else {
    TANDEM_LOG(kWarn, "privacy",
               "no gazetteer at {} (scripts/setup.sh builds it): names, organisations and places "
               "are not detected",
               config.privacy_gazetteer);
  }
  auto tagger = load_pii_tagger(config, gazetteer);
  if (!tagger) return tagger.error();
  return std::make_shared<const privacy::PiiScanner>(std::move(gazetteer), std::move(*tagger));
}

Result<privacy::PrivacyPolicy> privacy_policy(const Config& config) {
  return privacy::PrivacyPolicy::from_lists(config.privacy_block, config.privacy_allow);
}

knowledge::KnowledgeBaseOptions knowledge_base_options(const Config& config) {
  knowledge::KnowledgeBaseOptions options;
  options.dir = config.knowledge_dir;
  options.chunking.max_tokens = static_cast<int32_t>(config.knowledge_chunk_tokens);
  options.chunking.overlap_tokens = static_cast<int32_t>(config.knowledge_chunk_overlap);
  options.limits.max_file_bytes = config.knowledge_max_file_mb << 20;
  options.embedding_scripts = config.knowledge_embedding_scripts;
  return options;
}

knowledge::SearchOptions knowledge_search_options(const Config& config) {
  knowledge::SearchOptions options;
  options.k = static_cast<int>(config.knowledge_top_k);
  options.candidates = static_cast<int>(config.knowledge_candidates);
  options.fusion = config.knowledge_fusion == "rrf" ? knowledge::Fusion::kReciprocalRank : knowledge::Fusion::kRescaledScores;
  options.bm25_weight = config.knowledge_bm25_weight;
  options.dense_weight = config.knowledge_dense_weight;
  options.rerank = static_cast<int>(config.knowledge_rerank);
  options.rerank_margin = config.knowledge_rerank_margin;
  return options;
}

namespace {

struct KnowledgeBaseParts {
  std::shared_ptr<engine::Embedder> embedder;
  std::shared_ptr<engine::LikelihoodScorer> reranker;
  knowledge::KnowledgeBaseOptions options;
};

// The chat model as the knowledge base's re-ranker, when knowledge.rerank asks for one. Without
// the default model file (setup not run) searches keep the fused order, as the base did before.
Result<std::shared_ptr<engine::LikelihoodScorer>> load_reranker(const Config& config) {
  if (config.knowledge_rerank < 2) return std::shared_ptr<engine::LikelihoodScorer>();
  const std::string path = config.engine_model.empty() ? default_chat_model_path() : config.engine_model;
  if (config.engine_model.empty() && !std::filesystem::exists(path)) {
    TANDEM_LOG(kWarn, "knowledge",
               "no chat model at {} (scripts/setup.sh downloads it): hybrid search is not re-ranked", path);
    return std::shared_ptr<engine::LikelihoodScorer>();
  }
  auto loaded =
      engine::LikelihoodScorer::load({.model_path = path, .threads = static_cast<int32_t>(config.engine_threads)});
  if (!loaded) return make_error(loaded.error().code, "knowledge.rerank: " + loaded.error().message);
  return std::shared_ptr<engine::LikelihoodScorer>(std::move(*loaded));
}

Result<KnowledgeBaseParts> knowledge_base_parts(const Config& config, KnowledgeUse use, const std::string& dir) {
  auto embedder_opts = embedder_options(config);
  if (!embedder_opts) return embedder_opts.error();
  embedder_opts->model_path = config.knowledge_embedding_model;
  auto loaded = engine::Embedder::load(*embedder_opts);
  if (!loaded) return loaded.error();
  auto reranker = use == KnowledgeUse::kSearch ? load_reranker(config) : std::shared_ptr<engine::LikelihoodScorer>();
  if (!reranker) return reranker.error();
  KnowledgeBaseParts parts{std::move(*loaded), std::move(*reranker), knowledge_base_options(config)};
  parts.options.reranker = parts.reranker.get();
  if (!dir.empty()) parts.options.dir = dir;
  auto key = data_key(config, kKnowledgeKey);
  if (!key) return key.error();
  parts.options.encryption_key = *key;
  return parts;
}

}  // namespace

double grounding_min_similarity(const Config& config, const knowledge::KnowledgeBase& base) {
  if (config.knowledge_min_similarity > 0) return config.knowledge_min_similarity;
  return base.calibrated_min_similarity().value_or(knowledge::GroundingOptions{}.min_similarity);
}

Result<std::shared_ptr<knowledge::KnowledgeBase>> open_knowledge_base(const Config& config, KnowledgeUse use,
                                                                      const std::string& dir) {
  auto parts = knowledge_base_parts(config, use, dir);
  if (!parts) return parts.error();
  auto kb = knowledge::KnowledgeBase::open(parts->options, *parts->embedder);
  if (!kb) return kb.error();
  // The base borrows the embedder and the reranker: the deleter keeps them alive as long as the base.
  return std::shared_ptr<knowledge::KnowledgeBase>(
      kb->release(),
      [embedder = parts->embedder, reranker = parts->reranker](knowledge::KnowledgeBase* base) { delete base; });
}

Result<int64_t> reembed_knowledge_base(const Config& config,
                                       const std::function<void(int64_t done, int64_t total)>& on_progress) {
  auto parts = knowledge_base_parts(config, KnowledgeUse::kManage, "");
  if (!parts) return parts.error();
  return knowledge::KnowledgeBase::reembed(parts->options, *parts->embedder, on_progress);
}

}  // namespace tandem::cli
