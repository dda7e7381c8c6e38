#include "privacy/audit_log.h"

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace tandem::privacy {
namespace {

AuditEntry egress(const std::string& model, const std::string& text = "hello [PERSON_1]") {
  AuditEntry entry;
  entry.tenant = "acme";
  entry.provider = "openai";
  entry.model = model;
  entry.pseudonymized = {{"person", 2}, {"email", 1}};
  entry.sent_sha256 = sha256_hex(text);
  entry.sent_bytes = static_cast<int64_t>(text.size());
  return entry;
}

// "2025-03-01T09:30:00.123Z": every '0' of the template stands for a digit.
bool is_rfc3339_utc_ms(const std::string& time) {
  const std::string shape = "0000-00-00T00:00:00.000Z";
  if (time.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == '0' ? !std::isdigit(static_cast<unsigned char>(time[i])) : time[i] != shape[i]) return false;
  }
  return true;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::string bytes;
  for (const auto& line : lines) bytes += line + "\n";
  write_bytes(path, bytes);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

class AuditLogTest : public ::testing::Test {
 protected:
  // A log with `n` entries, models "m1".."mn"; the log is closed again.
  void write_log(int n) {
    auto log = AuditLog::open(path_);
    ASSERT_TRUE(log) << log.error().message;
    for (int i = 1; i <= n; ++i) {
      auto written = log->append(egress("m" + std::to_string(i)));
      ASSERT_TRUE(written) << written.error().message;
    }
  }

  VerifyReport verify() {
    auto report = verify_audit_log(path_);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : VerifyReport{};
  }

  testing::TempDir dir_;
  std::string path_ = dir_.file("data/audit.log");  // the folder does not exist yet: open creates it
};

TEST_F(AuditLogTest, AppendFillsTheChainAndReadsBack) {
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  std::vector<AuditEntry> written;
  for (const char* model : {"gpt-4o", "gpt-4o-mini", "claude"}) {
    auto entry = log->append(egress(model));
    ASSERT_TRUE(entry) << entry.error().message;
    written.push_back(*entry);
  }
  auto entries = log->read_all();
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const AuditEntry& e = (*entries)[i];
    EXPECT_EQ(e.sequence, static_cast<int64_t>(i + 1));
    EXPECT_TRUE(is_rfc3339_utc_ms(e.time)) << e.time;
    EXPECT_EQ(e.tenant, "acme");
    EXPECT_EQ(e.provider, "openai");
    EXPECT_EQ(e.model, written[i].model);
    EXPECT_EQ(e.pseudonymized, (std::map<std::string, int64_t>{{"email", 1}, {"person", 2}}));
    EXPECT_EQ(e.sent_sha256, sha256_hex("hello [PERSON_1]"));
    EXPECT_EQ(e.sent_bytes, 16);
    EXPECT_EQ(e.hash, written[i].hash);
    EXPECT_EQ(e.previous_hash, i == 0 ? std::string(64, '0') : (*entries)[i - 1].hash);
  }
  EXPECT_EQ(read_lines(path_).size(), 3u);
}

TEST_F(AuditLogTest, Sha256HexIsTheStandardDigest) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(AuditLogTest, ReopenResumesTheChain) {
  write_log(2);
  auto before = read_audit_log(path_);
  ASSERT_TRUE(before && before->size() == 2);
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  auto third = log->append(egress("m3"));
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(third->sequence, 3);
  EXPECT_EQ(third->previous_hash, before->back().hash);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditLogTest, VerifyAcceptsANewAndAFullLog) {
  write_log(0);
  VerifyReport empty = verify();
  EXPECT_TRUE(empty.ok) << empty.reason;
  EXPECT_EQ(empty.entries, 0);
  write_log(5);
  VerifyReport full = verify();
  EXPECT_TRUE(full.ok) << full.reason;
  EXPECT_EQ(full.entries, 5);
  EXPECT_TRUE(full.reason.empty());
}

TEST_F(AuditLogTest, DetectsAnEditedModel) {
  write_log(3);
  auto lines = read_lines(path_);
  replace_once(lines[1], "\"model\":\"m2\"", "\"model\":\"local\"");
  write_lines(path_, lines);
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.reason, "line 2: entry edited (hash mismatch)");
  EXPECT_EQ(report.bad_line, 2);
  EXPECT_EQ(report.bad_sequence, 2);
  auto log = AuditLog::open(path_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(log.error().message.find("line 2: entry edited"), std::string::npos) << log.error().message;
}

// tandem serve keeps its log open: an edit made while it runs stops its next egress, as it would
// stop a server starting now, even one that keeps the file's size.
TEST_F(AuditLogTest, AnOpenLogRefusesToAppendOnceItWasEditedBehindItsBack) {
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  for (const char* model : {"m1", "m2", "m3"}) ASSERT_TRUE(log->append(egress(model)));
  auto lines = read_lines(path_);
  replace_once(lines[1], "\"model\":\"m2\"", "\"model\":\"m9\"");
  write_lines(path_, lines);
  auto refused = log->append(egress("m4"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(refused.error().message.find("line 2: entry edited"), std::string::npos) << refused.error().message;
  EXPECT_EQ(read_lines(path_).size(), 3u) << "nothing is appended to a broken chain";
}

// A log moved aside, or replaced by another file, is not the chain this writer holds: it stops
// rather than write to a file no one reads or continue a chain it has not checked.
TEST_F(AuditLogTest, AnOpenLogRefusesToAppendOnceItsFileWasReplaced) {
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->append(egress("m1")));
  write_lines(path_ + ".new", read_lines(path_));
  std::filesystem::rename(path_ + ".new", path_);
  auto refused = log->append(egress("m2"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(refused.error().message.find("was replaced or removed"), std::string::npos) << refused.error().message;
  EXPECT_EQ(read_lines(path_).size(), 1u);
}

TEST_F(AuditLogTest, DetectsAnEditedCount) {
  write_log(3);
  auto lines = read_lines(path_);
  replace_once(lines[2], "\"person\":2", "\"person\":0");
  write_lines(path_, lines);
  EXPECT_EQ(verify().reason, "line 3: entry edited (hash mismatch)");
}

TEST_F(AuditLogTest, DetectsAnAddedField) {
  write_log(2);
  auto lines = read_lines(path_);
  replace_once(lines[0], "{", "{\"note\":\"ok\",");
  write_lines(path_, lines);
  EXPECT_EQ(verify().reason, "line 1: entry edited (hash mismatch)");
}

TEST_F(AuditLogTest, DetectsARemovedMiddleLine) {
  write_log(5);
  auto lines = read_lines(path_);
  lines.erase(lines.begin() + 2);
  write_lines(path_, lines);
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.reason, "line 3: sequence 4 where 3 expected (removed or reordered)");
  EXPECT_EQ(report.bad_line, 3);
  EXPECT_EQ(report.entries, 4);
}

TEST_F(AuditLogTest, DetectsSwappedLines) {
  write_log(4);
  auto lines = read_lines(path_);
  std::swap(lines[1], lines[2]);
  write_lines(path_, lines);
  EXPECT_EQ(verify().reason, "line 2: sequence 3 where 2 expected (removed or reordered)");
}

TEST_F(AuditLogTest, DetectsAReplacedEntryWithARecomputedHash) {
  write_log(3);
  auto lines = read_lines(path_);
  auto forged = nlohmann::json::parse(lines[1]);
  forged["model"] = "local";
  forged["previous_hash"] = std::string(64, 'f');
  forged.erase("hash");
  forged["hash"] = sha256_hex(std::string(64, 'f') + forged.dump());
  lines[1] = forged.dump();
  write_lines(path_, lines);
  EXPECT_EQ(verify().reason, "line 2: previous_hash does not match line 1 (an entry was replaced)");
}

TEST_F(AuditLogTest, DetectsARemovedLastLineThroughTheHead) {
  write_log(5);
  auto lines = read_lines(path_);
  lines.pop_back();
  write_lines(path_, lines);
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.reason, "log ends at sequence 4 but head says 5 (truncated)");
  EXPECT_EQ(report.bad_sequence, 5);
  EXPECT_EQ(report.bad_line, 0);
  auto log = AuditLog::open(path_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
}

TEST_F(AuditLogTest, DetectsAMissingHead) {
  write_log(2);
  std::filesystem::remove(path_ + ".head");
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.reason.find("head file is missing"), std::string::npos) << report.reason;
}

TEST_F(AuditLogTest, DetectsATornLastLine) {
  write_log(3);
  std::string bytes = read_bytes(path_);
  write_bytes(path_, bytes + bytes.substr(0, 40));  // the start of a fourth line, cut off
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.reason, "line 4: incomplete last line (no newline at the end): a write was cut off");
  EXPECT_EQ(report.entries, 3);
  auto log = AuditLog::open(path_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(log.error().message.find("incomplete last line"), std::string::npos);
  auto entries = read_audit_log(path_);
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().code, ErrorCode::kDataLoss);
}

TEST_F(AuditLogTest, MissingLogWithoutHeadIsNotFound) {
  auto report = verify_audit_log(path_);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
  auto entries = read_audit_log(path_);
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().code, ErrorCode::kNotFound);
}

TEST_F(AuditLogTest, DetectsARemovedLogWhoseHeadRemains) {
  write_log(2);
  std::filesystem::remove(path_);
  VerifyReport report = verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.reason, "the log is missing but its head says sequence 2 (removed)");
  auto log = AuditLog::open(path_);
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
  EXPECT_FALSE(std::filesystem::exists(path_)) << "open must not start a new log over a removed one";
}

TEST_F(AuditLogTest, AcceptsAHeadOneEntryBehindAndRepairsIt) {
  write_log(2);
  const std::string head_after_two = read_bytes(path_ + ".head");
  write_log(1);
  write_bytes(path_ + ".head", head_after_two);  // as if the process died between line and head
  VerifyReport report = verify();
  EXPECT_TRUE(report.ok) << report.reason;
  ASSERT_TRUE(AuditLog::open(path_));
  EXPECT_NE(read_bytes(path_ + ".head"), head_after_two);
  EXPECT_NE(read_bytes(path_ + ".head").find("\"sequence\":3"), std::string::npos);
}

TEST_F(AuditLogTest, RefusesMalformedEntriesAndLeavesTheLogAlone) {
  write_log(1);
  auto log = AuditLog::open(path_);
  ASSERT_TRUE(log);
  AuditEntry no_model = egress("");
  AuditEntry bad_hash = egress("m");
  bad_hash.sent_sha256 = "ABC";
  AuditEntry bad_utf8 = egress("m");
  bad_utf8.tenant = "\xff\xfe";
  for (const AuditEntry& entry : {no_model, bad_hash, bad_utf8}) {
    auto written = log->append(entry);
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(read_lines(path_).size(), 1u);
  EXPECT_TRUE(verify().ok);
}

TEST_F(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  auto opened = AuditLog::open(path_);
  ASSERT_TRUE(opened);
  auto log = std::make_shared<AuditLog>(std::move(*opened));  // shared as the pipeline shares it
  constexpr int kThreads = 4;
  constexpr int kEach = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) EXPECT_TRUE(log->append(egress("m" + std::to_string(t))));
    });
  }
  for (auto& thread : threads) thread.join();
  auto entries = read_audit_log(path_);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < entries->size(); ++i) EXPECT_EQ((*entries)[i].sequence, static_cast<int64_t>(i + 1));
  VerifyReport report = verify();
  EXPECT_TRUE(report.ok) << report.reason;
}

TEST_F(AuditLogTest, TwoWritersOnOneFileFollowEachOther) {
  // Two opens stand for two processes: each must pick up the other's entries before appending.
  auto first = AuditLog::open(path_);
  auto second = AuditLog::open(path_);
  ASSERT_TRUE(first && second);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(first->append(egress("a")));
    ASSERT_TRUE(second->append(egress("b")));
  }
  VerifyReport report = verify();
  EXPECT_TRUE(report.ok) << report.reason;
  EXPECT_EQ(report.entries, 6);
}

Key audit_key() {
  Key key{};
  EXPECT_TRUE(random_bytes(key).ok());
  return key;
}

TEST(SealedAuditLogTest, EntriesAndHeadAreSealedAndReadBackWithTheKey) {
  tandem::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const Key key = audit_key();
  {
    auto log = AuditLog::open(path, key);
    ASSERT_TRUE(log) << log.error().message;
    ASSERT_TRUE(log->append(egress("model-canary-7q")));
    ASSERT_TRUE(log->append(egress("gpt-4o-mini")));
    auto all = log->read_all();
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_EQ(all->size(), 2U);
  }
  for (const auto& file : {path, path + ".head"}) {
    const std::string bytes = read_bytes(file);
    EXPECT_EQ(bytes.find("model-canary-7q"), std::string::npos) << file;
    EXPECT_EQ(bytes.find("sequence"), std::string::npos) << file;
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".length")) << "the head already guards the tail";
  auto report = verify_audit_log(path, key);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->entries, 2);
  auto entries = read_audit_log(path, key);
  ASSERT_TRUE(entries);
  EXPECT_EQ((*entries)[0].model, "model-canary-7q");
  auto reopened = AuditLog::open(path, key);  // resumes the chain
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ(reopened->append(egress("third"))->sequence, 3);
  auto clear_reader = read_audit_log(path);
  ASSERT_FALSE(clear_reader);
  EXPECT_NE(clear_reader.error().message.find("is encrypted"), std::string::npos);
}

TEST(SealedAuditLogTest, AnyFlippedByteOfTheLogOrItsHeadIsFoundAndNamed) {
  tandem::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const Key key = audit_key();
  {
    auto log = AuditLog::open(path, key);
    ASSERT_TRUE(log);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(log->append(egress("m" + std::to_string(i))));
  }
  for (const auto& file : {path, path + ".head"}) {
    const std::string good = read_bytes(file);
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ 0x04);
      write_bytes(file, bad);
      auto report = verify_audit_log(path, key);
      ASSERT_TRUE(report) << report.error().message;
      EXPECT_FALSE(report->ok) << file << " byte " << i;
      auto log = AuditLog::open(path, key);
      ASSERT_FALSE(log) << file << " byte " << i;
      EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
      EXPECT_NE(log.error().message.find(path), std::string::npos) << log.error().message;
    }
    write_bytes(file, good);
  }
  auto intact = verify_audit_log(path, key);
  ASSERT_TRUE(intact);
  EXPECT_TRUE(intact->ok) << intact->reason;
}

TEST(SealedAuditLogTest, AnOpenSealedLogRefusesToAppendAfterAByteOfAnEarlierEntryFlipped) {
  tandem::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const Key key = audit_key();
  auto log = AuditLog::open(path, key);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->append(egress("m1")));
  const size_t first_end = read_bytes(path).size();
  ASSERT_TRUE(log->append(egress("m2")));
  std::string bytes = read_bytes(path);
  bytes[first_end - 1] = static_cast<char>(bytes[first_end - 1] ^ 0x04);  // inside the first entry
  write_bytes(path, bytes);
  auto refused = log->append(egress("m3"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss) << refused.error().message;
  EXPECT_EQ(read_bytes(path), bytes) << "nothing appended";
}

TEST(SealedAuditLogTest, AClearLogFromAnEarlierVersionIsSealedWithItsChainIntact) {
  tandem::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  {
    auto log = AuditLog::open(path);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(egress("clear-model")));
  }
  const Key key = audit_key();
  auto log = AuditLog::open(path, key);
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_TRUE(log->append(egress("sealed-model")));
  EXPECT_EQ(read_bytes(path).find("clear-model"), std::string::npos);
  EXPECT_EQ(read_bytes(path + ".head").find("sequence"), std::string::npos);
  auto report = verify_audit_log(path, key);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok) << report->reason;
  EXPECT_EQ(report->entries, 2);
}

TEST(SealedAuditLogTest, ATornSealedEntryIsReportedAsAnIncompleteLastLine) {
  tandem::testing::TempDir dir;
  const std::string path = dir.file("audit.log");
  const Key key = audit_key();
  {
    auto log = AuditLog::open(path, key);
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(egress("a")));
    ASSERT_TRUE(log->append(egress("b")));
  }
  const std::string good = read_bytes(path);
  write_bytes(path, good.substr(0, good.size() - 7));
  auto report = verify_audit_log(path, key);
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->reason, "line 2: incomplete last line (no newline at the end): a write was cut off");
}

}  // namespace
}  // namespace tandem::privacy
