#include "knowledge/vector_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "privacy/sealed_file.h"

namespace tandem::knowledge {
namespace {

std::vector<ScoredId> best_first(std::priority_queue<std::pair<float, hnswlib::labeltype>> found, int k,
                                 const ChunkFilter& allowed) {
  std::vector<ScoredId> out;
  while (!found.empty()) {  // worst first: distance = 1 - cosine
    const auto [distance, label] = found.top();
    found.pop();
    const auto id = static_cast<int64_t>(label);
    if (!allowed || allowed(id)) out.push_back({id, 1.0 - distance});
  }
  std::reverse(out.begin(), out.end());
  if (out.size() > static_cast<size_t>(k)) out.resize(static_cast<size_t>(k));
  return out;
}

}  // namespace

VectorIndex::VectorIndex(int32_t dimensions, const VectorIndexOptions& options)
    : dimensions_(dimensions),
      options_(options),
      space_(std::make_unique<hnswlib::InnerProductSpace>(static_cast<size_t>(dimensions))),
      graph_(std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), 1024, static_cast<size_t>(options.m),
                                                               static_cast<size_t>(options.ef_construction))) {
  graph_->ef_ = static_cast<size_t>(options.ef_search);
}

VectorIndex::~VectorIndex() = default;

Status VectorIndex::reserve(size_t elements) {
  if (elements <= graph_->max_elements_) return {};
  try {
    graph_->resizeIndex(std::max(elements, graph_->max_elements_ * 2));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kResourceExhausted, std::string("vector index: ") + e.what());
  }
  return {};
}

Status VectorIndex::add(int64_t id, std::span<const float> vector) {
  if (static_cast<int32_t>(vector.size()) != dimensions_) {
    return make_error(ErrorCode::kInvalidArgument, "vector of " + std::to_string(vector.size()) +
                                                       " dimensions, index has " + std::to_string(dimensions_));
  }
  if (contains(id)) return {};
  if (auto st = reserve(graph_->cur_element_count + 1); !st) return st;
  try {
    graph_->addPoint(vector.data(), static_cast<hnswlib::labeltype>(id));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("vector index: ") + e.what());
  }
  alive_.insert(id);
  return {};
}

void VectorIndex::remove(int64_t id) {
  if (alive_.erase(id) == 0) return;
  graph_->markDelete(static_cast<hnswlib::labeltype>(id));
}

bool VectorIndex::contains(int64_t id) const {
  return alive_.count(id) > 0;
}

std::vector<int64_t> VectorIndex::ids() const {
  return {alive_.begin(), alive_.end()};
}

std::vector<ScoredId> VectorIndex::exact_scan(std::span<const float> query, int k, const ChunkFilter& allowed) const {
  std::vector<ScoredId> scored;
  for (hnswlib::tableint i = 0; i < graph_->cur_element_count; ++i) {
    if (graph_->isMarkedDeleted(i)) continue;
    const auto id = static_cast<int64_t>(graph_->getExternalLabel(i));
    if (!allowed(id)) continue;
    const auto* vector = reinterpret_cast<const float*>(graph_->getDataByInternalId(i));
    double dot = 0;
    for (int32_t d = 0; d < dimensions_; ++d) dot += static_cast<double>(vector[d]) * query[static_cast<size_t>(d)];
    scored.push_back({id, dot});
  }
  const size_t keep = std::min(scored.size(), static_cast<size_t>(k));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(keep), scored.end(),
                    [](const ScoredId& a, const ScoredId& b) { return a.score > b.score; });
  scored.resize(keep);
  return scored;
}

std::vector<ScoredId> VectorIndex::search(std::span<const float> query, int k, const ChunkFilter& allowed,
                                          int64_t allowed_count) const {
  if (k <= 0 || alive_.empty() || static_cast<int32_t>(query.size()) != dimensions_) return {};
  if (allowed && allowed_count >= 0 && allowed_count <= options_.exact_scan_below) return exact_scan(query, k, allowed);
  // Widen the candidate list until k chunks pass the filter or the whole index was seen.
  for (size_t candidates = static_cast<size_t>(k);; candidates *= 4) {
    candidates = std::min(candidates, alive_.size());
    auto found = best_first(graph_->searchKnn(query.data(), candidates), k, allowed);
    if (found.size() >= static_cast<size_t>(k) || candidates >= alive_.size()) return found;
  }
}

namespace {

// An anonymous in-memory file (memfd) that hnswlib reads and writes by path, so that a clear copy
// of the graph never touches the disk.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("tandem-vectors", MFD_CLOEXEC)) {}
  ~MemoryFile() {
    if (fd_ >= 0) {
      (void)::ftruncate(fd_, 0);  // frees the pages now
      ::close(fd_);
    }
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  Status status() const {
    if (fd_ >= 0) return {};
    return make_error(ErrorCode::kUnavailable, std::string("memfd_create failed: ") + std::strerror(errno));
  }
  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

Status sealed_copy(int from_fd, const std::string& path, const privacy::Key& key) {
  auto writer = privacy::SealedFileWriter::create(path, key);
  if (!writer) return writer.error();
  std::vector<uint8_t> buffer(privacy::kSealedSegmentBytes);
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(from_fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return make_error(ErrorCode::kUnavailable,
                        std::string("cannot read the vector index from memory: ") + std::strerror(errno));
    if (n == 0) break;
    if (auto st = writer->write(std::span(buffer).first(static_cast<size_t>(n))); !st) return st;
    offset += n;
  }
  privacy::wipe(buffer);
  return writer->commit();
}

Status unsealed_copy(const std::string& path, const privacy::Key& key, int to_fd) {
  auto reader = privacy::SealedFileReader::open(path, key);
  if (!reader) return reader.error();
  while (!reader->done()) {
    auto segment = reader->next();
    if (!segment) return segment.error();
    for (auto rest = *segment; !rest.empty();) {
      const ssize_t n = ::write(to_fd, rest.data(), rest.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return make_error(ErrorCode::kUnavailable,
                          std::string("cannot write the vector index to memory: ") + std::strerror(errno));
      rest = rest.subspan(static_cast<size_t>(n));
    }
  }
  return {};
}

}  // namespace

Status VectorIndex::save(const std::string& path, const std::optional<privacy::Key>& key) const {
  if (key) {
    MemoryFile memory;
    if (auto st = memory.status(); !st) return st;
    try {
      graph_->saveIndex(memory.path());
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kUnavailable, std::string("cannot serialize the vector index: ") + e.what());
    }
    return sealed_copy(memory.fd(), path, *key);
  }
  // Another process may save the same index at the same time: each writes its own file.
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  try {
    graph_->saveIndex(temporary);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kUnavailable, "cannot write the vector index " + temporary + ": " + e.what());
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot replace the vector index " + path + ": " + ec.message());
  return {};
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::load(const std::string& path, int32_t dimensions,
                                                       const VectorIndexOptions& options,
                                                       const std::optional<privacy::Key>& key) {
  auto index = std::make_unique<VectorIndex>(dimensions, options);
  MemoryFile memory;
  if (key) {
    if (auto st = memory.status(); !st) return st.error();
    if (auto st = unsealed_copy(path, *key, memory.fd()); !st) return st.error();
  }
  try {
    index->graph_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(index->space_.get(), key ? memory.path() : path);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kDataLoss, "vector index " + path + " cannot be read: " + e.what());
  }
  if (index->graph_->data_size_ != static_cast<size_t>(dimensions) * sizeof(float)) {
    return make_error(ErrorCode::kDataLoss, "vector index " + path + " has another number of dimensions");
  }
  index->graph_->ef_ = static_cast<size_t>(options.ef_search);
  for (hnswlib::tableint i = 0; i < index->graph_->cur_element_count; ++i) {
    if (!index->graph_->isMarkedDeleted(i))
      index->alive_.insert(static_cast<int64_t>(index->graph_->getExternalLabel(i)));
  }
  return index;
}

}  // namespace tandem::knowledge
