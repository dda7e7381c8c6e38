#include "pipeline/learned_examples.h"

#include "core/words.h"

namespace tandem::pipeline {

nlohmann::json intent_example(const std::string& text, const std::string& label) {
  return {{"text", cut_utf8(text, kMaxExampleTextBytes)}, {"label", label}};
}

nlohmann::json routing_example(const std::string& prompt, bool local_answer_accepted, double mean_logprob) {
  return {{"prompt", cut_utf8(prompt, kMaxExampleTextBytes)},
          {"weak_correct", local_answer_accepted},
          {"strong_correct", true},
          {"source", "cascade"},
          {"mean_logprob", mean_logprob}};
}

Status LearnedExamples::append(const nlohmann::json& record) {
  const std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mutex_);
  if (!log_) {
    auto opened = privacy::RecordLog::open(path_, key_);
    if (!opened) return make_error(opened.error().code, "cannot append to " + path_ + ": " + opened.error().message);
    log_ = std::move(*opened);
  }
  return log_->append(line);
}

}  // namespace tandem::pipeline
