// `tandem convert --input DIR --output FILE.gguf`: a sentence-transformers BERT folder to GGUF,
// with a progress bar on stderr.
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "engine/bert_converter.h"

namespace tandem::cli {
namespace {

// Redraws one stderr line in place, only when the bar actually changes.
class ProgressBar {
 public:
  void update(int done, int total) {
    constexpr int kWidth = 40;
    const int filled = total > 0 ? done * kWidth / total : kWidth;
    if (filled == last_filled_ && done != total) return;
    last_filled_ = filled;
    std::fprintf(stderr, "\rconverting [%s%s] %d/%d tensors", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total);
    mid_line_ = done != total;
    if (!mid_line_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

  // An error message must not be appended to a half-drawn bar.
  void end_line() {
    if (mid_line_) std::fputc('\n', stderr);
    mid_line_ = false;
  }

 private:
  int last_filled_ = -1;
  bool mid_line_ = false;
};

}  // namespace

void add_convert_command(CLI::App& app, GlobalOptions&, int& exit_code) {
  struct Options {
    std::string input;
    std::string output;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("convert", "Convert a sentence-transformers BERT folder (safetensors) to an F32 GGUF");
  cmd->add_option("-i,--input", options->input, "folder with config.json, model.safetensors and vocab.txt")->required();
  cmd->add_option("-o,--output", options->output, "GGUF file to write (replaced atomically)")->required();
  cmd->callback([&exit_code, options] {
    ProgressBar bar;
    auto status = engine::convert_bert_to_gguf(options->input, options->output,
                                               [&bar](int done, int total) { bar.update(done, total); });
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
