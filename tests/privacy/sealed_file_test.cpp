#include "privacy/sealed_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/test_support.h"

namespace tandem::privacy {
namespace {

using tandem::testing::TempDir;

Key fresh_key() {
  Key key{};
  EXPECT_TRUE(random_bytes(key).ok());
  return key;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string pattern(std::size_t size) {
  std::string text;
  for (std::size_t i = 0; text.size() < size; ++i) text += "secret line " + std::to_string(i) + "\n";
  text.resize(size);
  return text;
}

void expect_damage_named(const Result<std::string>& read, const std::string& path) {
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(read.error().message.find(path), std::string::npos) << read.error().message;
}

TEST(SealedFileTest, RoundTripsEverySizeAroundTheSegmentBoundary) {
  TempDir dir;
  const Key key = fresh_key();
  for (std::size_t size :
       {std::size_t{0}, std::size_t{1}, std::size_t{kSealedSegmentBytes} - 1, std::size_t{kSealedSegmentBytes},
        std::size_t{kSealedSegmentBytes} + 1, std::size_t{3} * kSealedSegmentBytes + 17}) {
    const std::string path = dir.file("f" + std::to_string(size));
    const std::string content = pattern(size);
    ASSERT_TRUE(write_sealed_file(path, key, content).ok());
    const std::string on_disk = slurp(path);
    const std::size_t segments = size / kSealedSegmentBytes + 1 - (size > 0 && size % kSealedSegmentBytes == 0);
    EXPECT_EQ(on_disk.size(), kSealedHeaderBytes + size + segments * kTagBytes) << size;
    if (size > 20) {
      EXPECT_EQ(on_disk.find(content.substr(0, 20)), std::string::npos) << "clear text on disk";
    }
    auto read = read_sealed_file(path, key);
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(*read, content) << size;
    EXPECT_EQ(is_sealed_file(path).value(), true);
  }
}

TEST(SealedFileTest, EqualContentNeverGivesEqualBytes) {
  TempDir dir;
  const Key key = fresh_key();
  ASSERT_TRUE(write_sealed_file(dir.file("a"), key, "same words").ok());
  ASSERT_TRUE(write_sealed_file(dir.file("b"), key, "same words").ok());
  EXPECT_NE(slurp(dir.file("a")), slurp(dir.file("b")));  // fresh salt and nonce prefix per file
}

TEST(SealedFileTest, EveryFlippedByteIsReportedNamingTheFile) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("small.bin");
  ASSERT_TRUE(write_sealed_file(path, key, pattern(300)).ok());
  const std::string good = slurp(path);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    spit(path, bad);
    expect_damage_named(read_sealed_file(path, key), path);
  }
}

TEST(SealedFileTest, TruncationReorderingAndAWrongKeyAreReported) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("big.bin");
  ASSERT_TRUE(write_sealed_file(path, key, pattern(3 * kSealedSegmentBytes + 100)).ok());
  const std::string good = slurp(path);
  const std::size_t sealed_segment = kSealedSegmentBytes + kTagBytes;

  spit(path, good.substr(0, kSealedHeaderBytes + 2 * sealed_segment));  // cut at a segment boundary
  expect_damage_named(read_sealed_file(path, key), path);
  spit(path, good.substr(0, good.size() - 1));
  expect_damage_named(read_sealed_file(path, key), path);
  spit(path, good.substr(0, kSealedHeaderBytes));
  expect_damage_named(read_sealed_file(path, key), path);

  std::string swapped = good;  // segments 0 and 1 exchanged
  std::copy_n(good.begin() + kSealedHeaderBytes + sealed_segment, sealed_segment, swapped.begin() + kSealedHeaderBytes);
  std::copy_n(good.begin() + kSealedHeaderBytes, sealed_segment, swapped.begin() + kSealedHeaderBytes + sealed_segment);
  spit(path, swapped);
  expect_damage_named(read_sealed_file(path, key), path);

  spit(path, good);
  auto wrong = read_sealed_file(path, fresh_key());
  expect_damage_named(wrong, path);
  EXPECT_NE(wrong.error().message.find("sealed with data key " + key_id_hex(key)), std::string::npos)
      << wrong.error().message;
  EXPECT_TRUE(read_sealed_file(path, key).ok());
  EXPECT_EQ(read_sealed_file(dir.file("missing"), key).error().code, ErrorCode::kNotFound);
}

TEST(SealedFileTest, AWriterThatIsNotCommittedLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("index");
  ASSERT_TRUE(write_sealed_file(path, key, "old").ok());
  {
    auto writer = SealedFileWriter::create(path, key);
    ASSERT_TRUE(writer.ok());
    const std::string more = pattern(2 * kSealedSegmentBytes);
    ASSERT_TRUE(writer->write({reinterpret_cast<const uint8_t*>(more.data()), more.size()}).ok());
  }
  EXPECT_EQ(read_sealed_file(path, key).value(), "old");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(SealedFileTest, ASegmentAtATimeKeepsReadingMemoryBounded) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("stream");
  const std::string content = pattern(5 * kSealedSegmentBytes + 3);
  ASSERT_TRUE(write_sealed_file(path, key, content).ok());
  auto reader = SealedFileReader::open(path, key);
  ASSERT_TRUE(reader.ok());
  std::string joined;
  while (!reader->done()) {
    auto segment = reader->next();
    ASSERT_TRUE(segment.ok()) << segment.error().message;
    EXPECT_LE(segment->size(), kSealedSegmentBytes);
    joined.append(reinterpret_cast<const char*>(segment->data()), segment->size());
  }
  EXPECT_EQ(joined, content);
}

TEST(RecordLogTest, SealedRecordsReadBackInOrderAcrossReopens) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("sub/usage.log");
  {
    auto log = RecordLog::open(path, key);
    ASSERT_TRUE(log.ok()) << log.error().message;
    ASSERT_TRUE((*log)->append(R"({"n":1,"secret":"canary-1234"})").ok());
    ASSERT_TRUE((*log)->append("").ok());
  }
  auto log = RecordLog::open(path, key);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->append("third\nwith a newline").ok());
  EXPECT_EQ(slurp(path).find("canary-1234"), std::string::npos);
  auto all = read_records(path, key);
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_FALSE(all->torn_tail);
  EXPECT_EQ(all->records, (std::vector<std::string>{R"({"n":1,"secret":"canary-1234"})", "", "third\nwith a newline"}));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(RecordLogTest, EachWriterSeesWhatTheOtherAppended) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("audit.log");
  auto first = RecordLog::open(path, key);
  auto second = RecordLog::open(path, key);
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE((*first)->append("a").ok());
  {
    auto session = (*second)->lock();
    ASSERT_TRUE(session.ok());
    auto seen = session->read_new();
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(seen->records, std::vector<std::string>{"a"});
    ASSERT_TRUE(session->append("b").ok());
  }
  {
    auto session = (*first)->lock();
    ASSERT_TRUE(session.ok());
    EXPECT_EQ(session->read_new().value().records, std::vector<std::string>{"b"});
    ASSERT_TRUE(session->append("c").ok());
  }
  EXPECT_EQ(read_records(path, key).value().records, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(RecordLogTest, EveryFlippedByteIsReportedAndATornTailIsNeitherDroppedNorBuried) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("learned.log");
  std::string length_before_last;  // what a crash in the middle of the last append leaves
  {
    auto log = RecordLog::open(path, key);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 3; ++i) {
      if (i == 2) length_before_last = slurp(path + ".length");
      ASSERT_TRUE((*log)->append("record " + std::to_string(i)).ok());
    }
  }
  const std::string good = slurp(path);
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x80);
    spit(path, bad);
    auto read = read_records(path, key);
    if (read.ok()) {
      // A flipped high bit of a length can only make the last record look longer than the file.
      EXPECT_TRUE(read->torn_tail) << "byte " << i;
      EXPECT_LT(read->records.size(), 3U);
      continue;
    }
    EXPECT_EQ(read.error().code, ErrorCode::kDataLoss) << "byte " << i;
    EXPECT_NE(read.error().message.find(path), std::string::npos) << read.error().message;
  }
  spit(path, good.substr(0, good.size() - 5));  // a crash in the middle of the last append
  spit(path + ".length", length_before_last);
  auto torn = read_records(path, key);
  ASSERT_TRUE(torn.ok()) << torn.error().message;
  EXPECT_TRUE(torn->torn_tail);
  EXPECT_EQ(torn->records.size(), 2U);
  auto log = RecordLog::open(path, key);
  ASSERT_TRUE(log.ok());
  auto appended = (*log)->append("after the crash");
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(appended.error().message.find("record 3"), std::string::npos) << appended.error().message;
  EXPECT_EQ(slurp(path).size(), good.size() - 5);
}

// Whole records removed from the end still authenticate; the sealed length file gives them away.
TEST(RecordLogTest, RecordsRemovedFromTheEndAreReportedAndNothingIsAppendedOverThem) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("usage.log");
  std::vector<std::string> after;  // the log's bytes after each append
  {
    auto log = RecordLog::open(path, key);
    ASSERT_TRUE(log.ok());
    after.push_back(slurp(path));
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*log)->append("record " + std::to_string(i)).ok());
      after.push_back(slurp(path));
    }
  }
  ASSERT_EQ(read_records(path, key).value().records.size(), 3U);
  for (std::size_t kept : {0, 1, 2}) {
    spit(path, after[kept]);
    auto read = read_records(path, key);
    ASSERT_FALSE(read.ok()) << kept << " records kept";
    EXPECT_EQ(read.error().code, ErrorCode::kDataLoss);
    EXPECT_NE(read.error().message.find(fmt::format("it holds {} records but {}.length says 3", kept, path)),
              std::string::npos)
        << read.error().message;
    auto log = RecordLog::open(path, key);
    ASSERT_TRUE(log.ok());
    EXPECT_EQ((*log)->append("over the gap").error().code, ErrorCode::kDataLoss);
    EXPECT_EQ(slurp(path), after[kept]);
  }
  std::filesystem::remove(path);
  auto removed = read_records(path, key);
  ASSERT_FALSE(removed.ok());
  EXPECT_EQ(removed.error().code, ErrorCode::kDataLoss) << removed.error().message;

  spit(path, after[3]);
  const std::string length = slurp(path + ".length");
  std::filesystem::remove(path + ".length");
  auto unguarded = read_records(path, key);
  ASSERT_FALSE(unguarded.ok());
  EXPECT_NE(unguarded.error().message.find("is missing (removed)"), std::string::npos) << unguarded.error().message;

  // Another log's length file, even one with a smaller count, is not taken for this log's.
  const std::string other = dir.file("other.log");
  ASSERT_TRUE((*RecordLog::open(other, key))->append("one").ok());
  spit(path + ".length", slurp(other + ".length"));
  auto swapped = read_records(path, key);
  ASSERT_FALSE(swapped.ok());
  EXPECT_NE(swapped.error().message.find("belongs to another log"), std::string::npos) << swapped.error().message;
  spit(path + ".length", length);
  EXPECT_EQ(read_records(path, key).value().records.size(), 3U);
}

// A crash after an append but before its length was sealed leaves the log one record ahead.
TEST(RecordLogTest, ALogAheadOfItsLengthIsAcceptedAndTheNextAppendSealsItsLength) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("usage.log");
  auto log = RecordLog::open(path, key);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->append("a").ok());
  const std::string length_after_one = slurp(path + ".length");
  ASSERT_TRUE((*log)->append("b").ok());
  spit(path + ".length", length_after_one);
  EXPECT_EQ(read_records(path, key).value().records, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE((*log)->append("c").ok());
  const std::string three = slurp(path);
  spit(path, three.substr(0, three.size() - (4 + 1 + kTagBytes)));  // "c" removed
  EXPECT_EQ(read_records(path, key).error().code, ErrorCode::kDataLoss);
}

// Logs sealed before length files existed (as the audit log still is) gain one when a writer that
// asks for it opens them; readers rewrite nothing.
TEST(RecordLogTest, ASealedLogWithoutALengthFileGainsOneWhenAWriterOpensIt) {
  TempDir dir;
  const Key key = fresh_key();
  const std::string path = dir.file("learned.log");
  {
    auto old = RecordLog::open(path, key, RecordLog::TailGuard::kNone);
    ASSERT_TRUE(old.ok());
    ASSERT_TRUE((*old)->append("first").ok());
    ASSERT_TRUE((*old)->append("second").ok());
  }
  const std::string old_bytes = slurp(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".length"));
  EXPECT_EQ(read_records(path, key).value().records, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(slurp(path), old_bytes) << "a reader rewrote the log";
  {
    auto writer = RecordLog::open(path, key);
    ASSERT_TRUE(writer.ok()) << writer.error().message;
    ASSERT_TRUE((*writer)->append("third").ok());
  }
  EXPECT_NE(slurp(path), old_bytes);
  EXPECT_EQ(read_records(path, key).value().records, (std::vector<std::string>{"first", "second", "third"}));
  const std::string three = slurp(path);
  spit(path, three.substr(0, three.size() - (4 + 5 + kTagBytes)));
  EXPECT_EQ(read_records(path, key).error().code, ErrorCode::kDataLoss);
}

TEST(RecordLogTest, ClearLogsAreJsonLinesAndAreEncryptedInPlaceWhenAKeyArrives) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  {
    auto clear = RecordLog::open(path, std::nullopt);
    ASSERT_TRUE(clear.ok());
    ASSERT_TRUE((*clear)->append(R"({"tenant":"acme"})").ok());
    EXPECT_EQ((*clear)->append("two\nlines").error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(slurp(path), "{\"tenant\":\"acme\"}\n");
  const Key key = fresh_key();
  auto sealed = RecordLog::open(path, key);
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  ASSERT_TRUE((*sealed)->append("second").ok());
  EXPECT_EQ(slurp(path).find("acme"), std::string::npos);
  EXPECT_EQ(read_records(path, key).value().records, (std::vector<std::string>{R"({"tenant":"acme"})", "second"}));
  auto refused = RecordLog::open(path, std::nullopt);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("is encrypted"), std::string::npos);
}

}  // namespace
}  // namespace tandem::privacy
