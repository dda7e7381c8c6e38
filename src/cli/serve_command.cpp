// `tandem serve`: the OpenAI-compatible HTTP server over the local models, until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/chat_loader.h"
#include "cli/engine_options.h"
#include "cli/keyring_setup.h"
#include "cli/pipeline_setup.h"
#include "core/log.h"
#include "engine/engine.h"
#include "server/server.h"

namespace tandem::cli {
namespace {

// Blocks SIGTERM and SIGINT in this thread, before any other thread exists, so every thread
// inherits the mask and the signals wait for sigwait() in main.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not a dead server
  return signals;
}

int serve(const Config& config) {
  const sigset_t stop_signals = block_stop_signals();

  auto chat_plans = chat_replica_plans(config);  // the one plan of every copy
  if (!chat_plans) {  // a setting's mistake, before any loading
    std::cerr << "tandem serve: " << chat_plans.error().message << "\n";
    return 2;
  }
  auto chat = load_chat_engine(config, std::move(*chat_plans));
  if (!chat) {
    std::cerr << "tandem serve: cannot load the chat model " << config.engine_model << ": " << chat.error().message
              << "\n";
    if (chat.error().code == ErrorCode::kNotFound) std::cerr << "run scripts/setup.sh to download the default models\n";
    return 1;
  }
  std::unique_ptr<engine::Embedder> embedder;
  if (std::filesystem::exists(config.engine_embedding_model)) {
    auto options = embedder_options(config);
    if (!options) {
      std::cerr << "tandem serve: " << options.error().message << "\n";
      return 2;
    }
    auto loaded = engine::Embedder::load(*options);
    if (!loaded) {
      std::cerr << "tandem serve: cannot load the embedding model " << config.engine_embedding_model << ": "
                << loaded.error().message << "\n";
      return 1;
    }
    embedder = std::move(*loaded);
  } else {
    TANDEM_LOG(kWarn, "serve", "no embedding model at {}: /v1/embeddings will answer 503",
               config.engine_embedding_model);
  }

  auto pipeline = build_pipeline(config, **chat, PipelineUse::kServer);
  if (!pipeline) {
    std::cerr << "tandem serve: " << pipeline.error().message << "\n";
    return 1;
  }
  server::StorageKeys storage;
  for (auto [purpose, key] : {std::pair{kApiKeysKey, &storage.api_keys}, std::pair{kUsageKey, &storage.usage}}) {
    auto found = data_key(config, purpose);
    if (!found) {
      std::cerr << "tandem serve: " << found.error().message << "\n";
      return 1;
    }
    *key = *found;
  }
  auto server = server::Server::create(config, **chat, embedder.get(), pipeline->get(), storage);
  if (!server) {
    std::cerr << "tandem serve: " << server.error().message << "\n";
    return server.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  if (auto started = (*server)->start(); !started) {
    std::cerr << "tandem serve: " << started.error().message << "\n";
    return 1;
  }
  // The one line on stdout: scripts and tests read the real port from it.
  const char* scheme = config.server_tls_cert.empty() ? "http" : "https";
  std::cout << "tandem: listening on " << scheme << "://" << config.server_host << ":" << (*server)->port() << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  TANDEM_LOG(kInfo, "serve", "{}: draining", received == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->shutdown(std::chrono::seconds(config.server_drain_timeout_s));
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  struct Options {
    std::optional<std::string> host;
    std::optional<int64_t> port;
    std::optional<std::string> model;
    bool single_user = false;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("serve", "Serve the OpenAI-compatible API (until SIGTERM or Ctrl-C)");
  cmd->add_option("--host", options->host, "address to listen on (overrides server.host)");
  cmd->add_option("--port", options->port, "TCP port, 0 = any free port (overrides server.port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--model", options->model, "chat model GGUF (overrides engine.model)");
  cmd->add_flag("--single-user", options->single_user,
                "no API keys: one local user sees everything (server.auth = none; loopback hosts only)");
  cmd->callback([&global, &exit_code, options] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    if (options->host) config->server_host = *options->host;
    if (options->port) config->server_port = *options->port;
    if (options->model) config->engine_model = *options->model;
    if (options->single_user) config->server_auth = "none";
    exit_code = serve(*config);
  });
}

}  // namespace tandem::cli
