// Builds the request pipeline from the configuration, in one place for every command that routes:
// the local engine, the cloud provider ([cloud]), the router's models ([router]) and the policy.
// Thread-safety: start-up code, single-threaded.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/status.h"
#include "engine/engine.h"
#include "knowledge/knowledge_base.h"
#include "pipeline/pipeline.h"
#include "privacy/pii_scanner.h"
#include "privacy/policy.h"
#include "providers/provider.h"

namespace tandem::cli {

// The provider of [cloud], or null when cloud.base_url is empty; kInvalidArgument for a bad URL,
// a missing model or an API key variable that is not set.
Result<std::shared_ptr<providers::Provider>> make_cloud_provider(const Config& config);

// The router's models from [router], sharing one embedder; all null when none is configured.
struct LoadedRouter {
  std::shared_ptr<const router::IntentClassifier> intents;
  std::shared_ptr<const router::QualityGapModel> quality;
  std::shared_ptr<const router::Router> router;
};
Result<LoadedRouter> load_router(const Config& config);

// The knowledge base of [knowledge], with its own embedder (full-length inputs, batched) and the
// keyring's "knowledge" data key; `dir` overrides knowledge.dir. Creates the base when it does not exist.
// kSearch also loads the chat model as its re-ranker (knowledge.rerank); kManage (adding, listing,
// removing documents) does without it.
enum class KnowledgeUse { kSearch, kManage };
knowledge::KnowledgeBaseOptions knowledge_base_options(const Config& config);
knowledge::SearchOptions knowledge_search_options(const Config& config);
// knowledge.min_similarity, or when it is 0 the base's embedding model's own (MiniLM's 0.35 for a
// model that carries none).
double grounding_min_similarity(const Config& config, const knowledge::KnowledgeBase& base);
Result<std::shared_ptr<knowledge::KnowledgeBase>> open_knowledge_base(const Config& config, KnowledgeUse use,
                                                                      const std::string& dir = "");
// The base of [knowledge] embedded again with [engine]'s embedding model, which it then keeps
// (KnowledgeBase::reembed): the number of chunks.
Result<int64_t> reembed_knowledge_base(const Config& config,
                                       const std::function<void(int64_t done, int64_t total)>& on_progress);

// The PII scanner of [privacy]: names and places join when the gazetteer file exists (a missing
// default one is a warning: structured types only); a configured file that cannot be read is an error.
// The token tagger (privacy.tagger) joins them the same way: a missing or damaged default file is a
// warning (the rules alone), a configured one an error; "off" leaves it out.
Result<std::shared_ptr<const privacy::PiiScanner>> make_pii_scanner(const Config& config);
// privacy.block / privacy.allow; kInvalidArgument for an unknown type name.
Result<privacy::PrivacyPolicy> privacy_policy(const Config& config);

// kServer: the knowledge base is created when missing (a server accepts uploads from the start),
// and the intent classifier relearns from the large model (router.relearn_every).
enum class PipelineUse { kOneAnswer, kServer };

// `chat` must outlive the pipeline. The knowledge base joins when knowledge.dir holds one. A
// missing default intent model is a warning (tandem/auto then routes without intents); a
// configured path that cannot be loaded is an error.
Result<std::unique_ptr<pipeline::Pipeline>> build_pipeline(const Config& config, engine::ChatEngine& chat,
                                                           PipelineUse use = PipelineUse::kOneAnswer);

}  // namespace tandem::cli
