// Knowledge-base scale benchmarks, printed as one JSON object per run:
//   tandem_knowledge_bench vectors N [queries]      HNSW build and query over N synthetic
//       384-dimensional vectors (topics with low intrinsic dimension, like sentence embeddings),
//       recall@10 against exact search at several ef values, and bytes per vector.
//   tandem_knowledge_bench query-latency N TEXT_FILE EMBEDDING_MODEL [queries] [DIR]
//       a knowledge base of N chunks (sentences of TEXT_FILE, repeated with variations, each with
//       a synthetic vector), then hybrid queries end to end (query embedding, FTS5 BM25, HNSW,
//       fusion, chunk fetch): latency p50/p95 and bytes on disk per chunk; then the same queries
//       BM25 only, in wall and in thread CPU time. With DIR the base is
//       built there and kept, and a base already there is reused as it is (N is not checked), so
//       that repeated runs skip the minutes of building it.
//   tandem_knowledge_bench embedding-throughput EMBEDDING_MODEL TEXT_FILE [threads] [batch]
//       every non-empty line of TEXT_FILE embedded in one embed() call, as llama-embedding does
//       with a file: tokens, seconds inside embed() (tokenisation, decodes, pooling) and tokens/s.
//       bench/knowledge_throughput.py embedding runs it alternately with llama-embedding.
//   tandem_knowledge_bench parse FOLDER
//       every file of FOLDER parsed (text extraction only: no chunking, embedding or storing):
//       files, PDF pages, text bytes and pages/s; the parse-only side of the ingest benchmark.
//   tandem_knowledge_bench store-encryption N [queries] [rounds] [clear|encrypted]
//       the store in clear and encrypted at rest (EncryptedVfs), side by side in one run: ingest of
//       N synthetic chunks (100 per document, one transaction each), BM25 queries with the chunk
//       fetch, and AES-256-GCM throughput through the VFS (every page of the file read and
//       decrypted, then written and encrypted, from the OS page cache, on one thread). With a
//       side, only that side's ingest and queries run (for a profiler).
#include <sqlite3.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/statistics.h"
#include "engine/engine.h"
#include "knowledge/document.h"
#include "knowledge/encrypted_vfs.h"
#include "knowledge/knowledge_base.h"
#include "knowledge/store.h"
#include "knowledge/vector_index.h"

namespace {

using namespace tandem;
using Clock = std::chrono::steady_clock;

constexpr int kDims = 384;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double thread_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// User + system time of the whole process: on a shared machine, what the work itself cost.
double process_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

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
  nlohmann::ordered_json out = {{"bench", "vectors"},
                                {"n", n},
                                {"dims", kDims},
                                {"m", 16},
                                {"ef_construction", 100},
                                {"build_s", build_s},
                                {"bytes_per_vector_on_disk", bytes_per_vector},
                                {"runs", nlohmann::json::array()}};
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
    out["runs"].push_back({{"ef", ef},
                           {"recall_at_10", hits / (10.0 * static_cast<double>(queries))},
                           {"latency_ms_p50", percentile(latencies, 0.5)},
                           {"latency_ms_p95", percentile(latencies, 0.95)}});
  }
  std::cout << out.dump() << "\n";
  return 0;
}

int bench_query_latency(size_t n, const std::string& text_file, const std::string& model, size_t queries,
                        const std::string& keep_dir) {
  std::vector<std::string> sentences;
  {
    std::ifstream in(text_file);
    for (std::string line; std::getline(in, line);) {
      if (line.size() > 20) sentences.push_back(line);
    }
  }
  if (sentences.empty()) return 1;
  const std::filesystem::path dir =
      keep_dir.empty() ? std::filesystem::temp_directory_path() / "tandem-query-latency-bench"
                       : std::filesystem::path(keep_dir);
  const bool reuse = !keep_dir.empty() && std::filesystem::exists(dir / "kb.sqlite");
  if (!reuse) std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  engine::EmbedderOptions options;
  options.model_path = model;
  auto embedder = engine::Embedder::load(options);
  if (!embedder) return 1;

  // Fill the store directly (the vectors are synthetic; embedding 100k chunks is the ingest bench).
  if (!reuse) {
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
  std::vector<std::string> asked;
  std::mt19937 rng(5);
  for (size_t q = 0; q < queries; ++q) {
    asked.push_back(sentences[rng() % sentences.size()].substr(0, 80));
    const auto t = Clock::now();
    auto found = (*kb)->search(asked.back(), {.k = 5});
    latencies.push_back(ms_since(t));
    if (!found) return 1;
    embed_ms.push_back(found->embed_ms);
  }
  // The same queries BM25 only (FTS5 and the chunk fetch, on this thread), also in CPU time of
  // this thread: the figure other processes on a shared machine move least.
  std::vector<double> bm25_ms;
  std::vector<double> bm25_cpu_ms;
  for (const auto& query : asked) {
    const auto t = Clock::now();
    const double cpu = thread_cpu_ms();
    auto found = (*kb)->search(query, {.k = 5, .mode = knowledge::SearchMode::kBm25});
    bm25_cpu_ms.push_back(thread_cpu_ms() - cpu);
    bm25_ms.push_back(ms_since(t));
    if (!found) return 1;
  }
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) bytes += entry.file_size();
  nlohmann::ordered_json out = {{"bench", "query-latency"},
                                {"chunks", n},
                                {"queries", queries},
                                {"open_and_index_s", open_s},
                                {"latency_ms_p50", percentile(latencies, 0.5)},
                                {"latency_ms_p95", percentile(latencies, 0.95)},
                                {"query_embedding_ms_p50", percentile(embed_ms, 0.5)},
                                {"bm25_ms_p50", percentile(bm25_ms, 0.5)},
                                {"bm25_ms_p95", percentile(bm25_ms, 0.95)},
                                {"bm25_cpu_ms_p50", percentile(bm25_cpu_ms, 0.5)},
                                {"bm25_cpu_ms_p95", percentile(bm25_cpu_ms, 0.95)},
                                {"bytes_on_disk_per_chunk", static_cast<double>(bytes) / static_cast<double>(n)}};
  std::cout << out.dump() << "\n";
  kb->reset();
  if (keep_dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

int bench_embedding_throughput(const std::string& model, const std::string& text_file, int threads, int batch) {
  std::vector<std::string> lines;
  {
    std::ifstream in(text_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
  }
  if (lines.empty()) return 1;
  engine::EmbedderOptions options;
  options.model_path = model;
  options.threads = threads;
  options.batch = batch;
  auto start = Clock::now();
  auto embedder = engine::Embedder::load(options);
  if (!embedder) {
    std::cerr << embedder.error().message << "\n";
    return 1;
  }
  const double load_s = ms_since(start) / 1000;
  start = Clock::now();
  auto embedded = (*embedder)->embed(lines);
  const double embed_s = ms_since(start) / 1000;
  if (!embedded) {
    std::cerr << embedded.error().message << "\n";
    return 1;
  }
  nlohmann::ordered_json out = {{"bench", "embedding-throughput"},
                                {"inputs", lines.size()},
                                {"tokens", embedded->prompt_tokens},
                                {"threads", threads},
                                {"batch", batch},
                                {"load_s", load_s},
                                {"embed_s", embed_s},
                                {"tokens_per_s", embedded->prompt_tokens / embed_s}};
  std::cout << out.dump() << "\n";
  return 0;
}

int bench_parse(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  int64_t pages = 0;
  int64_t text_bytes = 0;
  const auto start = Clock::now();
  for (const auto& file : files) {
    auto parsed = knowledge::parse_file(file);
    if (!parsed) {
      std::cerr << file << ": " << parsed.error().message << "\n";
      return 1;
    }
    pages += parsed->pages;
    for (const auto& block : parsed->blocks) text_bytes += static_cast<int64_t>(block.text.size());
  }
  const double seconds = ms_since(start) / 1000;
  nlohmann::ordered_json out = {{"bench", "parse"},         {"files", files.size()},
                                {"pages", pages},           {"text_bytes", text_bytes},
                                {"seconds", seconds},       {"pages_per_s", static_cast<double>(pages) / seconds}};
  std::cout << out.dump() << "\n";
  return 0;
}

// Sentences of a synthetic language: Zipf-like word frequencies over a 5,000-word vocabulary.
class SyntheticText {
 public:
  explicit SyntheticText(uint32_t seed) : rng_(seed) {
    std::vector<double> weights;
    for (int i = 0; i < 5000; ++i) {
      std::string word;  // i in base 26, then a syllable: distinct words of 3 to 5 letters
      for (int n = i; word.empty() || n > 0; n /= 26) word += static_cast<char>('a' + n % 26);
      vocabulary_.push_back(word + "an");
      weights.push_back(1.0 / (i + 1));
    }
    pick_ = std::discrete_distribution<size_t>(weights.begin(), weights.end());
  }
  std::string sentence(int words) {
    std::string out;
    for (int i = 0; i < words; ++i) out += (i ? " " : "") + vocabulary_[pick_(rng_)];
    return out + ".";
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> vocabulary_;
  std::discrete_distribution<size_t> pick_;
};

struct StoreRun {
  double ingest_s = 0;
  double ingest_cpu_s = 0;
  std::vector<double> query_ms;
  std::vector<double> query_cpu_ms;
  uintmax_t bytes = 0;
};

Result<StoreRun> run_store(const std::filesystem::path& dir, std::optional<privacy::Key> key, size_t n,
                           size_t queries) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  StoreRun run;
  auto store = knowledge::Store::open((dir / "kb.sqlite").string(), key);
  if (!store) return store.error();
  auto collection = (*store)->collection_id("bench", true);
  if (!collection) return collection.error();
  // Both runs store the same texts and vectors, made before the clock starts.
  SyntheticText text(11);
  SyntheticVectors source(1);
  constexpr size_t kChunksPerDocument = 100;
  std::vector<std::vector<knowledge::Chunk>> documents;
  std::vector<std::vector<std::vector<float>>> vectors;
  for (size_t done = 0; done < n; done += kChunksPerDocument) {
    documents.emplace_back();
    vectors.emplace_back();
    for (size_t c = 0; c < kChunksPerDocument && done + c < n; ++c) {
      knowledge::Chunk chunk;
      chunk.text = text.sentence(40);
      documents.back().push_back(std::move(chunk));
      vectors.back().push_back(source.next());
    }
  }
  auto start = Clock::now();
  const double start_cpu = process_cpu_ms();
  for (size_t doc = 0; doc < documents.size(); ++doc) {
    knowledge::DocumentRecord record;
    record.collection_id = **collection;
    record.path = "doc" + std::to_string(doc) + ".txt";
    record.format = "text";
    record.content_hash = record.path;
    if (auto ids = (*store)->replace_document(record, documents[doc], vectors[doc], nullptr); !ids) return ids.error();
  }
  run.ingest_s = ms_since(start) / 1000;
  run.ingest_cpu_s = (process_cpu_ms() - start_cpu) / 1000;
  SyntheticText questions(5);
  for (size_t q = 0; q < queries; ++q) {
    const std::string question = questions.sentence(8);
    const auto t = Clock::now();
    const double cpu = process_cpu_ms();
    auto hits = (*store)->search_lexical(question, 10, {});
    if (!hits) return hits.error();
    std::vector<int64_t> ids;
    for (const auto& hit : *hits) ids.push_back(hit.id);
    if (auto chunks = (*store)->chunks(ids); !chunks) return chunks.error();
    run.query_ms.push_back(ms_since(t));
    run.query_cpu_ms.push_back(process_cpu_ms() - cpu);
  }
  store->reset();  // checkpoints the WAL into the file
  for (const auto& entry : std::filesystem::directory_iterator(dir)) run.bytes += entry.file_size();
  return run;
}

// Every page of `path` read through `vfs` (decrypted when it is the encrypting one), then written
// to a new file (encrypted), `passes` times: GB/s of pages through the VFS on this thread.
struct VfsThroughput {
  double read_gb_s = 0;
  double write_gb_s = 0;
};

VfsThroughput vfs_throughput(sqlite3_vfs* vfs, const std::string& path, int passes) {
  auto open_file = [&](const std::string& name, int flags) {
    auto* file = static_cast<sqlite3_file*>(sqlite3_malloc(vfs->szOsFile));
    int out_flags = 0;
    if (vfs->xOpen(vfs, name.c_str(), file, flags | SQLITE_OPEN_MAIN_DB, &out_flags) != SQLITE_OK) {
      sqlite3_free(file);
      return static_cast<sqlite3_file*>(nullptr);
    }
    return file;
  };
  auto close_file = [](sqlite3_file* file) {
    file->pMethods->xClose(file);
    sqlite3_free(file);
  };
  VfsThroughput out;
  sqlite3_file* in = open_file(path, SQLITE_OPEN_READONLY);
  sqlite3_file* copy = open_file(path + ".copy", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!in || !copy) return out;
  sqlite3_int64 size = 0;
  in->pMethods->xFileSize(in, &size);
  constexpr int kPage = 4096;
  const int64_t pages = size / kPage;
  std::vector<uint8_t> all(static_cast<size_t>(size));
  auto start = Clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t p = 0; p < pages; ++p) in->pMethods->xRead(in, all.data() + p * kPage, kPage, p * kPage);
  }
  const double read_s = ms_since(start) / 1000;
  start = Clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    for (int64_t p = 0; p < pages; ++p) copy->pMethods->xWrite(copy, all.data() + p * kPage, kPage, p * kPage);
  }
  const double write_s = ms_since(start) / 1000;
  close_file(in);
  close_file(copy);
  std::filesystem::remove(path + ".copy");
  const double gigabytes = static_cast<double>(pages) * kPage * passes / 1e9;
  out.read_gb_s = gigabytes / read_s;
  out.write_gb_s = gigabytes / write_s;
  return out;
}

double median(std::vector<double> values) {
  return percentile(std::move(values), 0.5);
}

// Rounds alternate which store goes first; each side's medians are reported, and the medians of
// the per-round ratios (encrypted / clear, the two runs of a round being next to each other in
// time): the machine is shared. CPU time is the process's (user + system).
int bench_store_encryption(size_t n, size_t queries, int rounds, const std::string& only) {
  const auto root = std::filesystem::temp_directory_path() / "tandem-store-encryption-bench";
  privacy::Key key;
  if (!privacy::random_bytes(key)) return 1;
  auto vfs = knowledge::EncryptedVfs::create(key);
  if (!vfs) return 1;
  double load_before[3] = {0, 0, 0};
  getloadavg(load_before, 3);
  std::vector<double> ingest_s[2], ingest_cpu_s[2], query_p50[2], query_p95[2], query_cpu_ms[2], read_gb_s[2],
      write_gb_s[2];
  uintmax_t bytes[2] = {0, 0};
  for (int round = 0; round < rounds; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      const int encrypted = (round + turn) % 2;
      if (!only.empty() && only != (encrypted ? "encrypted" : "clear")) continue;
      const auto dir = root / (encrypted ? "encrypted" : "clear");
      auto run = run_store(dir, encrypted ? std::optional(key) : std::nullopt, n, queries);
      if (!run) {
        std::cerr << run.error().message << "\n";
        return 1;
      }
      ingest_s[encrypted].push_back(run->ingest_s);
      ingest_cpu_s[encrypted].push_back(run->ingest_cpu_s);
      query_p50[encrypted].push_back(percentile(run->query_ms, 0.5));
      query_p95[encrypted].push_back(percentile(run->query_ms, 0.95));
      query_cpu_ms[encrypted].push_back(percentile(run->query_cpu_ms, 0.5));
      bytes[encrypted] = run->bytes;
      if (!only.empty()) continue;
      constexpr int kPasses = 5;
      const auto pages =
          vfs_throughput(sqlite3_vfs_find(encrypted ? (*vfs)->name() : nullptr), (dir / "kb.sqlite").string(), kPasses);
      read_gb_s[encrypted].push_back(pages.read_gb_s);
      write_gb_s[encrypted].push_back(pages.write_gb_s);
    }
  }
  if (!only.empty()) {
    const int side = only == "encrypted";
    std::cout << nlohmann::ordered_json{{"bench", "store-encryption"},      {"side", only},
                                        {"chunks", n},                      {"rounds", rounds},
                                        {"ingest_s", median(ingest_s[side])}, {"ingest_cpu_s", median(ingest_cpu_s[side])}}
                     .dump()
              << "\n";
    std::filesystem::remove_all(root);
    return 0;
  }
  double load_after[3] = {0, 0, 0};
  getloadavg(load_after, 3);
  nlohmann::ordered_json out = {{"bench", "store-encryption"},
                                {"chunks", n},
                                {"queries", queries},
                                {"rounds", rounds},
                                {"load_average_1min", {{"before", load_before[0]}, {"after", load_after[0]}}}};
  for (int encrypted = 0; encrypted < 2; ++encrypted) {
    out[encrypted ? "encrypted" : "clear"] = {{"ingest_s", median(ingest_s[encrypted])},
                                              {"ingest_cpu_s", median(ingest_cpu_s[encrypted])},
                                              {"query_ms_p50", median(query_p50[encrypted])},
                                              {"query_ms_p95", median(query_p95[encrypted])},
                                              {"query_cpu_ms_p50", median(query_cpu_ms[encrypted])},
                                              {"vfs_read_gb_s", median(read_gb_s[encrypted])},
                                              {"vfs_write_gb_s", median(write_gb_s[encrypted])},
                                              {"bytes_on_disk", bytes[encrypted]}};
  }
  auto overhead = [&](const std::vector<double>* side) {
    std::vector<double> ratios;
    for (int round = 0; round < rounds; ++round) ratios.push_back(side[1][round] / side[0][round]);
    return nlohmann::ordered_json{{"median_of_round_ratios", median(ratios) - 1},
                                  {"best_round", *std::min_element(ratios.begin(), ratios.end()) - 1},
                                  {"worst_round", *std::max_element(ratios.begin(), ratios.end()) - 1}};
  };
  out["overhead"] = {{"ingest_wall", overhead(ingest_s)},
                     {"ingest_cpu", overhead(ingest_cpu_s)},
                     {"query_p50_wall", overhead(query_p50)},
                     {"query_p50_cpu", overhead(query_cpu_ms)}};
  // What the VFS's AES-GCM adds to each byte of a page, I/O taken out: GB/s of the cipher work.
  auto crypto_gb_s = [](double encrypted, double clear) { return 1 / (1 / encrypted - 1 / clear); };
  out["vfs_crypto_gb_s"] = {{"decrypt", crypto_gb_s(median(read_gb_s[1]), median(read_gb_s[0]))},
                            {"encrypt", crypto_gb_s(median(write_gb_s[1]), median(write_gb_s[0]))}};
  // The cipher alone on the same 4 KB pages.
  {
    privacy::AesGcm cipher(key);
    std::vector<uint8_t> page(4096 - knowledge::EncryptedVfs::kReservedBytes, 0x5a);
    privacy::Nonce nonce{};
    privacy::Tag tag{};
    constexpr uint32_t kPages = 200000;
    const auto start = Clock::now();
    for (uint32_t i = 0; i < kPages; ++i) {
      for (int b = 0; b < 4; ++b) nonce[8 + b] = static_cast<uint8_t>(i >> (24 - 8 * b));
      (void)cipher.encrypt(nonce, {}, page, page, tag);
    }
    out["aes_gcm_4k_gb_s"] =
        static_cast<double>(kPages) * static_cast<double>(page.size()) / 1e9 / (ms_since(start) / 1000);
  }
  std::cout << out.dump() << "\n";
  std::filesystem::remove_all(root);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "vectors" && argc >= 3) {
    return bench_vectors(std::stoul(argv[2]), argc > 3 ? std::stoul(argv[3]) : 200);
  }
  if (mode == "query-latency" && argc >= 5) {
    return bench_query_latency(std::stoul(argv[2]), argv[3], argv[4], argc > 5 ? std::stoul(argv[5]) : 500,
                               argc > 6 ? argv[6] : "");
  }
  if (mode == "embedding-throughput" && argc >= 4) {
    return bench_embedding_throughput(argv[2], argv[3], argc > 4 ? std::stoi(argv[4]) : 2,
                                      argc > 5 ? std::stoi(argv[5]) : engine::EmbedderOptions{}.batch);
  }
  if (mode == "parse" && argc >= 3) return bench_parse(argv[2]);
  if (mode == "store-encryption" && argc >= 3 && (argc <= 5 || argv[5] == std::string("clear") ||
                                                   argv[5] == std::string("encrypted"))) {
    return bench_store_encryption(std::stoul(argv[2]), argc > 3 ? std::stoul(argv[3]) : 500,
                                  argc > 4 ? std::stoi(argv[4]) : 5, argc > 5 ? argv[5] : "");
  }
  std::cerr << "usage: tandem_knowledge_bench vectors N [queries] | query-latency N TEXT_FILE EMBEDDING_MODEL [queries] [DIR]"
               " | embedding-throughput EMBEDDING_MODEL TEXT_FILE [threads] [batch] | parse FOLDER"
               " | store-encryption N [queries] [rounds] [clear|encrypted]\n";
  return 2;
}
