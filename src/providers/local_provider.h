// The local engine as a Provider: requests go to an engine::ChatEngine owned elsewhere.
//
//   auto engine = tandem::engine::ChatEngine::load(options);
//   tandem::providers::LocalProvider local(**engine);      // named after the engine's model
//   auto answer = local.complete(request);
//
// Usage is always present and cost is 0. Errors are the engine's own (see engine.h).
// Thread-safety: as the engine, any number of threads at once; the engine must outlive it.
#pragma once

#include "engine/engine.h"
#include "providers/provider.h"

namespace tandem::providers {

class LocalProvider final : public Provider {
 public:
  explicit LocalProvider(engine::ChatEngine& engine, std::string name = {});

  const std::string& name() const override { return name_; }
  const std::string& model() const override { return model_; }
  ProviderKind kind() const override { return ProviderKind::kLocal; }
  Result<ChatResult> complete(const ChatRequest& request) override;
  Result<ChatResult> stream(const ChatRequest& request, const DeltaCallback& on_delta) override;

 private:
  engine::ChatEngine& engine_;
  std::string name_;
  std::string model_;
};

}  // namespace tandem::providers
