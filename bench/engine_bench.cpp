// Throughput of the chat engine, measured through the public ChatEngine API, so the figures
// include everything a request pays inside the engine (queueing, slot assignment, batching,
// sampling, detokenisation) but no HTTP. bench/compare_llama_bench.py sets them beside
// llama-bench's pp512 / tg128; docs/benchmarks.md has the commands and the latest figures.
//
//   tandem_engine_bench --model=gemma.gguf --threads=2 --benchmark_repetitions=3
//
// Benchmarks (all greedy, one engine shared by all, loaded once):
//   BM_PromptProcessing      pp512: one prompt of 512 tokens (all but the chat template's first
//                            few uncached, see below), max_tokens 1.
//                            pp_tokens_per_second = processed prompt tokens / engine prompt_ms
//                            (prompt_ms includes the sampling of the first token).
//   BM_Generation            tg128: max_tokens 128 after a short prompt that asks for a long text.
//                            tg_tokens_per_second = (completion_tokens - 1) / engine generation_ms
//                            (generation_ms runs from the first token to the last, i.e. it
//                            covers completion_tokens - 1 decodes).
//   BM_ConcurrentGeneration/streams:N   N callers at once, 128 tokens each, distinct prompts;
//                            aggregate_tokens_per_second = all completion tokens / wall time.
//   BM_StreamedGeneration/metered:0|1   tg128 streamed to a callback, as `tandem serve` streams;
//                            metered:1 adds what the server does for every answer (EnergyTracker
//                            begin, first token, end on the best CPU meter), so the ratio of the
//                            two tokens_per_second (wall time) is the metering overhead; metered:1
//                            also reports joules per token beside the cloud estimate.
//   BM_MeteringPerAnswer     the tracker's three meter reads per answer alone (no model).
//
// Flags besides Google Benchmark's: --model=PATH (default: TANDEM_BENCH_MODEL or the default
// downloaded model), --threads=N (0: all cores), --slots=N (4), --context=N (8192),
// --iterations=N (requests per benchmark run; default 8 pp, 5 tg, 2 concurrent),
// --devices=NAME[,NAME] (ggml devices for the offloaded layers, e.g. CUDA0 or RPC0; default: the
// CPU alone), --gpu-layers=N (layers that leave the CPU, the output layer included; default -1:
// all), --rpc=HOST:PORT[,HOST:PORT] (ggml RPC servers to add first, so RPC0... exist).
//
// Thread-safety: the benchmarks run one after another; only BM_ConcurrentGeneration starts
// threads, and those only call ChatEngine::generate, which is thread-safe.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "devices/devices.h"
#include "energy/meters.h"
#include "energy/tracker.h"
#include "engine/engine.h"

namespace {

using tandem::engine::ChatEngine;
using tandem::engine::GenerationRequest;
using tandem::engine::GenerationResult;

struct BenchConfig {
  std::string model;
  int32_t threads = 0;
  int32_t slots = 4;
  int32_t context = 8192;
  int64_t iterations = 0;  // 0: each benchmark's default
  std::vector<std::string> devices;
  int32_t gpu_layers = -1;
};

BenchConfig& config() {
  static BenchConfig c;
  return c;
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "tandem_engine_bench: %s\n", message.c_str());
  std::exit(1);
}

ChatEngine& engine() {
  static std::unique_ptr<ChatEngine> instance = [] {
    tandem::engine::ChatEngineOptions options;
    options.model_path = config().model;
    options.threads = config().threads;
    options.slots = config().slots;
    options.context = config().context;
    options.placement.devices = config().devices;
    options.placement.gpu_layers = config().gpu_layers;
    auto loaded = ChatEngine::load(options);
    if (!loaded) die("cannot load " + config().model + ": " + loaded.error().to_string());
    return std::move(*loaded);
  }();
  return *instance;
}

GenerationRequest greedy_request(std::string prompt, int32_t max_tokens) {
  GenerationRequest request;
  request.messages = {{"user", std::move(prompt)}};
  request.sampling.temperature = 0.0f;
  request.sampling.max_tokens = max_tokens;
  return request;
}

GenerationResult run(const GenerationRequest& request) {
  auto result = engine().generate(request);
  if (!result) die("generate failed: " + result.error().to_string());
  return std::move(*result);
}

// ---- pp512 ----

constexpr int32_t kPromptTokens = 512;

const char* const kFiller[] = {
    "The", "old", "lighthouse", "keeper", "counted", "ships", "along", "the", "northern", "coast,",
    "writing", "each", "name", "and", "cargo", "into", "a", "leather", "book", "that", "smelled",
    "of", "salt", "and", "smoke.", "Winter", "storms", "came", "early", "that", "year,", "and",
    "the", "harbour", "froze", "twice", "before", "the", "solstice.",
};

// A marker that differs from the previous call's in its first token, so the slot's cached prefix
// never reaches into the text: digits of a counter, least significant first (Gemma's tokenizer
// splits digits one per token).
std::string unique_marker() {
  static unsigned counter = 0;
  unsigned n = ++counter;
  std::string marker;
  do {
    marker += static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n > 0);
  return marker;
}

int32_t rendered_tokens(const std::string& content) {
  auto rendered = engine().render_prompt({{"user", content}});
  if (!rendered) die("render_prompt failed: " + rendered.error().to_string());
  auto n = engine().count_tokens(*rendered);
  if (!n) die("count_tokens failed: " + n.error().to_string());
  return *n;
}

// A user message whose rendered prompt has exactly `target` tokens (or the closest below).
std::string prompt_of_tokens(int32_t target) {
  std::string base = "Ref " + unique_marker() + ":";
  auto with_words = [&](size_t words) {
    std::string s = base;
    for (size_t i = 0; i < words; ++i) {
      s += ' ';
      s += kFiller[i % std::size(kFiller)];
    }
    return s;
  };
  size_t lo = 0, hi = static_cast<size_t>(target);  // every word is at least one token
  while (lo < hi) {                                  // the most words that still fit
    size_t mid = (lo + hi + 1) / 2;
    if (rendered_tokens(with_words(mid)) <= target) lo = mid; else hi = mid - 1;
  }
  std::string content = with_words(lo);
  for (int32_t n = rendered_tokens(content); n < target; ++n) content += " x";  // one token each
  while (rendered_tokens(content) > target && content.size() > base.size()) content.resize(content.size() - 2);
  return content;
}

void BM_PromptProcessing(benchmark::State& state) {
  // The whole rendered prompt is 512 tokens at positions 0..511, as in llama-bench's pp512, so the
  // attention spans the same KV length (llama.cpp pads it to multiples of 256: 512 tokens after a
  // cached prefix would attend over 768 cells). The slot keeps the previous prompt's KV, and the
  // marker limits that reuse to the chat template's first few tokens, so ~507 tokens are
  // processed; the rate counts exactly the processed ones.
  static bool warm = false;
  if (!warm) run(greedy_request(prompt_of_tokens(kPromptTokens), 1));  // warm-up
  warm = true;
  double tokens = 0, ms = 0;
  int64_t requests = 0;
  for (auto _ : state) {
    state.PauseTiming();
    GenerationRequest request = greedy_request(prompt_of_tokens(kPromptTokens), 1);
    state.ResumeTiming();
    GenerationResult result = run(request);
    const int32_t processed = result.usage.prompt_tokens - result.usage.cached_prompt_tokens;
    tokens += processed;
    ms += result.timings.prompt_ms;
    ++requests;
    state.SetIterationTime(result.timings.prompt_ms / 1000.0);
  }
  state.counters["pp_tokens_per_second"] = benchmark::Counter(tokens / (ms / 1000.0));
  state.counters["processed_tokens"] = benchmark::Counter(tokens / static_cast<double>(requests));
}

// ---- tg128 ----

constexpr int32_t kGenerateTokens = 128;

// Prompts that make the 270M model write well past 128 tokens under greedy decoding
// (checked: completion_tokens is reported, and the counters use the actual count).
const char* const kLongPrompts[] = {
    "Write a long, detailed essay of at least 1500 words about the history of the Roman Empire, "
    "from its founding to its fall.",
    "Write a very long story of at least 1500 words about a dragon who learns to bake bread.",
    "Explain in great detail, in at least 1500 words, how a modern computer works, from "
    "transistors to operating systems.",
    "Write a long, detailed travel guide of at least 1500 words to the cities of Italy.",
};

void BM_Generation(benchmark::State& state) {
  const GenerationRequest request = greedy_request(kLongPrompts[0], kGenerateTokens);
  static bool warm = false;
  if (!warm) run(greedy_request(kLongPrompts[0], 2));  // warm-up; leaves the prompt in a slot's KV
  warm = true;
  double tokens = 0, ms = 0, completion = 0;
  int64_t requests = 0;
  for (auto _ : state) {
    GenerationResult result = run(request);
    const int32_t decoded = result.usage.completion_tokens - 1;  // the first comes from the prompt
    tokens += decoded;
    ms += result.timings.generation_ms;
    completion += result.usage.completion_tokens;
    ++requests;
    state.SetIterationTime(result.timings.generation_ms / 1000.0);
  }
  state.counters["tg_tokens_per_second"] = benchmark::Counter(tokens / (ms / 1000.0));
  state.counters["completion_tokens"] = benchmark::Counter(completion / static_cast<double>(requests));
}

// ---- aggregate throughput with N concurrent streams ----

void BM_ConcurrentGeneration(benchmark::State& state) {
  const auto streams = static_cast<size_t>(state.range(0));
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < streams; ++i) {
    requests.push_back(greedy_request(kLongPrompts[i % std::size(kLongPrompts)], kGenerateTokens));
  }
  for (const auto& r : requests) run(greedy_request(r.messages[0].content, 2));  // warm-up: prompts cached
  double tokens = 0, seconds = 0;
  for (auto _ : state) {
    std::vector<int32_t> completion(streams, 0);
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> callers;
    for (size_t i = 0; i < streams; ++i) {
      callers.emplace_back([&, i] { completion[i] = run(requests[i]).usage.completion_tokens; });
    }
    for (auto& t : callers) t.join();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int32_t n : completion) tokens += n;
  }
  state.counters["aggregate_tokens_per_second"] = benchmark::Counter(tokens / seconds);
  state.counters["completion_tokens"] = benchmark::Counter(tokens / static_cast<double>(state.iterations()));
}
// ---- metering overhead and joules per token ----

void BM_StreamedGeneration(benchmark::State& state) {
  const bool metered = state.range(0) != 0;
  const tandem::Config defaults;
  static std::string why;
  static tandem::energy::EnergyTracker tracker(tandem::energy::best_cpu_meter(defaults.energy_cpu_tdp_w, &why));
  const GenerationRequest request = greedy_request(kLongPrompts[1], kGenerateTokens);
  run(greedy_request(kLongPrompts[1], 2));  // warm-up: the prompt is in a slot's KV
  double completion = 0, seconds = 0, joules = 0, generation_joules = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const uint64_t ticket = metered ? tracker.begin() : 0;
    bool first = true;
    int64_t deltas = 0;
    auto result = engine().generate(request, [&](std::string_view) {
      if (metered && std::exchange(first, false)) tracker.first_token(ticket);
      ++deltas;
      return true;
    });
    if (!result) die("generate failed: " + result.error().to_string());
    if (metered) {
      const auto used = tracker.end(ticket);
      joules += used.joules;
      generation_joules += used.generation_joules();
    }
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(deltas);
    completion += result->usage.completion_tokens;
    seconds += took;
    state.SetIterationTime(took);
  }
  state.counters["tokens_per_second"] = benchmark::Counter(completion / seconds);
  if (metered) {
    state.counters["joules_per_token"] = benchmark::Counter(joules / completion);
    state.counters["generation_joules_per_token"] =
        benchmark::Counter(generation_joules / (completion - static_cast<double>(state.iterations())));
    // energy.cloud_wh_per_1k_tokens's default, for the same tokens answered in the cloud.
    state.counters["cloud_estimate_joules_per_token"] =
        benchmark::Counter(defaults.energy_cloud_wh_per_1k_tokens * 3600.0 / 1000.0);
    state.SetLabel(why);
  }
}

// What metering adds to one answer without the model: the three meter reads of begin, first
// token and end. Divided by an answer's duration it bounds the overhead from below noise.
void BM_MeteringPerAnswer(benchmark::State& state) {
  const tandem::Config defaults;
  std::string why;
  tandem::energy::EnergyTracker tracker(tandem::energy::best_cpu_meter(defaults.energy_cpu_tdp_w, &why));
  for (auto _ : state) {
    const uint64_t ticket = tracker.begin();
    tracker.first_token(ticket);
    benchmark::DoNotOptimize(tracker.end(ticket));
  }
  state.SetLabel(why);
}

// Registered at run time so --iterations can set the (fixed) iteration counts.
void register_benchmarks() {
  auto iterations = [](int64_t fallback) { return config().iterations > 0 ? config().iterations : fallback; };
  benchmark::RegisterBenchmark("BM_PromptProcessing", BM_PromptProcessing)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations(8));
  benchmark::RegisterBenchmark("BM_Generation", BM_Generation)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations(5));
  benchmark::RegisterBenchmark("BM_ConcurrentGeneration", BM_ConcurrentGeneration)
      ->ArgName("streams")
      ->Arg(1)
      ->Arg(4)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations(2));
  benchmark::RegisterBenchmark("BM_MeteringPerAnswer", BM_MeteringPerAnswer)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_StreamedGeneration", BM_StreamedGeneration)
      ->ArgName("metered")
      ->Arg(0)
      ->Arg(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(iterations(5));
}

std::string default_model() {
  if (const char* env = std::getenv("TANDEM_BENCH_MODEL"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/tandem/models/gemma-3-270m-q4_k_m.gguf";
}

// Takes Tandem's own flags out of argv; the rest goes to Google Benchmark.
void parse_own_flags(int* argc, char** argv) {
  config().model = default_model();
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> const char* {
      return arg.substr(0, name.size()) == name ? argv[i] + name.size() : nullptr;
    };
    if (const char* v = value("--model=")) {
      config().model = v;
    } else if (const char* v = value("--threads=")) {
      config().threads = std::atoi(v);
    } else if (const char* v = value("--slots=")) {
      config().slots = std::atoi(v);
    } else if (const char* v = value("--context=")) {
      config().context = std::atoi(v);
    } else if (const char* v = value("--iterations=")) {
      config().iterations = std::atoll(v);
    } else if (const char* v = value("--devices=")) {
      config().devices = tandem::split_setting_list(v);
    } else if (const char* v = value("--gpu-layers=")) {
      config().gpu_layers = std::atoi(v);
    } else if (const char* v = value("--rpc=")) {
      for (const auto& endpoint : tandem::split_setting_list(v)) {
        if (auto added = tandem::devices::add_rpc_server(endpoint); !added) die(added.error().to_string());
      }
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::log::set_level(tandem::log::Level::kWarn);
  parse_own_flags(&argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();
  benchmark::AddCustomContext("model", config().model);
  benchmark::AddCustomContext("engine_threads", std::to_string(config().threads));
  benchmark::AddCustomContext("engine_slots", std::to_string(config().slots));
  benchmark::AddCustomContext("engine_context", std::to_string(config().context));
  std::string devices = "CPU";
  for (const auto& d : config().devices) devices += "," + d;
  benchmark::AddCustomContext("engine_devices", devices);
  benchmark::AddCustomContext("engine_gpu_layers", std::to_string(config().devices.empty() ? 0 : config().gpu_layers));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
