// Builds the request pipeline from the configuration, in one place for every command that routes:
// the local engine, the cloud provider ([cloud]), the router's models ([router]) and the policy.
// Thread-safety: start-up code, single-threaded.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/status.h"
#include "engine/engine.h"
#include "pipeline/pipeline.h"
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

// `chat` must outlive the pipeline. A missing default intent model is a warning (tandem/auto
// then routes without intents); a configured path that cannot be loaded is an error.
Result<std::unique_ptr<pipeline::Pipeline>> build_pipeline(const Config& config, engine::ChatEngine& chat);

}  // namespace tandem::cli
