#include "privacy/sealed_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>

#include "core/file_io.h"

namespace tandem::privacy {
namespace {

constexpr std::string_view kMagic = "TNDMSEAL";
constexpr uint8_t kVersion = 1;
constexpr uint8_t kKindFile = 1;
constexpr uint8_t kKindLog = 2;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kPrefixBytes = 4;
constexpr std::size_t kKeyIdOffset = 16;
constexpr std::size_t kSaltOffset = kKeyIdOffset + sizeof(KeyId);
constexpr std::size_t kPrefixOffset = kSaltOffset + kSaltBytes;
static_assert(kPrefixOffset + kPrefixBytes == kSealedHeaderBytes);

using HeaderBytes = std::array<uint8_t, kSealedHeaderBytes>;

void put_u32(uint8_t* out, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}
void put_u64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
}
uint32_t get_u32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | uint32_t{in[3]};
}

std::string hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

Error damaged(const std::string& path, const std::string& why) {
  return make_error(ErrorCode::kDataLoss, fmt::format("{} is damaged: {}", path, why));
}

// The per-file key: HKDF-SHA256 of the data key with the file's random salt.
Result<Key> file_key(const Key& data_key, std::span<const uint8_t> salt) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  char digest[] = "SHA256";
  char info[] = "tandem sealed file v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(data_key.data()), data_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info - 1), OSSL_PARAM_construct_end()};
  Key out{};
  const bool ok = ctx && EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) return make_error(ErrorCode::kInternal, "HKDF-SHA256 failed");
  return out;
}

constexpr std::size_t kFlagsOffset = 10;
constexpr uint8_t kFlagLengthFile = 1;  // logs only: the record count is sealed in `<log>.length`

struct Header {
  HeaderBytes bytes{};
  uint8_t kind = 0;
  uint32_t segment_bytes = 0;
  bool length_file = false;
};

Header new_header(uint8_t kind, uint32_t segment_bytes, uint8_t flags, const Key& key, Status& status) {
  Header h;
  h.kind = kind;
  h.segment_bytes = segment_bytes;
  h.length_file = (flags & kFlagLengthFile) != 0;
  std::memcpy(h.bytes.data(), kMagic.data(), kMagic.size());
  h.bytes[8] = kVersion;
  h.bytes[9] = kind;
  h.bytes[kFlagsOffset] = flags;
  put_u32(h.bytes.data() + 12, segment_bytes);
  const KeyId id = key_id(key);
  std::copy(id.begin(), id.end(), h.bytes.begin() + kKeyIdOffset);
  status = random_bytes(std::span(h.bytes).subspan(kSaltOffset, kSaltBytes + kPrefixBytes));
  return h;
}

bool has_magic(std::span<const uint8_t> bytes) {
  return bytes.size() >= kMagic.size() && std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) == 0;
}

Result<Header> parse_header(const HeaderBytes& bytes, uint8_t kind, const Key& key, const std::string& path) {
  if (!has_magic(bytes)) return damaged(path, "no sealed-file header");
  if (bytes[8] != kVersion) {
    return make_error(ErrorCode::kDataLoss, fmt::format("{}: sealed-file version {} is not supported", path, bytes[8]));
  }
  if (bytes[9] != kind)
    return damaged(path, kind == kKindLog ? "it is a sealed file, not a log" : "it is a sealed log");
  Header h;
  h.bytes = bytes;
  h.kind = kind;
  h.segment_bytes = get_u32(bytes.data() + 12);
  h.length_file = kind == kKindLog && (bytes[kFlagsOffset] & kFlagLengthFile) != 0;
  if (kind == kKindFile && (h.segment_bytes == 0 || h.segment_bytes > kMaxRecordBytes)) {
    return damaged(path, "impossible segment size");
  }
  const KeyId want = key_id(key);
  if (!std::equal(want.begin(), want.end(), bytes.begin() + kKeyIdOffset)) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("{} was sealed with data key {}, not with the keyring's key {} (another keyring?)",
                                  path, hex(std::span(bytes).subspan(kKeyIdOffset, sizeof(KeyId))), hex(want)));
  }
  return h;
}

std::unique_ptr<AesGcm> cipher_for(const Header& h, const Key& key, Status& status) {
  auto derived = file_key(key, std::span(h.bytes).subspan(kSaltOffset, kSaltBytes));
  if (!derived) {
    status = derived.error();
    return nullptr;
  }
  auto cipher = std::make_unique<AesGcm>(*derived);
  wipe(*derived);
  return cipher;
}

Nonce nonce_for(const Header& h, uint64_t counter) {
  Nonce n{};
  std::copy_n(h.bytes.begin() + kPrefixOffset, kPrefixBytes, n.begin());
  put_u64(n.data() + kPrefixBytes, counter);
  return n;
}

// AAD: the whole header, the counter and (whole files only) whether this is the last segment.
std::array<uint8_t, kSealedHeaderBytes + 9> aad_for(const Header& h, uint64_t counter, bool last) {
  std::array<uint8_t, kSealedHeaderBytes + 9> aad{};
  std::copy(h.bytes.begin(), h.bytes.end(), aad.begin());
  put_u64(aad.data() + kSealedHeaderBytes, counter);
  aad[kSealedHeaderBytes + 8] = last ? 1 : 0;
  return aad;
}
std::span<const uint8_t> aad_span(const std::array<uint8_t, kSealedHeaderBytes + 9>& aad, uint8_t kind) {
  return std::span(aad).first(kind == kKindFile ? aad.size() : aad.size() - 1);
}

// Decrypts one sealed segment (ciphertext || tag) of a whole file into `out`.
Status open_segment(const Header& h, AesGcm& cipher, uint64_t index, bool last, std::span<const uint8_t> sealed,
                    std::span<uint8_t> out, const std::string& path, int64_t offset) {
  const std::size_t length = sealed.size() - kTagBytes;
  Tag tag{};
  std::copy_n(sealed.begin() + static_cast<std::ptrdiff_t>(length), kTagBytes, tag.begin());
  const auto aad = aad_for(h, index, last);
  if (!cipher.decrypt(nonce_for(h, index), aad_span(aad, kKindFile), sealed.first(length), tag, out)) {
    return damaged(path, fmt::format("segment {} at byte {} failed authentication (changed, reordered or cut off)",
                                     index, offset));
  }
  return {};
}

// ---- IO ----

// Reads up to `n` bytes at `offset`; fewer only at the end of the file.
Result<std::size_t> pread_full(int fd, const std::string& path, uint8_t* out, std::size_t n, int64_t offset) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot read", path, errno));
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

// 0 or the errno of the failed write.
int write_all(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
  return 0;
}

Result<int64_t> file_size(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot stat", path, errno));
  return static_cast<int64_t>(info.st_size);
}

void sync_folder(const std::string& path) {
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Status create_folder_of(const std::string& path) {
  std::error_code ec;
  const auto folder = std::filesystem::path(path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + folder.string() + ": " + ec.message());
  return {};
}

// flock(LOCK_EX) for as long as it lives.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    int rc = 0;
    do {
      rc = ::flock(fd_, LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    error_ = rc == 0 ? 0 : errno;
  }
  ~FileLock() {
    if (error_ == 0) ::flock(fd_, LOCK_UN);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  int error() const { return error_; }

 private:
  int fd_;
  int error_ = 0;
};

}  // namespace

KeyId key_id(const Key& key) {
  static constexpr std::string_view kLabel = "tandem key id v1";
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const uint8_t*>(kLabel.data()),
       kLabel.size(), mac, &length);
  KeyId id{};
  std::copy_n(mac, id.size(), id.begin());
  return id;
}

std::string key_id_hex(const Key& key) {
  return hex(key_id(key));
}

Result<bool> is_sealed_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, "no file " + path);
    return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
  }
  std::array<uint8_t, kMagic.size()> start{};
  auto got = pread_full(fd, path, start.data(), start.size(), 0);
  ::close(fd);
  if (!got) return got.error();
  return *got == start.size() && has_magic(start);
}

// ---- Whole files ----

struct SealedFileReader::State {
  std::string path;
  int fd = -1;
  Header header;
  std::unique_ptr<AesGcm> cipher;
  int64_t size = 0;
  int64_t offset = kSealedHeaderBytes;
  uint64_t index = 0;
  bool done = false;
  std::vector<uint8_t> sealed;
  std::vector<uint8_t> clear;
  ~State() {
    if (fd >= 0) ::close(fd);
    wipe(clear);
  }
};

SealedFileReader::SealedFileReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
SealedFileReader::SealedFileReader(SealedFileReader&&) noexcept = default;
SealedFileReader& SealedFileReader::operator=(SealedFileReader&&) noexcept = default;
SealedFileReader::~SealedFileReader() = default;

Result<SealedFileReader> SealedFileReader::open(const std::string& path, const Key& key) {
  auto s = std::make_unique<State>();
  s->path = path;
  s->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (s->fd < 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, "no file " + path);
    return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
  }
  auto size = file_size(s->fd, path);
  if (!size) return size.error();
  s->size = *size;
  HeaderBytes bytes{};
  auto got = pread_full(s->fd, path, bytes.data(), bytes.size(), 0);
  if (!got) return got.error();
  if (*got < bytes.size()) return damaged(path, "shorter than a sealed-file header");
  auto header = parse_header(bytes, kKindFile, key, path);
  if (!header) return header.error();
  s->header = *header;
  Status status;
  s->cipher = cipher_for(s->header, key, status);
  if (!status) return status.error();
  s->sealed.resize(s->header.segment_bytes + kTagBytes);
  s->clear.resize(s->header.segment_bytes);
  return SealedFileReader(std::move(s));
}

bool SealedFileReader::done() const {
  return state_->done;
}

Result<std::span<const uint8_t>> SealedFileReader::next() {
  State& s = *state_;
  if (s.done) return std::span<const uint8_t>();
  const int64_t remaining = s.size - s.offset;
  if (remaining < static_cast<int64_t>(kTagBytes)) return damaged(s.path, "truncated (a segment is missing its tag)");
  const std::size_t chunk = static_cast<std::size_t>(std::min<int64_t>(remaining, s.header.segment_bytes + kTagBytes));
  const bool last = static_cast<int64_t>(chunk) == remaining;
  auto got = pread_full(s.fd, s.path, s.sealed.data(), chunk, s.offset);
  if (!got) return got.error();
  if (*got != chunk) return damaged(s.path, "shrank while being read");
  if (auto st =
          open_segment(s.header, *s.cipher, s.index, last, std::span(s.sealed).first(chunk), s.clear, s.path, s.offset);
      !st) {
    return st.error();
  }
  const std::size_t length = chunk - kTagBytes;
  s.offset += static_cast<int64_t>(chunk);
  ++s.index;
  s.done = last;
  return std::span<const uint8_t>(s.clear).first(length);
}

struct SealedFileWriter::State {
  std::string path;
  std::string temp;
  int fd = -1;
  Header header;
  std::unique_ptr<AesGcm> cipher;
  std::vector<uint8_t> pending;
  std::vector<uint8_t> sealed;
  uint64_t index = 0;
  bool committed = false;
  ~State() {
    if (fd >= 0) ::close(fd);
    if (!committed && !temp.empty()) ::unlink(temp.c_str());
    wipe(pending);
  }
  Status fail(const std::string& what, int error_number) {
    return make_error(ErrorCode::kUnavailable, io_error(what, path, error_number));
  }
  // Seals one segment of clear bytes and writes it.
  Status seal(std::span<const uint8_t> clear, bool last) {
    sealed.resize(clear.size() + kTagBytes);
    Tag tag{};
    const auto aad = aad_for(header, index, last);
    if (auto st = cipher->encrypt(nonce_for(header, index), aad_span(aad, kKindFile), clear, sealed, tag); !st) {
      return st;
    }
    std::copy(tag.begin(), tag.end(), sealed.end() - kTagBytes);
    if (int e = write_all(fd, sealed); e != 0) return fail("cannot write", e);
    ++index;
    return {};
  }
  Status flush(bool last) {
    Status st = seal(pending, last);
    wipe(pending);
    pending.clear();
    return st;
  }
};

SealedFileWriter::SealedFileWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SealedFileWriter::SealedFileWriter(SealedFileWriter&&) noexcept = default;
SealedFileWriter& SealedFileWriter::operator=(SealedFileWriter&&) noexcept = default;
SealedFileWriter::~SealedFileWriter() = default;

Result<SealedFileWriter> SealedFileWriter::create(const std::string& path, const Key& key) {
  if (auto st = create_folder_of(path); !st) return st.error();
  auto s = std::make_unique<State>();
  s->path = path;
  std::array<uint8_t, 4> suffix{};
  if (auto st = random_bytes(suffix); !st) return st.error();
  // Unique per writer, so that threads and processes saving the same file never share a temp file.
  s->temp = fmt::format("{}.tmp.{}.{}", path, ::getpid(), hex(suffix));
  s->fd = ::open(s->temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (s->fd < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot create", s->temp, errno));
  Status status;
  s->header = new_header(kKindFile, kSealedSegmentBytes, 0, key, status);
  if (!status) return status.error();
  s->cipher = cipher_for(s->header, key, status);
  if (!status) return status.error();
  if (int e = write_all(s->fd, s->header.bytes); e != 0) return s->fail("cannot write", e).error();
  s->pending.reserve(kSealedSegmentBytes);
  return SealedFileWriter(std::move(s));
}

Status SealedFileWriter::write(std::span<const uint8_t> bytes) {
  State& s = *state_;
  while (!bytes.empty()) {
    // A full segment is sealed only once more bytes arrive: until commit() it may be the last.
    if (s.pending.size() == kSealedSegmentBytes) {
      if (auto st = s.flush(false); !st) return st;
    }
    if (s.pending.empty() && bytes.size() > kSealedSegmentBytes) {  // a whole segment, not the last: no copy
      if (auto st = s.seal(bytes.first(kSealedSegmentBytes), false); !st) return st;
      bytes = bytes.subspan(kSealedSegmentBytes);
      continue;
    }
    const std::size_t take = std::min(bytes.size(), kSealedSegmentBytes - s.pending.size());
    s.pending.insert(s.pending.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    bytes = bytes.subspan(take);
  }
  return {};
}

Status SealedFileWriter::commit() {
  State& s = *state_;
  if (auto st = s.flush(true); !st) return st;
  if (::fsync(s.fd) != 0) return s.fail("cannot sync", errno);
  ::close(s.fd);
  s.fd = -1;
  if (::rename(s.temp.c_str(), s.path.c_str()) != 0) return s.fail("cannot replace", errno);
  s.committed = true;
  sync_folder(s.path);
  return {};
}

Status write_sealed_file(const std::string& path, const Key& key, std::string_view content) {
  auto writer = SealedFileWriter::create(path, key);
  if (!writer) return writer.error();
  if (auto st = writer->write({reinterpret_cast<const uint8_t*>(content.data()), content.size()}); !st) return st;
  return writer->commit();
}

Result<std::string> unseal_bytes(std::string_view sealed, const Key& key, const std::string& path) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(sealed.data());
  if (sealed.size() < kSealedHeaderBytes) return damaged(path, "shorter than a sealed-file header");
  HeaderBytes header_bytes{};
  std::copy_n(bytes, kSealedHeaderBytes, header_bytes.begin());
  auto header = parse_header(header_bytes, kKindFile, key, path);
  if (!header) return header.error();
  Status status;
  auto cipher = cipher_for(*header, key, status);
  if (!status) return status.error();
  std::string out;
  std::size_t offset = kSealedHeaderBytes;
  for (uint64_t index = 0;; ++index) {
    const std::size_t remaining = sealed.size() - offset;
    if (remaining < kTagBytes) return damaged(path, "truncated (a segment is missing its tag)");
    const std::size_t chunk = std::min<std::size_t>(remaining, header->segment_bytes + kTagBytes);
    const bool last = chunk == remaining;
    const std::size_t at = out.size();
    out.resize(at + chunk - kTagBytes);
    if (auto st = open_segment(*header, *cipher, index, last, {bytes + offset, chunk},
                               {reinterpret_cast<uint8_t*>(out.data()) + at, chunk - kTagBytes}, path,
                               static_cast<int64_t>(offset));
        !st) {
      return st.error();
    }
    offset += chunk;
    if (last) return out;
  }
}

bool is_sealed_bytes(std::string_view bytes) {
  return has_magic({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

Result<std::string> read_sealed_file(const std::string& path, const Key& key) {
  auto reader = SealedFileReader::open(path, key);
  if (!reader) return reader.error();
  std::string out;
  while (!reader->done()) {
    auto segment = reader->next();
    if (!segment) return segment.error();
    out.append(reinterpret_cast<const char*>(segment->data()), segment->size());
  }
  return out;
}

namespace {

bool looks_like_text(std::string_view bytes) {
  return std::none_of(bytes.begin(), bytes.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\r' && c != '\t';
  });
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "no file " + path);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  if (in.bad()) return make_error(ErrorCode::kUnavailable, "cannot read " + path);
  return bytes;
}

}  // namespace

Status write_protected_file(const std::string& path, const std::optional<Key>& key, std::string_view content) {
  if (key) return write_sealed_file(path, *key, content);
  if (auto st = create_folder_of(path); !st) return st;
  return replace_file_atomically(path, content);
}

Result<std::string> read_protected_file(const std::string& path, const std::optional<Key>& key) {
  auto sealed = is_sealed_file(path);
  if (!sealed) return sealed.error();
  if (*sealed) {
    if (!key) {
      return make_error(ErrorCode::kInvalidArgument,
                        path + " is encrypted, but encryption is off (security.encryption); `tandem keyring status`");
    }
    return read_sealed_file(path, *key);
  }
  auto clear = read_whole(path);
  if (!clear || !key) return clear;
  // Sealed bytes whose magic was damaged must not be taken for text and sealed again.
  if (!looks_like_text(*clear)) return damaged(path, "it is neither sealed nor a text file");
  if (auto st = write_sealed_file(path, *key, *clear); !st) return st.error();
  return clear;
}

// ---- Record logs ----

namespace {

// A log's length file: "<whole records> <salt of the log's header in hex>", sealed with its key.
std::string length_path_of(const std::string& log_path) {
  return log_path + ".length";
}

}  // namespace

struct RecordLog::State {
  std::string path;
  int fd = -1;
  std::optional<Key> key;
  Header header;
  std::unique_ptr<AesGcm> cipher;
  std::mutex mutex;
  int64_t offset = 0;  // where the next unread record starts
  uint64_t index = 0;  // its position in the log
  bool torn = false;   // the bytes from `offset` on are a cut-off record
  bool defer_length = false;  // while reseal() fills a new log: its length is sealed (and checked) once, at the end
  ~State() {
    if (fd >= 0) ::close(fd);
    if (key) wipe(*key);
  }

  // Decodes every whole record from `offset` to the end, advancing past each.
  Status read_new(const std::function<void(std::string&&)>& sink) {
    auto size = file_size(fd, path);
    if (!size) return size.error();
    if (*size < offset) return damaged(path, fmt::format("shrank from {} to {} bytes (truncated)", offset, *size));
    torn = false;
    if (!key) return read_lines(*size, sink);
    if (auto st = read_sealed(*size, sink); !st) return st;
    return header.length_file && !defer_length ? check_length() : Status{};
  }

  std::string salt_hex() const { return hex(std::span(header.bytes).subspan(kSaltOffset, kSaltBytes)); }

  // Called with every record read: a log may be longer than its length file says (a crash between
  // an append and sealing the length), never shorter.
  Status check_length() {
    const std::string length_path = length_path_of(path);
    auto sealed = read_sealed_file(length_path, *key);
    if (!sealed) {
      if (sealed.error().code != ErrorCode::kNotFound) return sealed.error();
      if (index == 0) return {};  // nothing appended yet
      return damaged(path, fmt::format("its sealed length {} is missing (removed)", length_path));
    }
    uint64_t count = 0;
    char salt[2 * kSaltBytes + 1] = {};
    if (std::sscanf(sealed->c_str(), "%" SCNu64 " %32s", &count, salt) != 2) {
      return damaged(path, fmt::format("its sealed length {} does not hold a record count", length_path));
    }
    if (index < count) {
      return damaged(path, fmt::format("it holds {} records but {} says {}: records were removed from the end "
                                       "(if that was intended, remove {})",
                                       index, length_path, count, length_path));
    }
    if (salt != salt_hex()) return damaged(path, fmt::format("{} belongs to another log", length_path));
    return {};
  }

  Status seal_length(const std::string& log_path) const {
    return write_sealed_file(length_path_of(log_path), *key, fmt::format("{} {}", index, salt_hex()));
  }

  Status read_sealed(int64_t size, const std::function<void(std::string&&)>& sink) {
    std::vector<uint8_t> frame;
    std::string clear;
    while (offset < size) {
      std::array<uint8_t, 4> length_bytes{};
      auto got = pread_full(fd, path, length_bytes.data(), length_bytes.size(), offset);
      if (!got) return got.error();
      const uint32_t length = *got == 4 ? get_u32(length_bytes.data()) : 0;
      if (length > kMaxRecordBytes) {
        return damaged(path, fmt::format("record {} at byte {} has an impossible length", index + 1, offset));
      }
      if (*got < 4 || size - offset < static_cast<int64_t>(4 + length + kTagBytes)) {
        torn = true;  // a crash cut off the last append
        return {};
      }
      frame.resize(length + kTagBytes);
      got = pread_full(fd, path, frame.data(), frame.size(), offset + 4);
      if (!got) return got.error();
      if (*got != frame.size()) return damaged(path, "shrank while being read");
      Tag tag{};
      std::copy_n(frame.end() - kTagBytes, kTagBytes, tag.begin());
      clear.assign(length, '\0');
      const auto aad = aad_for(header, index, false);
      if (!cipher->decrypt(nonce_for(header, index), aad_span(aad, kKindLog), std::span(frame).first(length), tag,
                           {reinterpret_cast<uint8_t*>(clear.data()), clear.size()})) {
        return damaged(path, fmt::format("record {} at byte {} failed authentication (changed, removed or reordered)",
                                         index + 1, offset));
      }
      sink(std::move(clear));
      offset += static_cast<int64_t>(4 + frame.size());
      ++index;
    }
    return {};
  }

  Status read_lines(int64_t size, const std::function<void(std::string&&)>& sink) {
    std::string carry;
    std::vector<uint8_t> buffer(1 << 16);
    for (int64_t at = offset; at < size;) {
      auto got = pread_full(fd, path, buffer.data(),
                            static_cast<std::size_t>(std::min<int64_t>(size - at, buffer.size())), at);
      if (!got) return got.error();
      if (*got == 0) break;
      at += static_cast<int64_t>(*got);
      std::string_view chunk(reinterpret_cast<const char*>(buffer.data()), *got);
      for (std::size_t newline; (newline = chunk.find('\n')) != std::string_view::npos;) {
        carry.append(chunk.substr(0, newline));
        offset += static_cast<int64_t>(carry.size() + 1);
        ++index;
        sink(std::move(carry));
        carry.clear();
        chunk.remove_prefix(newline + 1);
      }
      carry.append(chunk);
      if (carry.size() > kMaxRecordBytes) {
        return damaged(path, fmt::format("line {} is longer than 16 MiB", index + 1));
      }
    }
    torn = !carry.empty();
    return {};
  }

  Status append(std::string_view record) {
    if (auto st = read_new([](std::string&&) {}); !st) return st;
    if (torn) {
      return damaged(path, fmt::format("record {} at byte {} was cut off by a crash; nothing more is appended",
                                       index + 1, offset));
    }
    if (record.size() > kMaxRecordBytes) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("a record for {} is larger than 16 MiB", path));
    }
    std::vector<uint8_t> frame;
    if (key) {
      frame.resize(4 + record.size() + kTagBytes);
      put_u32(frame.data(), static_cast<uint32_t>(record.size()));
      Tag tag{};
      const auto aad = aad_for(header, index, false);
      if (auto st = cipher->encrypt(nonce_for(header, index), aad_span(aad, kKindLog),
                                    {reinterpret_cast<const uint8_t*>(record.data()), record.size()},
                                    std::span(frame).subspan(4, record.size()), tag);
          !st) {
        return st;
      }
      std::copy(tag.begin(), tag.end(), frame.end() - kTagBytes);
    } else {
      if (record.find('\n') != std::string_view::npos) {
        return make_error(ErrorCode::kInvalidArgument, "a record in clear may not contain a newline");
      }
      frame.assign(record.begin(), record.end());
      frame.push_back('\n');
    }
    int error_number = write_all(fd, frame);
    if (error_number == 0 && ::fdatasync(fd) != 0) error_number = errno;
    if (error_number != 0) {
      (void)::ftruncate(fd, static_cast<off_t>(offset));  // no partial record stays behind
      return make_error(ErrorCode::kUnavailable, io_error("cannot append to", path, error_number));
    }
    offset += static_cast<int64_t>(frame.size());
    ++index;
    if (key && header.length_file && !defer_length) {
      // The record is durable; a length left one behind is accepted and set right by the next append.
      if (auto st = seal_length(path); !st) {
        return make_error(st.error().code,
                          fmt::format("record {} was appended to {}, but its length was not sealed: {}", index, path,
                                      st.error().message));
      }
    }
    return {};
  }
};

struct RecordLog::Session::Lock {
  State& state;
  std::unique_lock<std::mutex> guard;
  FileLock file;
  explicit Lock(State& s) : state(s), guard(s.mutex), file(s.fd) {}
};

RecordLog::Session::Session(std::unique_ptr<Lock> lock) : lock_(std::move(lock)) {}
RecordLog::Session::Session(Session&&) noexcept = default;
RecordLog::Session::~Session() = default;

Result<Records> RecordLog::Session::read_new() {
  Records out;
  if (auto st = lock_->state.read_new([&](std::string&& r) { out.records.push_back(std::move(r)); }); !st) {
    return st.error();
  }
  out.torn_tail = lock_->state.torn;
  return out;
}

Result<Records> RecordLog::Session::read_all() {
  lock_->state.offset = lock_->state.key ? kSealedHeaderBytes : 0;
  lock_->state.index = 0;
  return read_new();
}

Status RecordLog::Session::append(std::string_view record) {
  return lock_->state.append(record);
}

RecordLog::RecordLog(std::unique_ptr<State> state) : state_(std::move(state)) {}
RecordLog::~RecordLog() = default;

const std::string& RecordLog::path() const {
  return state_->path;
}

Result<RecordLog::Session> RecordLog::lock() {
  auto lock = std::make_unique<Session::Lock>(*state_);
  if (lock->file.error() != 0) {
    return make_error(ErrorCode::kUnavailable, io_error("cannot lock", state_->path, lock->file.error()));
  }
  return Session(std::move(lock));
}

Status RecordLog::append(std::string_view record) {
  auto session = lock();
  if (!session) return session.error();
  return session->append(record);
}

// Rewrites a log from an earlier version (one in clear, or a sealed one without the tail guard now
// asked for) as a new sealed log (temp file, fsync, rename) while the caller holds its lock: the
// records keep their order, so chains over them (the audit log's) stay valid.
Status RecordLog::reseal(State& old, const Key& key, TailGuard guard) {
  std::vector<std::string> records;
  if (auto st = old.read_new([&](std::string&& r) { records.push_back(std::move(r)); }); !st) return st;
  if (old.torn) {
    return damaged(old.path,
                   old.key ? "its last record was cut off by a crash; it is rewritten only once that is resolved"
                           : "its last line was cut off by a crash; it is stored in clear and cannot be encrypted");
  }
  // Sealed bytes whose magic was damaged must not be taken for text and sealed again.
  for (const auto& record : records) {
    if (!old.key && !looks_like_text(record)) return damaged(old.path, "it is neither a sealed log nor JSON Lines");
  }
  const std::string temp = old.path + ".sealing." + std::to_string(::getpid());
  ::unlink(temp.c_str());
  Status written = [&]() -> Status {
    auto sealed = RecordLog::open(temp, key, guard);
    if (!sealed) return sealed.error();
    State& fresh = *(*sealed)->state_;
    fresh.defer_length = true;
    for (const auto& record : records) {
      if (auto st = fresh.append(record); !st) return st;
    }
    // Sealed before the rename: a crash in between leaves the old log, which is rewritten again.
    return fresh.header.length_file ? fresh.seal_length(old.path) : Status{};
  }();
  for (auto& record : records) wipe({reinterpret_cast<uint8_t*>(record.data()), record.size()});
  if (written && ::rename(temp.c_str(), old.path.c_str()) != 0) {
    written = make_error(ErrorCode::kUnavailable, io_error("cannot replace", old.path, errno));
  }
  if (!written) {
    ::unlink(temp.c_str());
    return written;
  }
  sync_folder(old.path);
  return {};
}

Result<std::unique_ptr<RecordLog>> RecordLog::open(const std::string& path, const std::optional<Key>& key,
                                                   TailGuard guard) {
  if (auto st = create_folder_of(path); !st) return st.error();
  auto s = std::make_unique<State>();
  s->path = path;
  s->key = key;
  for (int attempt = 0;; ++attempt) {
    s->fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
    FileLock lock(s->fd);
    if (lock.error() != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot lock", path, lock.error()));
    auto size = file_size(s->fd, path);
    if (!size) return size.error();
    HeaderBytes bytes{};
    auto got = pread_full(s->fd, path, bytes.data(), bytes.size(), 0);
    if (!got) return got.error();
    const bool sealed = *got >= kMagic.size() && has_magic(std::span(bytes).first(*got));
    if (!key) {
      if (sealed) {
        return make_error(ErrorCode::kInvalidArgument,
                          path + " is encrypted, but encryption is off (security.encryption); `tandem keyring status`");
      }
      return std::unique_ptr<RecordLog>(new RecordLog(std::move(s)));
    }
    // A log this loop rewrote a moment ago is as asked; anything else is damage, never rewritten twice.
    auto rewrite = [&](State& old) -> Status {
      if (attempt > 0) return damaged(path, "it is neither a sealed log nor JSON Lines");
      if (auto st = reseal(old, *key, guard); !st) return st;
      ::close(s->fd);  // the lock goes with the old file; open the new one
      s->fd = -1;
      return {};
    };
    if (*size == 0) {
      Status status;
      s->header = new_header(kKindLog, 0, guard == TailGuard::kLengthFile ? kFlagLengthFile : 0, *key, status);
      if (!status) return status.error();
      int e = write_all(s->fd, s->header.bytes);
      if (e == 0 && ::fdatasync(s->fd) != 0) e = errno;
      if (e != 0) {
        (void)::ftruncate(s->fd, 0);
        return make_error(ErrorCode::kUnavailable, io_error("cannot write", path, e));
      }
    } else if (sealed) {
      if (*got < bytes.size()) return damaged(path, "shorter than a sealed-file header");
      auto header = parse_header(bytes, kKindLog, *key, path);
      if (!header) return header.error();
      s->header = *header;
    } else {
      State clear;  // reads through our descriptor: a second flock would wait on ourselves
      clear.path = path;
      clear.fd = s->fd;
      Status rewritten = rewrite(clear);
      clear.fd = -1;
      if (!rewritten) return rewritten.error();
      continue;
    }
    Status status;
    s->cipher = cipher_for(s->header, *key, status);
    if (!status) return status.error();
    s->offset = kSealedHeaderBytes;
    s->index = 0;
    if (guard == TailGuard::kLengthFile && !s->header.length_file) {  // sealed by an earlier version
      if (auto st = rewrite(*s); !st) return st.error();
      continue;
    }
    return std::unique_ptr<RecordLog>(new RecordLog(std::move(s)));
  }
}

Result<Records> read_records(const std::string& path, const std::optional<Key>& key) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (key && std::filesystem::exists(length_path_of(path), ec)) {
      return damaged(path, fmt::format("it is missing but {} remains (removed)", length_path_of(path)));
    }
    return make_error(ErrorCode::kNotFound, "no file " + path);
  }
  // Reading adds no guard and rewrites nothing sealed; the guard a log has is checked.
  auto log = RecordLog::open(path, key, RecordLog::TailGuard::kNone);
  if (!log) return log.error();
  auto session = (*log)->lock();
  if (!session) return session.error();
  return session->read_new();
}

}  // namespace tandem::privacy
