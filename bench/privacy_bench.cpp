// The privacy stage's cost on a 2 KB request (docs/benchmarks.md §6): scanning for personal data,
// pseudonymizing, and restoring the answer, whole or streamed in small deltas; with the structured
// detectors only and with the gazetteer (names, organisations, places, addresses).
//
//   build/bin/tandem_privacy_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   (the gazetteer is read from privacy.gazetteer's default, <cache>/models/pii-gazetteer.tsv)
#include <benchmark/benchmark.h>

#include <filesystem>

#include "core/config.h"
#include "privacy/name_detector.h"
#include "privacy/pii_scanner.h"
#include "privacy/policy.h"
#include "privacy/vault.h"

namespace {

using namespace tandem::privacy;

// A support request of about 2 KB in English and Chinese, with the usual personal data in it.
std::string two_kilobyte_request() {
  const std::string english =
      "Hello, my name is Maria Gonzalez and I live at 4521 Oak Street, Springfield, IL 62704. "
      "Please update the e-mail on my account to maria.gonzalez@example.com and call me on "
      "(217) 555-0143 if anything is unclear. My card 4111 1111 1111 1111 was charged twice on "
      "March 3, 2024; the transfer came from IBAN GB82 WEST 1234 5698 7654 32. My colleague "
      "Daniel Okafor at Brightwater Analytics Ltd. saw the same problem from 192.168.10.24. ";
  const std::string chinese =
      "你好，我是张伟，身份证号11010519491231002X，手机13812345678，住在北京市朝阳区建国路88号。"
      "公司统一社会信用代码91350100M000100Y43，请把发票寄给王小明先生。";
  std::string text;
  while (text.size() < 2048) text += english + chinese;
  return text.substr(0, text.rfind(' ', 2048));
}

std::shared_ptr<const Gazetteer> gazetteer_or_null(bool with_names) {
  if (!with_names) return nullptr;
  static auto loaded = Gazetteer::load(tandem::default_gazetteer_path());
  if (!loaded) return nullptr;
  return std::make_shared<const Gazetteer>(*loaded);
}

// The answer a cloud model might give: the request's placeholders echoed in other text.
std::string answer_for(const std::string& sent) {
  std::string answer;
  for (size_t at = sent.find('<'); at != std::string::npos; at = sent.find('<', at + 1)) {
    const size_t end = sent.find('>', at);
    if (end == std::string::npos) break;
    answer += "Noted for " + sent.substr(at, end - at + 1) + ". ";
  }
  return answer;
}

void BM_Scan(benchmark::State& state) {
  const bool names = state.range(0) != 0;
  auto gazetteer = gazetteer_or_null(names);
  if (names && !gazetteer) return state.SkipWithError("no gazetteer: run scripts/setup.sh");
  PiiScanner scanner(gazetteer);
  const std::string text = two_kilobyte_request();
  size_t found = 0;
  for (auto _ : state) {
    auto entities = scanner.scan(text);
    found = entities.size();
    benchmark::DoNotOptimize(entities);
  }
  state.counters["bytes"] = static_cast<double>(text.size());
  state.counters["entities"] = static_cast<double>(found);
}

// What the privacy stage adds to one request: scan, pseudonymize, restore the whole answer.
void BM_PseudonymizeAndRestore(benchmark::State& state) {
  const bool names = state.range(0) != 0;
  auto gazetteer = gazetteer_or_null(names);
  if (names && !gazetteer) return state.SkipWithError("no gazetteer: run scripts/setup.sh");
  PiiScanner scanner(gazetteer);
  const PrivacyPolicy policy;
  const std::string text = two_kilobyte_request();
  Vault probe;
  const std::string answer = answer_for(probe.pseudonymize(text, policy.inspect(scanner.scan(text)).pseudonymize));
  for (auto _ : state) {
    Vault vault;
    const std::string sent = vault.pseudonymize(text, policy.inspect(scanner.scan(text)).pseudonymize);
    std::string restored = vault.restore(answer);
    benchmark::DoNotOptimize(sent);
    benchmark::DoNotOptimize(restored);
  }
  state.counters["placeholders"] = static_cast<double>(probe.size());
}

// Restoring a streamed answer in 4-byte deltas (about one token each).
void BM_StreamRestore(benchmark::State& state) {
  PiiScanner scanner(gazetteer_or_null(true));
  const std::string text = two_kilobyte_request();
  Vault vault;
  const std::string answer =
      answer_for(vault.pseudonymize(text, PrivacyPolicy().inspect(scanner.scan(text)).pseudonymize));
  for (auto _ : state) {
    StreamRestorer restorer(vault);
    std::string out;
    for (size_t at = 0; at < answer.size(); at += 4) out += restorer.push(std::string_view(answer).substr(at, 4));
    out += restorer.finish();
    benchmark::DoNotOptimize(out);
  }
  state.counters["answer_bytes"] = static_cast<double>(answer.size());
}

BENCHMARK(BM_Scan)->ArgName("names")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PseudonymizeAndRestore)->ArgName("names")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StreamRestore)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
