// Tandem's OpenAI-compatible HTTP API over the local engine: POST /v1/chat/completions (JSON and
// server-sent events), POST /v1/embeddings, GET /v1/models, GET /health. The HTTP library stays
// behind this interface.
//
//   auto server = tandem::server::Server::create(config, *chat_engine, embedder.get());
//   if (!server) return fail(server.error());
//   if (auto st = (*server)->start(); !st) return fail(st.error());
//   std::cout << "listening on port " << (*server)->port() << "\n";
//   wait_for_sigterm();
//   (*server)->shutdown(std::chrono::seconds(config.server_drain_timeout_s));
//
// Thread-safety: start() and shutdown() from one controlling thread; port() from any thread.
// Requests are served on server.threads HTTP threads, each blocking on its own engine request;
// the engine's inference thread does all model work. The engines must outlive the Server.
#pragma once

#include <chrono>
#include <memory>

#include "core/config.h"
#include "core/status.h"
#include "engine/engine.h"
#include "privacy/aes_gcm.h"

namespace tandem::pipeline {
class Pipeline;
}

namespace tandem::server {

// The data keys of the files the server writes itself (encryption at rest); nullopt: in clear.
struct StorageKeys {
  std::optional<privacy::Key> api_keys;  // server.keys_file
  std::optional<privacy::Key> usage;     // energy.usage_log
};

class Server {
 public:
  // `embedder` may be null: /v1/embeddings then answers 503. `pipeline` may be null: only the
  // local model is served; with it, `tandem/auto` (and `tandem/cloud` when a cloud is
  // configured) are routed by it. server.auth = "keys" opens server.keys_file (kDataLoss when it
  // is damaged); "none" on a host other than loopback is kInvalidArgument, and so is half a TLS
  // pair or a certificate that cannot be used.
  static Result<std::unique_ptr<Server>> create(const Config& config, engine::ChatEngine& chat,
                                                engine::Embedder* embedder,
                                                const pipeline::Pipeline* pipeline = nullptr,
                                                const StorageKeys& storage = {});
  virtual ~Server() = default;

  // Binds server.host:server.port (0: a free port) and serves in the background.
  virtual Status start() = 0;
  // The bound port, valid after start().
  virtual int port() const = 0;
  // Graceful: new requests get 503 at once, running ones may finish within `drain` (then they are
  // cancelled), then the listener stops. Idempotent.
  virtual void shutdown(std::chrono::milliseconds drain) = 0;
};

}  // namespace tandem::server
