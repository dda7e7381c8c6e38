// The configured models placed on this machine's devices: what `tandem plan` prints, and what
// every command that loads a model applies, so the two never disagree.
//
//   auto plan = plan_models(config);           // adds devices.rpc_servers, discovers, plans
//   if (!plan) return plan.error();            // a bad pin, an RPC server that does not answer
//   auto chat = placement_for(config, devices::ModelRole::kChat);  // -> ChatEngineOptions::placement
//
// Thread-safety: start-up code; plan_models registers RPC servers with ggml's global registry.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "devices/devices.h"
#include "devices/planner.h"
#include "devices/scheduler.h"
#include "engine/engine.h"

namespace tandem::cli {

struct ModelPlan {
  std::vector<devices::DeviceCapacity> devices;  // what the planner saw, RPC servers included
  std::vector<devices::ModelDemand> models;      // the configured models whose files exist
  std::vector<std::string> unplaced;             // "embedding: model file not found: /path"
  std::vector<devices::Placement> placements;    // one per entry of models
};

Result<ModelPlan> plan_models(const Config& config);

// Adds the devices of every server in devices.rpc_servers to ggml's registry (plan_models does it too).
Status add_configured_rpc_servers(const Config& config);

// The plan's choice for one model. A model whose file is missing or unreadable gets the CPU, so
// that loading it reports the file's problem rather than a placement.
Result<engine::DevicePlacement> placement_for(const Config& config, devices::ModelRole role);

// Each copy of the chat model (one unless devices.chat_replicas lists several): its placement and
// the figures the replica scheduler starts from (devices.throughput, devices.watts).
struct ChatReplicaPlan {
  engine::DevicePlacement placement;
  devices::Replica figures;
};
Result<std::vector<ChatReplicaPlan>> chat_replica_plans(const Config& config);

}  // namespace tandem::cli
