// `tandem models [--json]`: the configured chat and embedding models, whether they are present,
// their size and llama.cpp's description of them.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "engine/engine.h"

namespace tandem::cli {
namespace {

struct ModelStatus {
  std::string role;  // "chat" or "embedding"
  std::string path;
  std::string name;
  bool present = false;
  int64_t file_bytes = 0;
  std::string description;
  int64_t parameters = 0;
  std::string error;  // present but not loadable
};

// Loading (mmap, smallest context) is the one way to get llama.cpp's description of a model.
template <typename Engine, typename Options>
ModelStatus inspect(std::string role, const Options& options, const std::string& configured_name) {
  ModelStatus status;
  status.role = std::move(role);
  status.path = options.model_path;
  status.name = configured_name.empty() ? std::filesystem::path(options.model_path).stem().string() : configured_name;
  std::error_code ec;
  status.file_bytes = static_cast<int64_t>(std::filesystem::file_size(options.model_path, ec));
  status.present = !ec;
  if (!status.present) return status;
  auto loaded = Engine::load(options);
  if (!loaded) {
    status.error = loaded.error().message;
    return status;
  }
  const auto info = (*loaded)->info();
  status.description = info.description;
  status.parameters = info.parameters;
  return status;
}

nlohmann::json to_json(const ModelStatus& m) {
  nlohmann::json out = {{"role", m.role}, {"name", m.name}, {"path", m.path}, {"present", m.present}};
  if (m.present) out["size_bytes"] = m.file_bytes;
  if (!m.description.empty()) out["description"] = m.description;
  if (m.parameters > 0) out["parameters"] = m.parameters;
  if (!m.error.empty()) out["error"] = m.error;
  return out;
}

std::string to_line(const ModelStatus& m) {
  std::string state = !m.present ? "missing" : (m.error.empty() ? "present" : "invalid");
  std::string size = m.present ? fmt::format("{:.1f} MiB", static_cast<double>(m.file_bytes) / (1 << 20)) : "";
  std::string about = m.error.empty() ? m.description : m.error;
  return fmt::format("{:<10} {:<24} {:<8} {:>10}  {}  {}", m.role, m.name, state, size, about, m.path);
}

}  // namespace

void add_models_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("models", "List the configured models: present or missing, size, description");
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([&global, &exit_code, as_json] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto chat_options = chat_engine_options(*config);
    auto embed_options = embedder_options(*config);
    for (const Error* error :
         {chat_options ? nullptr : &chat_options.error(), embed_options ? nullptr : &embed_options.error()}) {
      if (error == nullptr) continue;
      std::cerr << "tandem models: " << error->message << "\n";
      exit_code = 2;
      return;
    }
    chat_options->slots = 1;
    chat_options->context = 256;
    const std::vector<ModelStatus> models = {
        inspect<engine::ChatEngine>("chat", *chat_options, config->engine_model_name),
        inspect<engine::Embedder>("embedding", *embed_options, ""),
    };
    if (*as_json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& m : models) list.push_back(to_json(m));
      std::cout << nlohmann::json{{"models", list}}.dump(2) << "\n";
    } else {
      for (const auto& m : models) std::cout << to_line(m) << "\n";
    }
    exit_code = 0;
  });
}

}  // namespace tandem::cli
