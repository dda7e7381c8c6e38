#include "privacy/audit_log.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/clock.h"
#include "privacy/sealed_file.h"

namespace tandem::privacy {
namespace {

using nlohmann::json;

const std::string kGenesisHash(64, '0');

// ---- File IO: the only code that touches the disk. With a data key the log is a sealed record
// log and the head a sealed file (privacy/sealed_file.h); without one, JSON Lines and JSON. ----

// Records as the JSON Lines text the chain is checked on. A record cut off by a crash becomes an
// unterminated last line, which check_chain reports.
std::string as_lines(const Records& records) {
  std::string text;
  for (const auto& record : records.records) text += record + "\n";
  if (records.torn_tail) text += "{";
  return text;
}

Result<std::string> as_lines(const Result<Records>& records) {
  if (!records) return records.error();
  return as_lines(*records);
}

// kNotFound when there is no log.
Result<std::string> read_log_text(const std::string& path, const std::optional<Key>& key) {
  return as_lines(read_records(path, key));
}

// What a file looked like when this process last wrote or read it: another program's edit (or
// append) changes it, so a running writer knows when to check the whole chain again.
struct FileStamp {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  int64_t modified_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return {};
  return {info.st_dev, info.st_ino, info.st_size,
          static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
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

Status write_head(const std::string& log_path, const std::optional<Key>& key, const ChainState& head) {
  return write_protected_file(head_path(log_path), key,
                              json{{"sequence", head.sequence}, {"hash", head.hash}}.dump() + "\n");
}

// nullopt when there is no head file.
Result<std::optional<ChainState>> read_head(const std::string& log_path, const std::optional<Key>& key) {
  auto bytes = read_protected_file(head_path(log_path), key);
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

// Checks the log's text (`text`: kNotFound when there is no log) against its head.
Result<Verification> check_log(const std::string& path, const Result<std::string>& text,
                               const Result<std::optional<ChainState>>& head) {
  if (!head && head.error().code != ErrorCode::kDataLoss) return head.error();
  Verification out;
  if (!text) {
    if (text.error().code == ErrorCode::kDataLoss) {  // a sealed record that fails authentication
      out.report.reason = text.error().message;
      return out;
    }
    if (text.error().code != ErrorCode::kNotFound) return text.error();
    if (head && !*head) return make_error(ErrorCode::kNotFound, "no audit log at " + path);
    out.report.reason =
        head ? fmt::format("the log is missing but its head says sequence {} (removed)", (*head)->sequence)
             : "the log is missing and its head is malformed";
    return out;
  }
  out.report.entries = std::count(text->begin(), text->end(), '\n');
  ChainCheck chain = check_chain(*text, ChainState{});
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

Error broken_log(const std::string& path, const std::string& reason) {
  return make_error(ErrorCode::kDataLoss,
                    fmt::format("audit log {} is broken: {}; see `tandem audit verify`", path, reason));
}

// The whole log's text, read under its lock, against its head: a broken log is an error here.
Result<Verification> verify_whole_log(const std::string& path, const Result<std::string>& text,
                                      const std::optional<Key>& key) {
  auto verified = check_log(path, text, read_head(path, key));
  if (!verified) return verified.error();
  if (!verified->report.ok) return broken_log(path, verified->report.reason);
  return verified;
}

// Under the log's lock, so that no other process appends in between: checks the whole log and
// brings a head one entry behind up to date.
Result<Verification> verify_for_append(RecordLog& log, const std::optional<Key>& key) {
  auto session = log.lock();
  if (!session) return session.error();
  auto verified = verify_whole_log(log.path(), as_lines(session->read_new()), key);
  if (!verified) return verified.error();
  if (!verified->head_current) {
    if (auto st = write_head(log.path(), key, verified->last); !st) return st.error();
  }
  return verified;
}

}  // namespace

struct AuditLog::Writer {
  Writer(std::unique_ptr<RecordLog> log, std::optional<Key> key, ChainState last)
      : log(std::move(log)), key(std::move(key)), last(std::move(last)) {}
  ~Writer() {
    if (key) wipe(*key);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // The log and its head as this writer left them; see append().
  std::pair<FileStamp, FileStamp> stamps() const { return {stamp_of(log->path()), stamp_of(head_path(log->path()))}; }

  const std::unique_ptr<RecordLog> log;
  std::optional<Key> key;
  std::mutex mutex;
  ChainState last;
  std::pair<FileStamp, FileStamp> left;
};

AuditLog::AuditLog(std::unique_ptr<Writer> writer) : writer_(std::move(writer)) {}
AuditLog::AuditLog(AuditLog&&) noexcept = default;
AuditLog& AuditLog::operator=(AuditLog&&) noexcept = default;
AuditLog::~AuditLog() = default;

Result<AuditLog> AuditLog::open(const std::string& path, const std::optional<Key>& key) {
  // A log that is missing while its head exists was removed: open must not quietly start anew.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    auto head = read_head(path, key);
    if (head && *head) {
      return make_error(
          ErrorCode::kDataLoss,
          fmt::format("audit log {} is missing but its head says sequence {} (removed)", path, (*head)->sequence));
    }
  }
  // Creates it and its folder; seals a clear one from an earlier version. Removed tail entries are
  // found through the head, so the log needs no length file of its own.
  auto log = RecordLog::open(path, key, RecordLog::TailGuard::kNone);
  if (!log) return log.error();
  auto verified = verify_for_append(**log, key);
  if (!verified) return verified.error();
  auto writer = std::make_unique<Writer>(std::move(*log), key, std::move(verified->last));
  writer->left = writer->stamps();
  return AuditLog(std::move(writer));
}

Result<AuditEntry> AuditLog::append(AuditEntry entry) {
  if (auto st = validate(entry); !st) return st.error();
  Writer& w = *writer_;
  std::lock_guard guard(w.mutex);
  auto session = w.log->lock();
  if (!session) return session.error();

  // Someone changed the files since this writer's last append (another process appending, or an
  // edit): the whole chain is checked again, so a running server stops sending as soon as the
  // log is broken, as a starting one would. Unchanged files cost two stat() calls.
  if (const auto stamps = w.stamps(); stamps != w.left) {
    if (stamps.first.device != w.left.first.device || stamps.first.inode != w.left.first.inode) {
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("audit log {} was replaced or removed while this process had it open; restart "
                                    "to check the one there now",
                                    w.log->path()));
    }
    auto verified = verify_whole_log(w.log->path(), as_lines(session->read_all()), w.key);
    if (!verified) return verified.error();
    w.last = verified->last;
  }
  // Another process (a second `tandem`) may have appended since our last write: follow its entries.
  auto added = session->read_new();
  if (!added) return broken_log(w.log->path(), added.error().message);
  if (!added->records.empty() || added->torn_tail) {
    ChainCheck chain = check_chain(as_lines(*added), w.last);
    if (!chain.fault.empty()) return broken_log(w.log->path(), chain.fault);
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
    line = object.dump();
  } catch (const json::type_error&) {  // dump() refuses invalid UTF-8
    return make_error(ErrorCode::kInvalidArgument,
                      "audit entry: tenant, provider, model or an entity type is not valid UTF-8");
  }
  if (auto st = session->append(line); !st) return st.error();
  w.last = {entry.sequence, entry.hash};
  // The entry is durable now; a head left behind by a failure here is one entry behind, which
  // verify accepts and the next append or open() repairs.
  if (auto st = write_head(w.log->path(), w.key, w.last); !st) return st.error();
  w.left = w.stamps();
  return entry;
}

Result<std::vector<AuditEntry>> AuditLog::read_all() const {
  std::lock_guard guard(writer_->mutex);
  return read_audit_log(writer_->log->path(), writer_->key);
}

Result<std::vector<AuditEntry>> read_audit_log(const std::string& path, const std::optional<Key>& key) {
  auto bytes = read_log_text(path, key);
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

Result<VerifyReport> verify_audit_log(const std::string& path, const std::optional<Key>& key) {
  auto verified = check_log(path, read_log_text(path, key), read_head(path, key));
  if (!verified) return verified.error();
  return std::move(verified->report);
}

}  // namespace tandem::privacy
