// `tandem embed [--model FILE] TEXT...`: sentence embeddings as one JSON object on stdout,
// {"model": ..., "dimensions": N, "data": [[...], ...]}, one L2-normalised vector per text.
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "engine/engine.h"

namespace tandem::cli {

void add_embed_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  struct Options {
    std::string model;
    std::vector<std::string> texts;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("embed", "Print sentence embeddings of the given texts as JSON");
  cmd->add_option("-m,--model", options->model, "embedding GGUF (default: engine.embedding_model)");
  cmd->add_option("texts", options->texts, "texts to embed, one vector each")->required();
  cmd->callback([&global, &exit_code, options] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto embedder_opts = embedder_options(*config);
    if (!embedder_opts) {
      std::cerr << "tandem embed: " << embedder_opts.error().message << "\n";
      exit_code = 2;
      return;
    }
    if (!options->model.empty()) embedder_opts->model_path = options->model;
    auto embedder = engine::Embedder::load(*embedder_opts);
    if (!embedder) {
      std::cerr << "tandem embed: " << embedder.error().message << "\n";
      if (embedder.error().code == ErrorCode::kNotFound) {
        std::cerr << "run scripts/setup.sh (or tandem convert) to create the embedding model\n";
      }
      exit_code = 1;
      return;
    }
    auto result = (*embedder)->embed(options->texts);
    if (!result) {
      std::cerr << "tandem embed: " << result.error().message << "\n";
      exit_code = 1;
      return;
    }
    nlohmann::ordered_json out;  // keys in the documented order
    out["model"] = (*embedder)->info().name;
    out["dimensions"] = (*embedder)->dimensions();
    out["data"] = result->vectors;
    std::cout << out.dump() << "\n";
    exit_code = 0;
  });
}

}  // namespace tandem::cli
