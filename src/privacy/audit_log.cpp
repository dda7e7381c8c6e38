#include "privacy/audit_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/clock.h"
#include "core/file_io.h"

namespace tandem::privacy {
namespace {

using nlohmann::json;

const std::string kGenesisHash(64, '0');


// ---- File IO: the only code that touches the disk, so that encryption at rest can wrap it. ----

// The whole file; kNotFound when it does not exist.
Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, "no file " + path);
    return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
  }
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error_number = errno;
      ::close(fd);
      return make_error(ErrorCode::kUnavailable, io_error("cannot read", path, error_number));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

// Bytes [begin, end) of an open file: what another process appended since our last look.
Result<std::string> read_range(int fd, const std::string& path, int64_t begin, int64_t end) {
  std::string bytes(static_cast<size_t>(end - begin), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(begin + static_cast<int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot read", path, errno));
    if (n == 0) return make_error(ErrorCode::kDataLoss, path + " shrank while being read");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

// Appends one whole line and syncs it. On any failure the file is cut back to `size_before`, so a
// full disk never leaves half an entry behind.
Status append_line(int fd, const std::string& path, std::string_view line, int64_t size_before) {
  size_t done = 0;
  int error_number = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_number = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (error_number == 0 && ::fdatasync(fd) != 0) error_number = errno;
  if (error_number != 0) {
    if (done > 0) (void)::ftruncate(fd, static_cast<off_t>(size_before));
    return make_error(ErrorCode::kUnavailable, io_error("cannot append to", path, error_number));
  }
  return {};
}


// ---- Hashing and the canonical form ----

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// nlohmann::json keeps object keys sorted, so dump() of the same entry is always the same bytes.
json to_json_without_hash(const AuditEntry& entry) {
  return {{"sequence", entry.sequence},
          {"time", entry.time},
          {"tenant", entry.tenant},
          {"provider", entry.provider},
          {"model", entry.model},
          {"pseudonymized", entry.pseudonymized},
          {"sent_sha256", entry.sent_sha256},
          {"sent_bytes", entry.sent_bytes},
          {"previous_hash", entry.previous_hash}};
}

std::string chain_hash(const std::string& previous_hash, const json& without_hash) {
  return sha256_hex(previous_hash + without_hash.dump());
}

Result<json> parse_object(std::string_view line) {
  json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return make_error(ErrorCode::kDataLoss, "not a JSON object (edited or corrupted)");
  }
  return parsed;
}

Result<AuditEntry> entry_from_json(const json& object) {
  auto malformed = [](const char* field) {
    return make_error(ErrorCode::kDataLoss, fmt::format("field '{}' missing or malformed (edited)", field));
  };
  auto text = [&](const char* field, std::string& out) {
    auto it = object.find(field);
    if (it == object.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  auto integer = [&](const char* field, int64_t& out) {
    auto it = object.find(field);
    if (it == object.end() || !it->is_number_integer()) return false;
    out = it->get<int64_t>();
    return out >= 0;
  };
  AuditEntry entry;
  if (!integer("sequence", entry.sequence)) return malformed("sequence");
  if (!text("time", entry.time)) return malformed("time");
  if (!text("tenant", entry.tenant)) return malformed("tenant");
  if (!text("provider", entry.provider)) return malformed("provider");
  if (!text("model", entry.model)) return malformed("model");
  if (!text("sent_sha256", entry.sent_sha256)) return malformed("sent_sha256");
  if (!integer("sent_bytes", entry.sent_bytes)) return malformed("sent_bytes");
  if (!text("previous_hash", entry.previous_hash)) return malformed("previous_hash");
  if (!text("hash", entry.hash)) return malformed("hash");
  auto types = object.find("pseudonymized");
  if (types == object.end() || !types->is_object()) return malformed("pseudonymized");
  for (const auto& [name, count] : types->items()) {
    if (!count.is_number_integer()) return malformed("pseudonymized");
    entry.pseudonymized[name] = count.get<int64_t>();
  }
  return entry;
}

// ---- The chain ----

struct ChainState {
  int64_t sequence = 0;
  std::string hash = kGenesisHash;
};

struct ChainCheck {
  ChainState last;         // after the last good line
  ChainState before_last;  // a head one entry behind (crash between line and head) matches this
  std::string fault;       // "line 7: entry edited (hash mismatch)"; empty when every line is good
  int64_t fault_line = 0;  // also the sequence expected there
};

// Checks that the lines in `bytes` continue the chain from `from`; stops at the first fault.
// Line n of a good log holds sequence n, so lines are numbered from from.sequence + 1.
ChainCheck check_chain(std::string_view bytes, const ChainState& from) {
  ChainCheck check;
  check.last = check.before_last = from;
  size_t begin = 0;
  while (begin < bytes.size()) {
    const int64_t line_number = check.last.sequence + 1;
    auto fail = [&](const std::string& why) {
      check.fault = fmt::format("line {}: {}", line_number, why);
      check.fault_line = line_number;
      return check;
    };
    const size_t end = bytes.find('\n', begin);
    if (end == std::string_view::npos) return fail("incomplete last line (no newline at the end): a write was cut off");
    const std::string_view line = bytes.substr(begin, end - begin);
    begin = end + 1;
    if (line.empty()) return fail("empty line");
    auto object = parse_object(line);
    if (!object) return fail(object.error().message);
    auto entry = entry_from_json(*object);
    if (!entry) return fail(entry.error().message);
    json without_hash = *object;
    without_hash.erase("hash");
    // The entry's own hash first: a removed line leaves every other line's hash intact, so a
    // mismatch here means this line itself was changed.
    if (chain_hash(entry->previous_hash, without_hash) != entry->hash) return fail("entry edited (hash mismatch)");
    if (entry->sequence != line_number) {
      return fail(fmt::format("sequence {} where {} expected (removed or reordered)", entry->sequence, line_number));
    }
    if (entry->previous_hash != check.last.hash) {
      return fail(fmt::format("previous_hash does not match line {} (an entry was replaced)", line_number - 1));
    }
    check.before_last = check.last;
    check.last = {entry->sequence, entry->hash};
  }
  return check;
}

std::string head_path(const std::string& log_path) {
  return log_path + ".head";
}

Status write_head(const std::string& log_path, const ChainState& head) {
  return replace_file_atomically(head_path(log_path), json{{"sequence", head.sequence}, {"hash", head.hash}}.dump() + "\n");
}

// nullopt when there is no head file.
Result<std::optional<ChainState>> read_head(const std::string& log_path) {
  auto bytes = read_file(head_path(log_path));
  if (!bytes) {
    if (bytes.error().code == ErrorCode::kNotFound) return std::optional<ChainState>();
    return bytes.error();
  }
  json parsed = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  auto sequence = parsed.is_object() ? parsed.find("sequence") : parsed.end();
  auto hash = parsed.is_object() ? parsed.find("hash") : parsed.end();
  if (!parsed.is_object() || sequence == parsed.end() || !sequence->is_number_integer() || hash == parsed.end() ||
      !hash->is_string()) {
    return make_error(ErrorCode::kDataLoss, "head file " + head_path(log_path) + " is malformed");
  }
  return std::optional<ChainState>(ChainState{sequence->get<int64_t>(), hash->get<std::string>()});
}

struct Verification {
  VerifyReport report;
  ChainState last;
  int64_t log_bytes = 0;
  bool head_current = false;  // false: open() rewrites the head
};

// Compares the log's end with the head. The one tolerated difference is a head exactly one entry
// behind (the process died between appending the line and replacing the head).
void check_head(const ChainCheck& chain, const std::optional<ChainState>& head, Verification& out) {
  VerifyReport& report = out.report;
  const int64_t last = chain.last.sequence;
  auto fail = [&](int64_t bad_sequence, const std::string& why) {
    report.ok = false;
    report.reason = why;
    report.bad_sequence = bad_sequence;
  };
  if (!head) {
    if (last == 0) return;  // a new log whose head was never written
    return fail(
        last + 1,
        fmt::format("the head file is missing but the log has {} entries (the log may have been truncated)", last));
  }
  if (head->sequence == last) {
    if (head->hash != chain.last.hash)
      fail(last, fmt::format("entry {} does not match the head (last entry replaced)", last));
    out.head_current = report.ok;
    return;
  }
  if (head->sequence > last) {
    return fail(last + 1, fmt::format("log ends at sequence {} but head says {} (truncated)", last, head->sequence));
  }
  if (head->sequence == last - 1 && head->hash == chain.before_last.hash) return;
  fail(head->sequence + 1,
       fmt::format(
           "head says sequence {} but the log ends at {} (head rolled back, or entries added by another program)",
           head->sequence, last));
}

Result<Verification> verify(const std::string& path) {
  auto head = read_head(path);  // a malformed head (kDataLoss) is a finding, reported below
  if (!head && head.error().code != ErrorCode::kDataLoss) return head.error();
  auto bytes = read_file(path);
  Verification out;
  if (!bytes) {
    if (bytes.error().code != ErrorCode::kNotFound) return bytes.error();
    if (head && !*head) return make_error(ErrorCode::kNotFound, "no audit log at " + path);
    out.report.reason =
        head ? fmt::format("the log is missing but its head says sequence {} (removed)", (*head)->sequence)
             : "the log is missing and its head is malformed";
    return out;
  }
  out.log_bytes = static_cast<int64_t>(bytes->size());
  out.report.entries = std::count(bytes->begin(), bytes->end(), '\n');
  ChainCheck chain = check_chain(*bytes, ChainState{});
  out.last = chain.last;
  if (!chain.fault.empty()) {
    out.report.reason = chain.fault;
    out.report.bad_line = chain.fault_line;
    out.report.bad_sequence = chain.fault_line;
    return out;
  }
  if (!head) {
    out.report.reason = head.error().message;
    return out;
  }
  out.report.ok = true;
  check_head(chain, *head, out);
  return out;
}

Status validate(const AuditEntry& entry) {
  auto invalid = [](const std::string& why) { return make_error(ErrorCode::kInvalidArgument, "audit entry: " + why); };
  if (entry.provider.empty()) return invalid("provider is empty");
  if (entry.model.empty()) return invalid("model is empty");
  if (!is_sha256_hex(entry.sent_sha256)) return invalid("sent_sha256 is not 64 lowercase hex digits");
  if (entry.sent_bytes < 0) return invalid("sent_bytes is negative");
  for (const auto& [name, count] : entry.pseudonymized) {
    if (name.empty() || count < 0) return invalid("pseudonymized needs entity type names with counts >= 0");
  }
  return {};
}

// Holds flock(LOCK_EX) on the log for as long as it lives: one appender across processes.
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

// Under the file lock, so that no other process appends in between: checks the whole log and
// brings a head one entry behind up to date.
Result<Verification> verify_for_append(int fd, const std::string& path) {
  FileLock lock(fd);
  if (lock.error() != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot lock", path, lock.error()));
  auto verified = verify(path);
  if (!verified) return verified.error();
  if (!verified->report.ok) {
    return make_error(ErrorCode::kDataLoss, fmt::format("audit log {} is broken: {}; see `tandem audit verify`", path,
                                                        verified->report.reason));
  }
  if (!verified->head_current) {
    if (auto st = write_head(path, verified->last); !st) return st.error();
  }
  return verified;
}

}  // namespace

struct AuditLog::Writer {
  Writer(std::string path, int fd, int64_t end_offset, ChainState last)
      : path(std::move(path)), fd(fd), end_offset(end_offset), last(std::move(last)) {}
  ~Writer() { ::close(fd); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  const std::string path;
  const int fd;  // O_APPEND
  std::mutex mutex;
  int64_t end_offset;  // the file's size after our last look, to notice appends by another process
  ChainState last;
};

AuditLog::AuditLog(std::unique_ptr<Writer> writer) : writer_(std::move(writer)) {}
AuditLog::AuditLog(AuditLog&&) noexcept = default;
AuditLog& AuditLog::operator=(AuditLog&&) noexcept = default;
AuditLog::~AuditLog() = default;

Result<AuditLog> AuditLog::open(const std::string& path) {
  std::error_code ec;
  const auto folder = std::filesystem::path(path).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + folder.string() + ": " + ec.message());

  // A log that is missing while its head exists was removed: open must not quietly start anew.
  if (!std::filesystem::exists(path, ec)) {
    auto head = read_head(path);
    if (head && *head) {
      return make_error(
          ErrorCode::kDataLoss,
          fmt::format("audit log {} is missing but its head says sequence {} (removed)", path, (*head)->sequence));
    }
  }
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
  auto verified = verify_for_append(fd, path);
  if (!verified) {
    ::close(fd);
    return verified.error();
  }
  return AuditLog(std::make_unique<Writer>(path, fd, verified->log_bytes, std::move(verified->last)));
}

Result<AuditEntry> AuditLog::append(AuditEntry entry) {
  if (auto st = validate(entry); !st) return st.error();
  Writer& w = *writer_;
  std::lock_guard guard(w.mutex);
  FileLock lock(w.fd);
  if (lock.error() != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot lock", w.path, lock.error()));

  // Another process (a second `tandem`) may have appended since our last write: follow its entries.
  struct stat info {};
  if (::fstat(w.fd, &info) != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot stat", w.path, errno));
  const int64_t size = info.st_size;
  if (size < w.end_offset) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("audit log {} shrank from {} to {} bytes (truncated)", w.path, w.end_offset, size));
  }
  if (size > w.end_offset) {
    auto added = read_range(w.fd, w.path, w.end_offset, size);
    if (!added) return added.error();
    ChainCheck chain = check_chain(*added, w.last);
    if (!chain.fault.empty())
      return make_error(ErrorCode::kDataLoss, "audit log " + w.path + " is broken: " + chain.fault);
    w.end_offset = size;
    w.last = chain.last;
  }

  entry.sequence = w.last.sequence + 1;
  entry.time = utc_now_rfc3339();
  entry.previous_hash = w.last.hash;
  std::string line;
  try {
    json object = to_json_without_hash(entry);
    entry.hash = chain_hash(entry.previous_hash, object);
    object["hash"] = entry.hash;
    line = object.dump() + "\n";
  } catch (const json::type_error&) {  // dump() refuses invalid UTF-8
    return make_error(ErrorCode::kInvalidArgument,
                      "audit entry: tenant, provider, model or an entity type is not valid UTF-8");
  }
  if (auto st = append_line(w.fd, w.path, line, w.end_offset); !st) return st.error();
  w.end_offset += static_cast<int64_t>(line.size());
  w.last = {entry.sequence, entry.hash};
  // The line is durable now; a head left behind by a failure here is one entry behind, which
  // verify accepts and the next append or open() repairs.
  if (auto st = write_head(w.path, w.last); !st) return st.error();
  return entry;
}

Result<std::vector<AuditEntry>> AuditLog::read_all() const {
  std::lock_guard guard(writer_->mutex);
  return read_audit_log(writer_->path);
}

Result<std::vector<AuditEntry>> read_audit_log(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) {
    if (bytes.error().code == ErrorCode::kNotFound) return make_error(ErrorCode::kNotFound, "no audit log at " + path);
    return bytes.error();
  }
  std::vector<AuditEntry> entries;
  std::string_view rest = *bytes;
  for (int64_t line_number = 1; !rest.empty(); ++line_number) {
    const size_t end = rest.find('\n');
    auto bad = [&](const std::string& why) {
      return make_error(ErrorCode::kDataLoss, fmt::format("{} line {}: {}", path, line_number, why));
    };
    if (end == std::string_view::npos) return bad("incomplete last line (no newline at the end): a write was cut off");
    auto object = parse_object(rest.substr(0, end));
    if (!object) return bad(object.error().message);
    auto entry = entry_from_json(*object);
    if (!entry) return bad(entry.error().message);
    entries.push_back(std::move(*entry));
    rest.remove_prefix(end + 1);
  }
  return entries;
}

Result<VerifyReport> verify_audit_log(const std::string& path) {
  auto verified = verify(path);
  if (!verified) return verified.error();
  return std::move(verified->report);
}

}  // namespace tandem::privacy
