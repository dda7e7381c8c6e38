#include "cli/chat_loader.h"

#include "cli/engine_options.h"
#include "core/log.h"
#include "devices/replicated_chat.h"

namespace tandem::cli {

Result<std::unique_ptr<engine::ChatEngine>> load_chat_engine(const Config& config,
                                                             std::vector<ChatReplicaPlan> plans) {
  if (plans.size() == 1) return engine::ChatEngine::load(chat_engine_options_at(config, plans.front().placement));

  std::vector<devices::ReplicaEngine> replicas;
  for (auto& plan : plans) {
    auto engine = engine::ChatEngine::load(chat_engine_options_at(config, plan.placement));
    if (!engine) {
      return make_error(engine.error().code, "the copy on " + plan.figures.device + ": " + engine.error().message);
    }
    TANDEM_LOG(kInfo, "devices", "chat model copy on {}: starting from {:.0f} prompt / {:.0f} generated tokens/s",
               plan.figures.device, plan.figures.prompt_tokens_per_second, plan.figures.generation_tokens_per_second);
    replicas.push_back({std::move(*engine), std::move(plan.figures)});
  }
  const auto objective =
      config.devices_schedule == "least_energy" ? devices::Objective::kLeastEnergy : devices::Objective::kFastest;
  return devices::make_replicated_chat(std::move(replicas), objective);
}

}  // namespace tandem::cli
