#include "knowledge/knowledge_base.h"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <unordered_set>

#include "core/file_io.h"
#include "core/log.h"
#include "core/sha256.h"

namespace tandem::knowledge {
namespace fs = std::filesystem;
namespace {

constexpr const char* kStoreFile = "kb.sqlite";
constexpr const char* kIndexFile = "vectors.hnsw";
constexpr size_t kMaxHeadingBytesEmbedded = 200;
constexpr size_t kSaveIndexEveryFiles = 500;
constexpr size_t kChunksPerEmbeddingGroup = 256;  // documents are embedded together up to this many chunks
constexpr size_t kVectorsPerRead = 5000;
// The embedding_model meta value while a re-embedding runs, followed by the new model's label.
constexpr std::string_view kReembeddingTo = "unfinished re-embedding to ";

// What the base records of the model its vectors come from.
std::string model_label(const engine::Embedder& embedder) {
  return embedder.info().name + " (" + std::to_string(embedder.dimensions()) + " dimensions)";
}

Status check_options(const KnowledgeBaseOptions& options) {
  if (options.dir.empty()) return make_error(ErrorCode::kInvalidArgument, "the knowledge base needs a directory");
  if (options.embed_batch < 1) return make_error(ErrorCode::kInvalidArgument, "embed_batch must be >= 1");
  return {};
}

Status remove_saved_index(const std::string& dir) {
  std::error_code ec;
  for (const fs::path path : {fs::path(dir) / kIndexFile, fs::path(dir) / (std::string(kIndexFile) + ".sha256")}) {
    if (!fs::remove(path, ec) && ec) {
      return make_error(ErrorCode::kUnavailable, "cannot remove " + path.string() + ": " + ec.message());
    }
  }
  return {};
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.size() > 1 && name[0] == '.';
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name, const std::string& relative) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return fnmatch(pattern.c_str(), name.c_str(), 0) == 0 || fnmatch(pattern.c_str(), relative.c_str(), 0) == 0;
  });
}

// The files under `root` that the options select; folders that cannot be read become failures.
void collect_files(const fs::path& root, const AddOptions& options, std::vector<std::string>& files,
                   std::vector<FileOutcome>& failures) {
  std::vector<fs::path> folders{root};
  while (!folders.empty()) {
    const fs::path folder = folders.back();
    folders.pop_back();
    std::error_code ec;
    fs::directory_iterator it(folder, ec);
    if (ec) {
      failures.push_back({folder.string(), FileStatus::kFailed, "cannot read folder: " + ec.message()});
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) {
        failures.push_back({folder.string(), FileStatus::kFailed, "cannot read folder: " + ec.message()});
        break;
      }
      const fs::path& path = it->path();
      if (!options.hidden && is_hidden(path)) continue;
      std::error_code type_ec;
      if (it->is_directory(type_ec)) {
        if (!it->is_symlink(type_ec)) folders.push_back(path);  // links could loop
        continue;
      }
      if (!it->is_regular_file(type_ec)) continue;
      const std::string name = path.filename().string();
      const std::string relative = fs::relative(path, root, type_ec).string();
      const bool selected =
          options.include.empty() ? format_for_path(name).ok() : matches_any(options.include, name, relative);
      if (selected && !matches_any(options.exclude, name, relative)) files.push_back(path.string());
    }
  }
}

// The text embedded for a chunk: the model's passage prefix, then the heading (or the document's
// title), which tells the model what a passage is about when the passage does not.
std::string embedding_input(const engine::EmbeddingPrefixes& prefixes, const std::string& title,
                            const std::string& heading, const std::string& text) {
  const std::string& context = heading.empty() ? title : heading;
  const bool repeat = context.empty() || text.compare(0, context.size(), context) == 0;
  return prefixes.passage + (repeat ? text : cut_utf8(context, kMaxHeadingBytesEmbedded) + "\n" + text);
}

// How much a ranked list can be trusted for this query: a retriever that tells passages apart
// scores its best far above its tenth (relative gap 0.4-0.7 for MiniLM on English, BM25 on
// any language); one that cannot (the English-only MiniLM on Chinese: 0.1-0.25) scores them
// alike, and its ranks would only add noise to the fusion. Lists of fewer than 10 count fully.
double list_confidence(const std::vector<ScoredId>& list) {
  constexpr size_t kDepth = 10;
  constexpr double kNoise = 0.35;  // relative gap at or below which a list gets no weight
  constexpr double kClear = 0.55;  // and at or above which it gets its full weight
  if (list.size() < kDepth || list.front().score <= 0) return 1.0;
  const double gap = (list.front().score - list[kDepth - 1].score) / list.front().score;
  return std::clamp((gap - kNoise) / (kClear - kNoise), 0.0, 1.0);
}

// BM25's best passage is in another script than the question, and the embedding model reads
// that passage: what the two share are names and numbers ("1998", "NFL" in an English question
// against Chinese paragraphs), which outrank the dense list's reading of the meaning (XQuAD en
// questions, zh paragraphs: hybrid recall@1 0.27 against dense 0.73), so the lexical list
// counts for a quarter of its weight (0.1 and 0.25 tie on the tuning half at 0.735, 0 gives 0.731,
// 0.5 0.713; docs/benchmarks.md, 5).
constexpr double kCrossScriptLexicalWeight = 0.25;

bool matched_across_scripts(std::string_view query, const std::string& passage, const ScriptSet& embedding_scripts) {
  const int query_script = main_script(query);
  const int passage_script = main_script(passage);
  return query_script >= 0 && passage_script >= 0 && query_script != passage_script &&
         embedding_scripts.mostly_in(passage);
}

// What list[i] adds to a chunk's fused score, before the list's weight: its score rescaled to
// [0, 1] between the list's last and best (1 when all tie), or its reciprocal rank.
double fusion_share(const std::vector<ScoredId>& list, size_t i, const SearchOptions& options) {
  if (options.fusion == Fusion::kReciprocalRank) return 1.0 / (options.rrf_k + static_cast<double>(i) + 1.0);
  const double best = list.front().score;
  const double last = list.back().score;
  return best > last ? (list[i].score - last) / (best - last) : 1.0;
}

}  // namespace

std::string_view file_status_name(FileStatus status) {
  switch (status) {
    case FileStatus::kAdded:
      return "added";
    case FileStatus::kReplaced:
      return "replaced";
    case FileStatus::kUnchanged:
      return "unchanged";
    case FileStatus::kMoved:
      return "moved";
    case FileStatus::kDuplicate:
      return "duplicate";
    case FileStatus::kSkipped:
      return "skipped";
    case FileStatus::kFailed:
      return "failed";
    case FileStatus::kGone:
      return "gone";
    case FileStatus::kRemoved:
      return "removed";
  }
  return "failed";
}

int64_t AddReport::count(FileStatus status) const {
  return std::count_if(files.begin(), files.end(), [&](const FileOutcome& f) { return f.status == status; });
}

Result<SearchMode> parse_search_mode(std::string_view name) {
  if (name == "bm25") return SearchMode::kBm25;
  if (name == "dense") return SearchMode::kDense;
  if (name == "hybrid") return SearchMode::kHybrid;
  return make_error(ErrorCode::kInvalidArgument,
                    "search mode must be bm25, dense or hybrid, not '" + std::string(name) + "'");
}

KnowledgeBase::KnowledgeBase(const KnowledgeBaseOptions& options, ScriptSet embedding_scripts,
                             engine::Embedder& embedder, std::unique_ptr<Store> store)
    : options_(options), embedding_scripts_(std::move(embedding_scripts)), embedder_(embedder), store_(std::move(store)) {}

KnowledgeBase::~KnowledgeBase() = default;

std::string KnowledgeBase::store_file(const std::string& dir) {
  return (fs::path(dir) / kStoreFile).string();
}

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::open(const KnowledgeBaseOptions& options,
                                                           engine::Embedder& embedder) {
  if (auto st = check_options(options); !st) return st.error();
  auto embedding_scripts = ScriptSet::parse(options.embedding_scripts);
  if (!embedding_scripts) return embedding_scripts.error();
  // A chunk is embedded behind the model's passage prefix (counted with its special tokens: a
  // margin of two).
  int32_t room = embedder.max_input_tokens();
  if (const std::string prefix = embedder.prefixes().passage; !prefix.empty()) {
    auto prefix_tokens = embedder.count_tokens(prefix);
    if (!prefix_tokens) return prefix_tokens.error();
    room -= *prefix_tokens;
  }
  if (options.chunking.max_tokens > room) {
    return make_error(ErrorCode::kInvalidArgument, "chunks of " + std::to_string(options.chunking.max_tokens) +
                                                       " tokens do not fit the embedding model (" +
                                                       std::to_string(room) + " at most)");
  }
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + options.dir + ": " + ec.message());
  auto store = Store::open(store_file(options.dir), options.encryption_key);
  if (!store) return store.error();

  // Vectors of two models cannot be compared: the base keeps the one it was built with.
  const std::string model = model_label(embedder);
  auto stored_model = (*store)->meta("embedding_model");
  if (!stored_model) return stored_model.error();
  if (!*stored_model) {
    if (auto st = (*store)->set_meta("embedding_model", model); !st) return st.error();
  } else if ((*stored_model)->starts_with(kReembeddingTo)) {
    return make_error(ErrorCode::kInvalidArgument, "the knowledge base in " + options.dir + " holds an " +
                                                       **stored_model + ": run the re-embedding again");
  } else if (**stored_model != model) {
    return make_error(ErrorCode::kInvalidArgument, "the knowledge base in " + options.dir + " was built with " +
                                                       **stored_model + ", not " + model +
                                                       "; use that model, re-embed the base with this one, or use a "
                                                       "new knowledge base directory");
  }

  return std::unique_ptr<KnowledgeBase>(
      new KnowledgeBase(options, std::move(*embedding_scripts), embedder, std::move(*store)));
}

// The vectors change in batches, each its own transaction, so memory stays bounded; the meta
// value names the run until the last batch, so an interrupted base is never searched with two
// models' vectors. The saved index goes first: it would otherwise be loaded with the old vectors.
Result<int64_t> KnowledgeBase::reembed(const KnowledgeBaseOptions& options, engine::Embedder& embedder,
                                       const std::function<void(int64_t done, int64_t total)>& on_progress) {
  if (auto st = check_options(options); !st) return st.error();
  const fs::path store_path = store_file(options.dir);
  std::error_code ec;
  if (!fs::exists(store_path, ec)) return make_error(ErrorCode::kNotFound, "no knowledge base in " + options.dir);
  auto store = Store::open(store_path.string(), options.encryption_key);
  if (!store) return store.error();
  const std::string model = model_label(embedder);
  if (auto st = (*store)->set_meta("embedding_model", std::string(kReembeddingTo) + model); !st) return st.error();
  if (auto st = remove_saved_index(options.dir); !st) return st.error();

  std::vector<int64_t> ids;
  if (auto st = (*store)->for_each_chunk([&](int64_t id, int64_t) { ids.push_back(id); }); !st) return st.error();
  const auto total = static_cast<int64_t>(ids.size());
  if (on_progress) on_progress(0, total);
  for (size_t first = 0; first < ids.size(); first += static_cast<size_t>(options.embed_batch)) {
    const size_t end = std::min(ids.size(), first + static_cast<size_t>(options.embed_batch));
    auto chunks = (*store)->chunks(
        {ids.begin() + static_cast<std::ptrdiff_t>(first), ids.begin() + static_cast<std::ptrdiff_t>(end)});
    if (!chunks) return chunks.error();
    std::vector<int64_t> batch_ids;
    std::vector<std::string> inputs;
    for (const auto& chunk : *chunks) {
      batch_ids.push_back(chunk.id);
      inputs.push_back(embedding_input(embedder.prefixes(), chunk.title, chunk.heading, chunk.text));
    }
    if (inputs.empty()) continue;
    auto embedded = embedder.embed(inputs);
    if (!embedded) return embedded.error();
    if (auto st = (*store)->update_vectors(batch_ids, embedded->vectors); !st) return st.error();
    if (on_progress) on_progress(static_cast<int64_t>(end), total);
  }
  if (auto st = (*store)->set_meta("embedding_model", model); !st) return st.error();
  return total;
}

// Listing documents does not need the vectors: the index is loaded on the first search or change,
// and brought in line again when another process changed the store (tandem kb add or rm while
// tandem serve runs).
Status KnowledgeBase::ensure_index() {
  auto data_version = store_->data_version();
  if (!data_version) return data_version.error();
  {
    std::shared_lock lock(index_mutex_);
    if (vectors_ && synced_data_version_ == *data_version) return {};
  }
  return reconcile_index(*data_version);
}

// The saved index is a cache of the store's vectors: load it when its checksum holds, then add
// what the store has and it lacks (a crash after a commit, another process's ingest) and drop
// what the store no longer has.
Status KnowledgeBase::reconcile_index(int64_t data_version) {
  const fs::path path = fs::path(options_.dir) / kIndexFile;
  const fs::path checksum_path = path.string() + ".sha256";
  std::unique_lock lock(index_mutex_);
  if (vectors_ && synced_data_version_ == data_version) return {};  // another thread got here first
  std::error_code ec;
  if (!vectors_ && fs::exists(path, ec) && fs::exists(checksum_path, ec)) {
    std::ifstream in(checksum_path);
    std::string expected;
    in >> expected;
    auto actual = sha256_file(path.string());
    if (actual && *actual == expected) {
      auto loaded = VectorIndex::load(path.string(), embedder_.dimensions(), options_.vectors, options_.encryption_key);
      if (loaded) {
        vectors_ = std::move(*loaded);
      } else {
        TANDEM_LOG(kWarn, "knowledge", "{}; rebuilding it from the store", loaded.error().message);
      }
    } else {
      TANDEM_LOG(kWarn, "knowledge", "the vector index {} does not match its checksum (damaged); rebuilding it",
                 path.string());
    }
  }
  if (!vectors_) vectors_ = std::make_unique<VectorIndex>(embedder_.dimensions(), options_.vectors);
  chunk_collection_.clear();
  if (auto st = store_->for_each_chunk([&](int64_t id, int64_t collection) { chunk_collection_[id] = collection; });
      !st) {
    return st;
  }
  std::vector<int64_t> missing;
  for (const auto& [id, collection] : chunk_collection_) {
    if (!vectors_->contains(id)) missing.push_back(id);
  }
  size_t stale = 0;
  for (int64_t id : vectors_->ids()) {
    if (!chunk_collection_.count(id)) {
      vectors_->remove(id);
      ++stale;
    }
  }
  if (!missing.empty()) TANDEM_LOG(kInfo, "knowledge", "indexing {} vectors from the store", missing.size());
  for (size_t first = 0; first < missing.size(); first += kVectorsPerRead) {
    const std::vector<int64_t> batch(
        missing.begin() + static_cast<std::ptrdiff_t>(first),
        missing.begin() + static_cast<std::ptrdiff_t>(std::min(missing.size(), first + kVectorsPerRead)));
    Status added;
    auto st = store_->for_each_vector(
        [&](int64_t id, std::span<const float> vector) {
          if (added) added = vectors_->add(id, vector);
        },
        batch);
    if (!st) return st;
    if (!added) return added;
  }
  synced_data_version_ = data_version;
  lock.unlock();
  if (!missing.empty() || stale > 0) return save_index();
  return {};
}

Status KnowledgeBase::save_index() {
  const fs::path path = fs::path(options_.dir) / kIndexFile;
  std::shared_lock lock(index_mutex_);
  if (auto st = vectors_->save(path.string(), options_.encryption_key); !st) return st;
  auto checksum = sha256_file(path.string());
  if (!checksum) return checksum.error();
  return replace_file_atomically(path.string() + ".sha256", *checksum + "\n");
}

Result<std::vector<std::vector<float>>> KnowledgeBase::embed_texts(const std::vector<std::string>& inputs) {
  std::vector<std::vector<float>> vectors;
  vectors.reserve(inputs.size());
  for (size_t first = 0; first < inputs.size(); first += static_cast<size_t>(options_.embed_batch)) {
    const size_t end = std::min(inputs.size(), first + static_cast<size_t>(options_.embed_batch));
    auto embedded = embedder_.embed(
        {inputs.begin() + static_cast<std::ptrdiff_t>(first), inputs.begin() + static_cast<std::ptrdiff_t>(end)});
    if (!embedded) return embedded.error();
    for (auto& vector : embedded->vectors) vectors.push_back(std::move(vector));
  }
  return vectors;
}

void KnowledgeBase::forget_chunks(const std::vector<int64_t>& ids) {
  std::unique_lock lock(index_mutex_);
  for (int64_t id : ids) {
    vectors_->remove(id);
    chunk_collection_.erase(id);
  }
}

Status KnowledgeBase::remember_chunks(const std::vector<int64_t>& ids, int64_t collection_id,
                                      const std::vector<std::vector<float>>& vectors) {
  std::unique_lock lock(index_mutex_);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto st = vectors_->add(ids[i], vectors[i]); !st) return st;
    chunk_collection_[ids[i]] = collection_id;
  }
  return {};
}

Result<KnowledgeBase::Prepared> KnowledgeBase::prepare(const std::string& path, std::string_view in_memory,
                                                       int64_t collection_id) {
  Prepared prepared;
  FileOutcome& outcome = prepared.outcome;
  outcome.path = path;
  const bool from_memory = in_memory.data() != nullptr;
  auto fail = [&](const Error& error) {
    outcome.status = FileStatus::kFailed;
    outcome.message = error.message;
    return prepared;
  };

  auto hash = from_memory ? Result<std::string>(sha256_hex(in_memory)) : sha256_file(path);
  if (!hash) return fail(hash.error());
  auto existing = store_->find_document(collection_id, path);
  if (!existing) return existing.error();
  if (*existing && (*existing)->content_hash == *hash) {
    outcome.status = FileStatus::kUnchanged;
    outcome.document_id = (*existing)->id;
    outcome.chunks = (*existing)->chunks;
    return prepared;
  }
  // What this path held before, when the file now says something else that is not embedded here:
  // kept, it would answer with words the file no longer has.
  std::string earlier_version;
  auto drop_earlier_version = [&]() -> Status {
    if (!*existing) return {};
    earlier_version = "; its earlier version was removed";
    return drop_document((*existing)->id);
  };
  auto twin = store_->find_document_by_hash(collection_id, *hash);
  if (!twin) return twin.error();
  if (*twin && (*twin)->path != path) {
    if (auto st = drop_earlier_version(); !st) return st.error();
    const fs::path twin_path((*twin)->path);
    std::error_code ec;
    // Uploads are named, not placed, so only a file added from disk can have moved.
    if (!from_memory && twin_path.is_absolute() && !fs::exists(twin_path, ec)) {
      if (auto st = store_->move_document((*twin)->id, path); !st) return st.error();
      outcome.status = FileStatus::kMoved;
      outcome.message = "moved from " + (*twin)->path + earlier_version;
      outcome.chunks = (*twin)->chunks;
    } else {
      outcome.status = FileStatus::kDuplicate;
      outcome.message = "same content as " + (*twin)->path + earlier_version;
    }
    outcome.document_id = (*twin)->id;
    return prepared;
  }

  auto parsed = from_memory ? parse_bytes(in_memory, path, options_.limits) : parse_file(path, options_.limits);
  if (!parsed) return fail(parsed.error());
  auto chunks = chunk_document(*parsed, options_.chunking,
                               [this](std::string_view text) { return embedder_.count_tokens(text); });
  if (!chunks) return fail(chunks.error());
  if (chunks->empty()) {
    if (auto st = drop_earlier_version(); !st) return st.error();
    outcome.status = FileStatus::kSkipped;
    outcome.message =
        (parsed->format == DocumentFormat::kPdf ? "no text layer (a scanned PDF needs OCR first)" : "no text") +
        earlier_version;
    return prepared;
  }
  prepared.ready = true;
  prepared.replaces = existing->has_value();
  prepared.chunks = std::move(*chunks);
  DocumentRecord& record = prepared.record;
  record.collection_id = collection_id;
  record.path = path;
  record.format = std::string(format_name(parsed->format));
  record.title = parsed->title;
  record.content_hash = *hash;
  record.pages = parsed->pages;
  std::error_code ec;
  record.bytes = from_memory ? static_cast<int64_t>(in_memory.size()) : static_cast<int64_t>(fs::file_size(path, ec));
  return prepared;
}

std::vector<std::string> KnowledgeBase::embedding_inputs(const Prepared& prepared) const {
  const engine::EmbeddingPrefixes prefixes = embedder_.prefixes();
  std::vector<std::string> inputs;
  for (const auto& chunk : prepared.chunks)
    inputs.push_back(embedding_input(prefixes, prepared.record.title, chunk.heading, chunk.text));
  return inputs;
}

Result<FileOutcome> KnowledgeBase::commit(Prepared& prepared, const std::vector<std::vector<float>>& vectors) {
  FileOutcome& outcome = prepared.outcome;
  std::vector<int64_t> replaced;
  auto ids = store_->replace_document(prepared.record, prepared.chunks, vectors, &replaced);
  if (!ids) {
    // A full disk or a broken store stops the ingest; the file's own problems do not.
    if (ids.error().code == ErrorCode::kResourceExhausted || ids.error().code == ErrorCode::kUnavailable ||
        ids.error().code == ErrorCode::kDataLoss) {
      return ids.error();
    }
    outcome.status = FileStatus::kFailed;
    outcome.message = ids.error().message;
    return outcome;
  }
  forget_chunks(replaced);
  if (auto st = remember_chunks(*ids, prepared.record.collection_id, vectors); !st) return st.error();
  outcome.status = prepared.replaces ? FileStatus::kReplaced : FileStatus::kAdded;
  outcome.document_id = prepared.record.id;
  outcome.chunks = static_cast<int64_t>(ids->size());
  outcome.pages = prepared.record.pages;
  return outcome;
}

Status KnowledgeBase::embed_and_commit(std::vector<Prepared>& group, AddReport& report,
                                       const std::function<void(const FileOutcome&)>& on_done) {
  // One embedding pass over the chunks of every document in the group: full batches even when
  // each document has only a few chunks.
  std::vector<std::string> inputs;
  for (const auto& prepared : group) {
    if (!prepared.ready) continue;
    auto more = embedding_inputs(prepared);
    inputs.insert(inputs.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  auto vectors = embed_texts(inputs);
  size_t next = 0;
  for (auto& prepared : group) {
    if (prepared.ready && !vectors) {
      prepared.outcome.status = FileStatus::kFailed;
      prepared.outcome.message = "embedding failed: " + vectors.error().message;
    } else if (prepared.ready) {
      const auto first = vectors->begin() + static_cast<std::ptrdiff_t>(next);
      next += prepared.chunks.size();
      auto outcome = commit(prepared, {first, first + static_cast<std::ptrdiff_t>(prepared.chunks.size())});
      if (!outcome) return outcome.error();
    }
    if (prepared.outcome.status == FileStatus::kAdded || prepared.outcome.status == FileStatus::kReplaced) {
      report.chunks += prepared.outcome.chunks;
      report.pages += prepared.outcome.pages;
    }
    report.files.push_back(std::move(prepared.outcome));
    if (on_done) on_done(report.files.back());
  }
  group.clear();
  return {};
}

Status KnowledgeBase::drop_document(int64_t id) {
  auto removed = store_->remove_document(id);
  if (!removed) return removed.error();
  forget_chunks(*removed);
  return {};
}

Status KnowledgeBase::account_for_gone_files(const std::vector<std::string>& roots, int64_t collection_id, bool prune,
                                             AddReport& report) {
  auto documents = store_->documents(collection_id);
  if (!documents) return documents.error();
  for (const auto& document : *documents) {
    const bool under = std::any_of(roots.begin(), roots.end(), [&](const std::string& root) {
      return document.path == root || document.path.starts_with(root + "/");
    });
    std::error_code ec;
    if (!under || fs::exists(document.path, ec)) continue;
    if (!prune) {
      report.files.push_back({document.path, FileStatus::kGone,
                              "the file is gone; its document stays (kb add --prune removes it)", document.id});
      continue;
    }
    if (auto st = drop_document(document.id); !st) return st;
    report.files.push_back({document.path, FileStatus::kRemoved, "the file is gone", document.id});
  }
  return {};
}

Result<AddReport> KnowledgeBase::add(const std::vector<std::string>& paths, const AddOptions& options,
                                     const std::function<void(const AddProgress&)>& on_progress) {
  const auto start = std::chrono::steady_clock::now();
  if (options.collection.empty()) return make_error(ErrorCode::kInvalidArgument, "the collection name is empty");
  std::lock_guard write(write_mutex_);
  if (auto st = ensure_index(); !st) return st.error();
  auto collection = store_->collection_id(options.collection, /*create=*/true);
  if (!collection) return collection.error();

  AddReport report;
  std::vector<std::string> files;
  std::vector<std::string> roots;  // the given paths as documents are stored under them
  for (const auto& given : paths) {
    std::error_code ec;
    fs::path path = fs::absolute(given, ec).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();  // "docs/" names the folder docs
    roots.push_back(path.string());
    if (fs::is_directory(path, ec)) {
      collect_files(path, options, files, report.files);
    } else if (fs::exists(path, ec)) {
      files.push_back(path.string());
    } else if (!options.prune) {  // pruning, a gone file is what the user came to remove
      report.files.push_back({given, FileStatus::kFailed, "no such file or folder"});
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());

  AddProgress progress{0, files.size(), 0, ""};
  std::vector<Prepared> group;
  size_t group_chunks = 0;
  std::unordered_map<std::string, std::string> group_hashes;  // content hash -> path, within the group
  size_t saved_at = 0;
  auto on_done = [&](const FileOutcome&) {
    ++progress.files_done;
    progress.chunks = report.chunks;
    if (on_progress) on_progress(progress);
  };
  auto flush = [&]() -> Status {
    if (auto st = embed_and_commit(group, report, on_done); !st) {
      (void)save_index();  // keep what was committed quick to reopen
      return st;
    }
    group_chunks = 0;
    group_hashes.clear();
    if (progress.files_done - saved_at >= kSaveIndexEveryFiles) {
      saved_at = progress.files_done;
      return save_index();
    }
    return {};
  };
  for (const auto& file : files) {
    progress.current = file;
    if (on_progress) on_progress(progress);
    auto prepared = prepare(file, {}, **collection);
    if (!prepared) {
      (void)save_index();
      return prepared.error();
    }
    if (prepared->ready) {
      auto [twin, fresh] = group_hashes.emplace(prepared->record.content_hash, file);
      if (!fresh) {  // the same bytes earlier in this group, not yet in the store
        prepared->ready = false;
        prepared->outcome.status = FileStatus::kDuplicate;
        prepared->outcome.message = "same content as " + twin->second;
      }
      group_chunks += prepared->chunks.size();
    }
    group.push_back(std::move(*prepared));
    if (group_chunks >= kChunksPerEmbeddingGroup) {
      if (auto st = flush(); !st) return st.error();
    }
  }
  if (auto st = flush(); !st) return st.error();
  if (auto st = account_for_gone_files(roots, **collection, options.prune, report); !st) {
    (void)save_index();
    return st.error();
  }
  progress.current.clear();
  if (on_progress) on_progress(progress);
  if (report.chunks > 0 || report.count(FileStatus::kReplaced) > 0 || report.count(FileStatus::kRemoved) > 0) {
    if (auto st = save_index(); !st) return st.error();
  }
  report.seconds = ms_since(start) / 1000.0;
  return report;
}

Result<FileOutcome> KnowledgeBase::add_bytes(std::string_view bytes, const std::string& name,
                                             const std::string& collection) {
  if (name.empty() || collection.empty())
    return make_error(ErrorCode::kInvalidArgument, "a name and a collection are needed");
  std::lock_guard write(write_mutex_);
  if (auto st = ensure_index(); !st) return st.error();
  auto collection_id = store_->collection_id(collection, /*create=*/true);
  if (!collection_id) return collection_id.error();
  // A non-null view even for an empty upload: it marks the bytes as in memory.
  auto prepared = prepare(name, bytes.data() ? bytes : std::string_view("", 0), **collection_id);
  if (!prepared) return prepared.error();
  std::vector<Prepared> group;
  group.push_back(std::move(*prepared));
  AddReport report;
  if (auto st = embed_and_commit(group, report, {}); !st) return st.error();
  if (report.chunks > 0) {
    if (auto st = save_index(); !st) return st.error();
  }
  return report.files.front();
}

Result<std::vector<CollectionInfo>> KnowledgeBase::collections() {
  return store_->collections();
}

Result<std::vector<int64_t>> KnowledgeBase::collection_ids(const std::vector<std::string>& names) {
  std::vector<int64_t> ids;
  for (const auto& name : names) {
    auto id = store_->collection_id(name, /*create=*/false);
    if (!id) return id.error();
    if (!*id) return make_error(ErrorCode::kNotFound, "no collection named '" + name + "'");
    ids.push_back(**id);
  }
  return ids;
}

Result<std::vector<DocumentRecord>> KnowledgeBase::documents(const std::string& collection) {
  if (collection.empty()) return store_->documents(std::nullopt);
  auto ids = collection_ids({collection});
  if (!ids) return ids.error();
  return store_->documents(ids->front());
}

Result<DocumentRecord> KnowledgeBase::document(int64_t id) {
  auto found = store_->document(id);
  if (!found) return found.error();
  if (!*found) return make_error(ErrorCode::kNotFound, "no document with id " + std::to_string(id));
  return **found;
}

Result<DocumentRecord> KnowledgeBase::remove_document(int64_t id) {
  std::lock_guard write(write_mutex_);
  if (auto st = ensure_index(); !st) return st.error();
  auto found = document(id);
  if (!found) return found.error();
  if (auto st = drop_document(id); !st) return st.error();
  if (auto st = save_index(); !st) return st.error();
  return found;
}

Status KnowledgeBase::remove_collection(const std::string& name) {
  std::lock_guard write(write_mutex_);
  if (auto st = ensure_index(); !st) return st;
  auto ids = collection_ids({name});
  if (!ids) return ids.error();
  auto removed = store_->remove_collection(ids->front());
  if (!removed) return removed.error();
  forget_chunks(*removed);
  return save_index();
}

Result<SearchResult> KnowledgeBase::search(std::string_view query, const SearchOptions& options) {
  if (options.k < 1) return make_error(ErrorCode::kInvalidArgument, "k must be >= 1");
  if (query.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "the query is empty");
  }
  auto collections = collection_ids(options.collections);
  if (!collections) return collections.error();
  const int candidates = std::max(options.candidates, options.k);
  SearchResult result;

  std::vector<ScoredId> lexical;
  std::vector<ScoredId> dense;
  const auto search_start = std::chrono::steady_clock::now();
  if (options.mode != SearchMode::kDense) {
    auto found = store_->search_lexical(std::string(query), candidates, *collections);
    if (!found) return found.error();
    lexical = std::move(*found);
  }
  // A query mostly in scripts the embedding model does not read gets BM25's ranking alone.
  const bool use_dense =
      options.mode == SearchMode::kDense || (options.mode == SearchMode::kHybrid && embedding_scripts_.mostly_in(query));
  if (use_dense) {
    if (auto st = ensure_index(); !st) return st.error();
    const auto embed_start = std::chrono::steady_clock::now();
    // Over-long queries are cut to what the model reads rather than refused.
    auto embedded = embedder_.embed(
        {embedder_.prefixes().query + cut_utf8(query, 4 * static_cast<size_t>(embedder_.max_input_tokens()))});
    if (!embedded) return embedded.error();
    result.embed_ms = ms_since(embed_start);
    std::shared_lock lock(index_mutex_);
    const std::unordered_set<int64_t> wanted(collections->begin(), collections->end());
    ChunkFilter allowed;
    int64_t allowed_count = -1;
    if (!wanted.empty()) {
      allowed = [&](int64_t id) {
        auto it = chunk_collection_.find(id);
        return it != chunk_collection_.end() && wanted.count(it->second) > 0;
      };
      allowed_count = std::count_if(chunk_collection_.begin(), chunk_collection_.end(),
                                    [&](const auto& entry) { return wanted.count(entry.second) > 0; });
    }
    dense = vectors_->search(embedded->vectors.front(), candidates, allowed, allowed_count);
  }
  result.top_similarity = dense.empty() ? 0 : dense.front().score;

  // Fusion: each list adds its weight times fusion_share (a chunk missing from a list gets 0 from
  // it). Rescaled scores, the default, keep how far apart the scores are, so a passage far ahead
  // in one list stays ahead (XQuAD en, tuning half: recall@1 0.962 against 0.949 for reciprocal
  // ranks with k=60).
  struct Fused {
    double score = 0;
    int bm25_rank = 0;
    int dense_rank = 0;
    double similarity = 0;
  };
  const bool fuse = options.mode == SearchMode::kHybrid;
  double lexical_share = 1.0;
  if (fuse && use_dense && !lexical.empty()) {
    auto top = store_->chunks({lexical.front().id});
    if (!top) return top.error();
    if (!top->empty() && matched_across_scripts(query, top->front().text, embedding_scripts_))
      lexical_share = kCrossScriptLexicalWeight;
  }
  // A list's weight is scaled by how well it separates passages for this query; when neither
  // does, both count as configured rather than every chunk tying at 0.
  result.bm25_weight = options.bm25_weight * list_confidence(lexical) * lexical_share;
  // A model declared to read every script (a multilingual one) keeps its full weight on every
  // query: list_confidence's gaps are MiniLM's, whose list for text it cannot read is noise, and
  // E5's cosines crowd together (0.75-0.9 for any pair), which would give its list no weight.
  const double dense_confidence = embedding_scripts_.covers_every_script() ? 1.0 : list_confidence(dense);
  result.dense_weight = use_dense ? options.dense_weight * dense_confidence : 0;
  if (result.bm25_weight == 0 && result.dense_weight == 0) {
    result.bm25_weight = options.bm25_weight;
    result.dense_weight = use_dense ? options.dense_weight : 0;
  }
  std::unordered_map<int64_t, Fused> fused;
  for (size_t i = 0; i < lexical.size(); ++i) {
    Fused& f = fused[lexical[i].id];
    f.bm25_rank = static_cast<int>(i + 1);
    f.score += fuse ? result.bm25_weight * fusion_share(lexical, i, options) : lexical[i].score;
  }
  for (size_t i = 0; i < dense.size(); ++i) {
    Fused& f = fused[dense[i].id];
    f.dense_rank = static_cast<int>(i + 1);
    f.similarity = dense[i].score;
    f.score += fuse ? result.dense_weight * fusion_share(dense, i, options) : dense[i].score;
  }
  std::vector<std::pair<int64_t, Fused>> ranked(fused.begin(), fused.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second.score != b.second.score ? a.second.score > b.second.score : a.first < b.first;
  });
  if (ranked.size() > static_cast<size_t>(options.k)) ranked.resize(static_cast<size_t>(options.k));

  std::vector<int64_t> ids;
  for (const auto& [id, f] : ranked) ids.push_back(id);
  auto chunks = store_->chunks(ids);
  if (!chunks) return chunks.error();
  for (auto& chunk : *chunks) {  // in rank order; a chunk removed meanwhile is simply missing
    const Fused& f = fused[chunk.id];
    result.hits.push_back({std::move(chunk), f.score, f.bm25_rank, f.dense_rank, f.similarity});
  }
  if (fuse) rerank(query, options, result);
  result.search_ms = ms_since(search_start);
  return result;
}

// The line after the passage is in the question's language: asked in Chinese, Gemma finds the
// right paragraph for 5 more of XQuAD zh's 603 tuning-half questions than asked in English
// (recall@1 0.947 -> 0.955; docs/benchmarks.md, 5).
std::string query_likelihood_prefix(std::string_view passage, std::string_view query) {
  static const ScriptSet han = *ScriptSet::parse("Han");
  if (han.mostly_in(query)) return "文章：" + std::string(passage) + "\n根据这篇文章提出的问题：";
  return "Passage: " + std::string(passage) + "\nA question about this passage: ";
}

// Query likelihood (UPR, Sachan et al. 2022): the passage a question was most likely written from.
// Only hits close to the best are re-ordered: that is where fusion is unsure, and it keeps the
// cost to one short decode per close hit for about one query in six (XQuAD en and zh, tuning
// halves: the right paragraph was second for 16 and 28 of 603 questions, within 0.25 of the best
// for 16 and 23; docs/benchmarks.md, 5). A scorer error leaves the fused order.
void KnowledgeBase::rerank(std::string_view query, const SearchOptions& options, SearchResult& result) const {
  auto& hits = result.hits;
  if (!options_.reranker || hits.size() < 2 || options.rerank < 2) return;
  const double best = hits.front().score;
  const size_t limit = std::min(hits.size(), static_cast<size_t>(options.rerank));
  size_t close = 1;
  while (close < limit && best - hits[close].score <= options.rerank_margin * best) ++close;
  if (close < 2) return;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < close; ++i) {
    auto likelihood = options_.reranker->score(query_likelihood_prefix(hits[i].chunk.text, query), query);
    if (!likelihood) {
      TANDEM_LOG(kWarn, "knowledge", "re-ranking skipped: {}", likelihood.error().message);
      for (size_t j = 0; j < i; ++j) hits[j].query_likelihood = 0;
      return;
    }
    hits[i].query_likelihood = *likelihood;
  }
  std::stable_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(close),
                   [](const SearchHit& a, const SearchHit& b) { return a.query_likelihood > b.query_likelihood; });
  result.reranked = static_cast<int>(close);
  result.rerank_ms = ms_since(start);
}

}  // namespace tandem::knowledge
