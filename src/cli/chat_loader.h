// The chat model as `tandem serve` loads it: one engine placed by devices.chat, or one copy per
// entry of devices.chat_replicas behind the replica scheduler (devices/replicated_chat.h).
//
//   auto plans = chat_replica_plans(config);            // a setting's mistake shows here, before loading
//   auto chat = load_chat_engine(config, std::move(*plans));   // the load error
//
// Thread-safety: start-up code (placement may register RPC servers with ggml).
#pragma once

#include <memory>

#include <vector>

#include "cli/placement_setup.h"
#include "core/config.h"
#include "engine/engine.h"

namespace tandem::cli {

Result<std::unique_ptr<engine::ChatEngine>> load_chat_engine(const Config& config,
                                                             std::vector<ChatReplicaPlan> plans);

}  // namespace tandem::cli
