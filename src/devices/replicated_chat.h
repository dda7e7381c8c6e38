// One chat model loaded on several devices, behind the same ChatEngine interface the server and
// the pipeline use for a single one. Each request goes to the replica the Scheduler expects to
// finish it soonest (or to spend the fewest joules on it), and each finished request feeds its
// measured prompt and generation rates back, so the choice rests on what the devices really do
// rather than on the configured guesses it starts from.
//
//   std::vector<ReplicaEngine> replicas;
//   replicas.push_back({std::move(cpu_engine), {.device = "CPU", .prompt_tokens_per_second = 300,
//                                               .generation_tokens_per_second = 30}});
//   replicas.push_back({std::move(gpu_engine), {.device = "CUDA0", ...}});
//   auto chat = make_replicated_chat(std::move(replicas), Objective::kFastest);
//   auto result = (*chat)->generate(request);   // result->device: "CUDA0", device_reason: why
//
// Prompt rendering, token counting and the model's description come from the first replica: all
// replicas load the same file. info().slots is the sum over replicas.
// Thread-safety: as ChatEngine, any number of threads at once.
#pragma once

#include <memory>
#include <vector>

#include "devices/scheduler.h"
#include "engine/engine.h"

namespace tandem::devices {

struct ReplicaEngine {
  std::unique_ptr<engine::ChatEngine> engine;
  Replica figures;  // the device's name and its starting rates (and watts, when known)
};

// kInvalidArgument for no replicas, a missing engine, replicas of different models or figures
// the Scheduler cannot use.
Result<std::unique_ptr<engine::ChatEngine>> make_replicated_chat(std::vector<ReplicaEngine> replicas,
                                                                 Objective objective);

}  // namespace tandem::devices
