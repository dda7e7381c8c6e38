// Knowledge-base scale benchmarks, printed as one JSON object per run:
//   tandem_knowledge_bench vectors N [queries]      HNSW build and query over N synthetic
//       384-dimensional vectors (topics with low intrinsic dimension, like sentence embeddings),
//       recall@10 against exact search at several ef values, and bytes per vector.
//   tandem_knowledge_bench query-latency N TEXT_FILE EMBEDDING_MODEL [queries]
//       a knowledge base of N chunks (sentences of TEXT_FILE, repeated with variations, each with
//       a synthetic vector), then hybrid queries end to end (query embedding, FTS5 BM25, HNSW,
//       fusion, chunk fetch): latency p50/p95 and bytes on disk per chunk.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/statistics.h"
#include "engine/engine.h"
#include "knowledge/knowledge_base.h"
#include "knowledge/store.h"
#include "knowledge/vector_index.h"

namespace {

using namespace tandem;
using Clock = std::chrono::steady_clock;

constexpr int kDims = 384;

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

// Unit vectors with the structure of sentence embeddings: 1000 topics, each a centre plus a
// 16-dimensional subspace of its own along which its passages vary, plus a little isotropic
// noise (low intrinsic dimension, unlike uniform random vectors, on which no ANN index works).
class SyntheticVectors {
 public:
  explicit SyntheticVectors(uint32_t seed) : rng_(seed) {
    std::normal_distribution<float> normal;
    for (int t = 0; t < kTopics; ++t) {
      Topic topic;
      topic.centre = random_unit(normal);
      for (int d = 0; d < kTopicDims; ++d) topic.directions.push_back(random_unit(normal));
      topics_.push_back(std::move(topic));
    }
  }
  std::vector<float> next() {
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<size_t> pick(0, topics_.size() - 1);
    const Topic& topic = topics_[pick(rng_)];
    std::vector<float> v = topic.centre;
    for (const auto& direction : topic.directions) {
      const float weight = 0.25F * normal(rng_);
      for (int i = 0; i < kDims; ++i) v[i] += weight * direction[i];
    }
    for (auto& x : v) x += 0.01F * normal(rng_);
    normalise(v);
    return v;
  }

 private:
  static constexpr int kTopics = 1000;
  static constexpr int kTopicDims = 16;
  struct Topic {
    std::vector<float> centre;
    std::vector<std::vector<float>> directions;
  };
  std::vector<float> random_unit(std::normal_distribution<float>& normal) {
    std::vector<float> v(kDims);
    for (auto& x : v) x = normal(rng_);
    normalise(v);
    return v;
  }
  static void normalise(std::vector<float>& v) {
    double norm = 0;
    for (float x : v) norm += static_cast<double>(x) * x;
    const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (auto& x : v) x *= inv;
  }
  std::mt19937 rng_;
  std::vector<Topic> topics_;
};

int bench_vectors(size_t n, size_t queries) {
  SyntheticVectors source(42);
  knowledge::VectorIndex index(kDims, {.m = 16, .ef_construction = 100});
  std::vector<float> all;
  all.reserve(n * kDims);
  auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto v = source.next();
    all.insert(all.end(), v.begin(), v.end());
    if (auto st = index.add(static_cast<int64_t>(i), v); !st) {
      std::cerr << st.error().message << "\n";
      return 1;
    }
    if (i % 100000 == 0) std::cerr << "built " << i << "/" << n << "\n";
  }
  const double build_s = ms_since(start) / 1000;
  const auto path = std::filesystem::temp_directory_path() / "tandem-vectors-bench.hnsw";
  (void)index.save(path.string());
  const double bytes_per_vector = static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(n);
  std::filesystem::remove(path);

  SyntheticVectors query_source(7);
  std::vector<std::vector<float>> qs;
  std::vector<std::vector<int64_t>> exact;
  for (size_t q = 0; q < queries; ++q) {
    qs.push_back(query_source.next());
    std::vector<std::pair<float, int64_t>> scored(n);
    for (size_t i = 0; i < n; ++i) {
      float dot = 0;
      for (int d = 0; d < kDims; ++d) dot += all[i * kDims + d] * qs.back()[d];
      scored[i] = {-dot, static_cast<int64_t>(i)};
    }
    std::partial_sort(scored.begin(), scored.begin() + 10, scored.end());
    exact.emplace_back();
    for (int k = 0; k < 10; ++k) exact.back().push_back(scored[k].second);
  }
  nlohmann::ordered_json out = {{"bench", "vectors"}, {"n", n}, {"dims", kDims}, {"m", 16}, {"ef_construction", 100},
                                {"build_s", build_s}, {"bytes_per_vector_on_disk", bytes_per_vector}, {"runs", nlohmann::json::array()}};
  for (int ef : {32, 64, 128, 256}) {
    knowledge::VectorIndex* idx = &index;
    // The search width is fixed when an index is made or loaded: reload with this ef.
    (void)index.save(path.string());
    auto reloaded = knowledge::VectorIndex::load(path.string(), kDims, {.ef_search = ef});
    std::filesystem::remove(path);
    if (!reloaded) return 1;
    idx = reloaded->get();
    std::vector<double> latencies;
    double hits = 0;
    for (size_t q = 0; q < queries; ++q) {
      const auto t = Clock::now();
      auto found = idx->search(qs[q], 10);
      latencies.push_back(ms_since(t));
      for (const auto& f : found) hits += std::count(exact[q].begin(), exact[q].end(), f.id);
    }
    out["runs"].push_back({{"ef", ef}, {"recall_at_10", hits / (10.0 * static_cast<double>(queries))},
                           {"latency_ms_p50", percentile(latencies, 0.5)}, {"latency_ms_p95", percentile(latencies, 0.95)}});
  }
  std::cout << out.dump() << "\n";
  return 0;
}

int bench_query_latency(size_t n, const std::string& text_file, const std::string& model, size_t queries) {
  std::vector<std::string> sentences;
  {
    std::ifstream in(text_file);
    for (std::string line; std::getline(in, line);) {
      if (line.size() > 20) sentences.push_back(line);
    }
  }
  if (sentences.empty()) return 1;
  const auto dir = std::filesystem::temp_directory_path() / "tandem-query-latency-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  engine::EmbedderOptions options;
  options.model_path = model;
  auto embedder = engine::Embedder::load(options);
  if (!embedder) return 1;

  // Fill the store directly (the vectors are synthetic; embedding 100k chunks is the ingest bench).
  {
    auto store = knowledge::Store::open((dir / "kb.sqlite").string());
    if (!store) return 1;
    (void)(*store)->set_meta("embedding_model", (*embedder)->info().name + " (384 dimensions)");
    auto collection = (*store)->collection_id("bench", true);
    SyntheticVectors source(1);
    std::mt19937 rng(3);
    constexpr size_t kChunksPerDocument = 100;
    for (size_t doc = 0; doc * kChunksPerDocument < n; ++doc) {
      knowledge::DocumentRecord record;
      record.collection_id = **collection;
      record.path = "doc" + std::to_string(doc) + ".txt";
      record.format = "text";
      record.content_hash = record.path;
      std::vector<knowledge::Chunk> chunks;
      std::vector<std::vector<float>> vectors;
      for (size_t c = 0; c < kChunksPerDocument && doc * kChunksPerDocument + c < n; ++c) {
        knowledge::Chunk chunk;
        for (int s = 0; s < 4; ++s) chunk.text += sentences[rng() % sentences.size()] + " ";
        chunks.push_back(std::move(chunk));
        vectors.push_back(source.next());
      }
      if (!(*store)->replace_document(record, chunks, vectors, nullptr)) return 1;
      if (doc % 100 == 0) std::cerr << "stored " << doc * kChunksPerDocument << "/" << n << "\n";
    }
  }
  auto start = Clock::now();
  auto kb = knowledge::KnowledgeBase::open({.dir = dir.string()}, **embedder);  // builds the HNSW index
  if (!kb) {
    std::cerr << kb.error().message << "\n";
    return 1;
  }
  const double open_s = ms_since(start) / 1000;
  std::vector<double> latencies;
  std::vector<double> embed_ms;
  std::mt19937 rng(5);
  for (size_t q = 0; q < queries; ++q) {
    const std::string& sentence = sentences[rng() % sentences.size()];
    const auto t = Clock::now();
    auto found = (*kb)->search(sentence.substr(0, 80), {.k = 5});
    latencies.push_back(ms_since(t));
    if (!found) return 1;
    embed_ms.push_back(found->embed_ms);
  }
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) bytes += entry.file_size();
  nlohmann::ordered_json out = {{"bench", "query-latency"}, {"chunks", n}, {"queries", queries},
                                {"open_and_index_s", open_s},
                                {"latency_ms_p50", percentile(latencies, 0.5)}, {"latency_ms_p95", percentile(latencies, 0.95)},
                                {"query_embedding_ms_p50", percentile(embed_ms, 0.5)},
                                {"bytes_on_disk_per_chunk", static_cast<double>(bytes) / static_cast<double>(n)}};
  std::cout << out.dump() << "\n";
  kb->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "vectors" && argc >= 3) {
    return bench_vectors(std::stoul(argv[2]), argc > 3 ? std::stoul(argv[3]) : 200);
  }
  if (mode == "query-latency" && argc >= 5) {
    return bench_query_latency(std::stoul(argv[2]), argv[3], argv[4], argc > 5 ? std::stoul(argv[5]) : 500);
  }
  std::cerr << "usage: tandem_knowledge_bench vectors N [queries] | query-latency N TEXT_FILE EMBEDDING_MODEL [queries]\n";
  return 2;
}
