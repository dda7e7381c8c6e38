// `tandem convert --input DIR --output FILE.gguf [--type bf16|f16|f32] [--min-similarity C]`: a
// sentence-transformers BERT folder to GGUF, with a progress bar on stderr.
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "engine/bert_converter.h"

namespace tandem::cli {
void add_convert_command(CLI::App& app, GlobalOptions&, int& exit_code) {
  struct Options {
    std::string input;
    std::string output;
    std::string type = "bf16";
    std::optional<double> min_similarity;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("convert", "Convert a sentence-transformers BERT folder (safetensors) to GGUF");
  cmd->add_option("-i,--input", options->input, "folder with config.json, model.safetensors and vocab.txt")->required();
  cmd->add_option("-o,--output", options->output, "GGUF file to write (replaced atomically)")->required();
  cmd->add_option("--type", options->type, "type of the weight matrices: bf16 (default), f16 or f32");
  cmd->add_option("--min-similarity", options->min_similarity,
                  "the model's 'not found' cosine, from tandem kb eval --not-found (stored in the GGUF)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->callback([&exit_code, options] {
    auto type = engine::parse_weight_type(options->type);
    if (!type) {
      std::cerr << "tandem convert: --type: " << type.error().message << "\n";
      exit_code = 2;
      return;
    }
    ProgressBar bar;
    engine::ConvertOptions convert;
    convert.matrix_type = *type;
    convert.min_similarity = options->min_similarity;
    convert.progress = [&bar](int done, int total) {
      bar.update("converting", static_cast<size_t>(done), static_cast<size_t>(total), "tensors");
    };
    auto status = engine::convert_bert_to_gguf(options->input, options->output, convert);
    if (!status) {
      bar.end_line();
      std::cerr << "tandem convert: " << status.error().to_string() << "\n";
      exit_code = 1;
      return;
    }
    std::cerr << "wrote " << options->output << "\n";
    exit_code = 0;
  });
}

}  // namespace tandem::cli
