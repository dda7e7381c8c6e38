// The privacy stage's cost on a 2 KB request (docs/benchmarks.md §6): scanning for personal data,
// pseudonymizing, and restoring the answer, whole or streamed in small deltas; with the structured
// detectors only, with the gazetteer's rules (names, organisations, places, addresses), and with
// the rules and the token tagger. And encryption at rest (§7): AES-256-GCM through raw EVP and
// through the sealed-file layer, and what a sealed log's length file adds to an append.
//
//   build/bin/tandem_privacy_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   (the gazetteer is read from privacy.gazetteer's default, <cache>/models/pii-gazetteer.tsv; the
//   tagger from $TANDEM_PRIVACY_TAGGER, else privacy.tagger's default <cache>/models/pii-tagger.bin)
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/config.h"
#include "core/file_io.h"
#include "privacy/name_detector.h"
#include "privacy/pii_scanner.h"
#include "privacy/policy.h"
#include "privacy/sealed_file.h"
#include "privacy/token_tagger.h"
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

// Which detectors a benchmark runs: its argument "names" is 0 (structured types only), 1 (and the
// gazetteer's rules) or 2 (and the token tagger). Null with an error set when a file is missing.
std::unique_ptr<PiiScanner> scanner_for(benchmark::State& state) {
  const int64_t names = state.range(0);
  auto gazetteer = gazetteer_or_null(names > 0);
  if (names > 0 && !gazetteer) {
    state.SkipWithError("no gazetteer: run scripts/setup.sh");
    return nullptr;
  }
  if (names < 2) return std::make_unique<PiiScanner>(gazetteer);
  const char* configured = std::getenv("TANDEM_PRIVACY_TAGGER");
  auto tagger = TokenTagger::load(configured && *configured ? configured : tandem::default_pii_tagger_path(), gazetteer);
  if (!tagger) {
    state.SkipWithError(tagger.error().message.c_str());
    return nullptr;
  }
  return std::make_unique<PiiScanner>(gazetteer, std::make_shared<const TokenTagger>(std::move(*tagger)));
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
  const auto scanner = scanner_for(state);
  if (!scanner) return;
  const std::string text = two_kilobyte_request();
  size_t found = 0;
  for (auto _ : state) {
    auto entities = scanner->scan(text);
    found = entities.size();
    benchmark::DoNotOptimize(entities);
  }
  state.counters["bytes"] = static_cast<double>(text.size());
  state.counters["entities"] = static_cast<double>(found);
}

// What the privacy stage adds to one request: scan, pseudonymize, restore the whole answer.
void BM_PseudonymizeAndRestore(benchmark::State& state) {
  const auto scanner = scanner_for(state);
  if (!scanner) return;
  const PrivacyPolicy policy;
  const std::string text = two_kilobyte_request();
  Vault probe;
  const std::string answer = answer_for(probe.pseudonymize(text, policy.inspect(scanner->scan(text)).pseudonymize));
  for (auto _ : state) {
    Vault vault;
    const std::string sent = vault.pseudonymize(text, policy.inspect(scanner->scan(text)).pseudonymize);
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

// Encryption at rest, one core: AES-256-GCM over 64 KiB segments straight through OpenSSL's EVP,
// then through the sealed-file layer (header, per-file key, segment framing, write + fsync, rename)
// on tmpfs, so that the figure is the storage layer's cost and not the disk's.
constexpr size_t kSealedBytes = size_t{64} << 20;

void BM_RawEvpAesGcm64KiB(benchmark::State& state) {
  Key key{};
  Nonce nonce{};
  (void)random_bytes(key);
  std::vector<uint8_t> plain(kSealedSegmentBytes, 0x5a), out(kSealedSegmentBytes);
  Tag tag{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
  for (auto _ : state) {
    int n = 0;
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data());
    EVP_EncryptUpdate(ctx, out.data(), &n, plain.data(), static_cast<int>(plain.size()));
    EVP_EncryptFinal_ex(ctx, out.data() + n, &n);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag.data());
    ++nonce[11];
    benchmark::DoNotOptimize(out.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(plain.size()));
}

std::string sealed_bench_path() {
  return (std::filesystem::exists("/dev/shm") ? std::string("/dev/shm")
                                              : std::filesystem::temp_directory_path().string()) +
         "/tandem-sealed-bench-" + std::to_string(::getpid());
}

void BM_SealedFileWrite(benchmark::State& state) {
  Key key{};
  (void)random_bytes(key);
  const std::string content(kSealedBytes, 'x');
  const std::string path = sealed_bench_path();
  for (auto _ : state) {
    if (auto st = write_sealed_file(path, key, content); !st) state.SkipWithError(st.error().message.c_str());
  }
  std::filesystem::remove(path);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(content.size()));
}

// The floor under BM_SealedFileWrite: the same bytes in clear through the same steps (temporary
// file, fsync, rename).
void BM_ClearFileWrite(benchmark::State& state) {
  const std::string content(kSealedBytes, 'x');
  const std::string path = sealed_bench_path();
  for (auto _ : state) {
    if (auto st = tandem::replace_file_atomically(path, content); !st) state.SkipWithError(st.error().message.c_str());
  }
  std::filesystem::remove(path);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(content.size()));
}

void BM_SealedFileRead(benchmark::State& state) {
  Key key{};
  (void)random_bytes(key);
  const std::string path = sealed_bench_path();
  (void)write_sealed_file(path, key, std::string(kSealedBytes, 'x'));
  for (auto _ : state) {
    auto reader = SealedFileReader::open(path, key);  // a segment at a time: what loading the vector index does
    size_t total = 0;
    while (reader && !reader->done()) {
      auto segment = reader->next();
      if (!segment) break;
      total += segment->size();
    }
    if (total != kSealedBytes) state.SkipWithError("short read");
  }
  std::filesystem::remove(path);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kSealedBytes));
}

// One usage record appended to a sealed record log (write + fdatasync), without ("guard:0") and
// with ("guard:1") the sealed length file rewritten after it, on tmpfs ("disk:0") and on the
// filesystem of the temporary folder ("disk:1"), where the fsyncs cost what they cost.
void BM_SealedLogAppend(benchmark::State& state) {
  Key key{};
  (void)random_bytes(key);
  const std::string path = (state.range(1) ? std::filesystem::temp_directory_path().string() + "/tandem-log-bench-" +
                                                 std::to_string(::getpid())
                                           : sealed_bench_path()) +
                           ".log";
  const auto guard = state.range(0) ? RecordLog::TailGuard::kLengthFile : RecordLog::TailGuard::kNone;
  auto log = RecordLog::open(path, key, guard);
  if (!log) {
    state.SkipWithError(log.error().message.c_str());
    return;
  }
  const std::string record =
      R"({"time":"2026-12-02T03:00:00Z","tenant":"acme","route":"local","prompt_tokens":412,"completion_tokens":96})";
  for (auto _ : state) {
    if (auto st = (*log)->append(record); !st) state.SkipWithError(st.error().message.c_str());
  }
  log->reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".length");
}

BENCHMARK(BM_RawEvpAesGcm64KiB);
BENCHMARK(BM_SealedLogAppend)->ArgNames({"guard", "disk"})->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SealedFileWrite)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ClearFileWrite)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SealedFileRead)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Scan)->ArgName("names")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PseudonymizeAndRestore)->ArgName("names")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_StreamRestore)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
