#include "privacy/pii_eval.h"

#include <gtest/gtest.h>

#include <fstream>

#include "privacy/pii_scanner.h"
#include "support/test_support.h"

namespace tandem::privacy {
namespace {

using tandem::testing::TempDir;

// Four items: index 0 is the test split, 1..3 dev. Positions are code points ("Dávila" has a
// two-byte character before the labelled e-mail).
constexpr const char* kDataset = R"([
  {"full_text": "Dávila wrote to a@b.io", "spans": [
     {"entity_type": "PERSON", "entity_value": "Dávila", "start_position": 0, "end_position": 6},
     {"entity_type": "EMAIL_ADDRESS", "entity_value": "a@b.io", "start_position": 16, "end_position": 22}]},
  {"full_text": "Dr. Jane Roe", "spans": [
     {"entity_type": "PREFIX", "entity_value": "Dr.", "start_position": 0, "end_position": 3},
     {"entity_type": "PERSON", "entity_value": "Jane Roe", "start_position": 4, "end_position": 12}]},
  {"full_text": "nothing here", "spans": []},
  {"full_text": "Call 212-555-0100 now", "spans": [
     {"entity_type": "PHONE_NUMBER", "entity_value": "212-555-0100", "start_position": 5, "end_position": 17}]}
])";

class PiiEvalTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(path_) << kDataset; }
  TempDir dir_;
  std::string path_ = dir_.file("set.json");
};

TEST_F(PiiEvalTest, LoadsSplitsAndConvertsCodePointsToBytes) {
  auto test = load_presidio_dataset(path_, EvalSplit::kTest);
  ASSERT_TRUE(test) << test.error().message;
  ASSERT_EQ(test->texts.size(), 1U);
  const auto& item = test->texts[0];
  ASSERT_EQ(item.labels.size(), 2U);
  EXPECT_EQ(item.text.substr(item.labels[0].begin, item.labels[0].end - item.labels[0].begin), "Dávila");
  EXPECT_EQ(item.text.substr(item.labels[1].begin, item.labels[1].end - item.labels[1].begin), "a@b.io");

  auto dev = load_presidio_dataset(path_, EvalSplit::kDev);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->texts.size(), 3U);
  EXPECT_EQ(dev->unmapped_labels.at("PREFIX"), 1);
  auto all = load_presidio_dataset(path_, EvalSplit::kAll);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->texts.size(), 4U);
}

TEST_F(PiiEvalTest, ScoresOverlapMatchesPerTypeAndIgnoresUnmappedLabels) {
  auto dev = load_presidio_dataset(path_, EvalSplit::kDev);
  ASSERT_TRUE(dev);
  // "Dr. Jane Roe" detected whole (IoU 8/12 >= 0.5: correct), the PREFIX label's overlap counts
  // neither way, "nothing" is a false person, and the phone is missed.
  auto detect = [](std::string_view text) -> std::vector<Entity> {
    if (text == "Dr. Jane Roe") return {{EntityType::kPerson, 0, 12, 0.8}};
    if (text == "nothing here") return {{EntityType::kPerson, 0, 7, 0.5}};
    return {};
  };
  const auto scores = evaluate_pii(*dev, detect);
  EXPECT_EQ(scores.texts, 3);
  const auto& person = scores.by_type.at(EntityType::kPerson);
  EXPECT_EQ(person.true_positives, 1);
  EXPECT_EQ(person.false_positives, 1);
  EXPECT_EQ(person.false_negatives, 0);
  EXPECT_EQ(scores.by_type.at(EntityType::kPhone).false_negatives, 1);
  EXPECT_DOUBLE_EQ(scores.overall.precision(), 0.5);
  EXPECT_DOUBLE_EQ(scores.overall.recall(), 0.5);
  EXPECT_DOUBLE_EQ(scores.overall.f2(), 0.5);

  const auto exact = evaluate_pii(*dev, detect, MatchRule::kExact);
  EXPECT_EQ(exact.by_type.at(EntityType::kPerson).true_positives, 0);

  // Per word: "Jane" and "Roe" right, "Dr" under the PREFIX label left out, "nothing" a false
  // person, and the phone's three digit runs missed.
  const auto tokens = evaluate_pii(*dev, detect, MatchRule::kToken);
  EXPECT_EQ(tokens.by_type.at(EntityType::kPerson).true_positives, 2);
  EXPECT_EQ(tokens.by_type.at(EntityType::kPerson).false_positives, 1);
  EXPECT_EQ(tokens.by_type.at(EntityType::kPhone).false_negatives, 3);
}

TEST_F(PiiEvalTest, MalformedFilesAreRefusedWithTheReason) {
  const std::string bad = dir_.file("bad.json");
  std::ofstream(bad)
      << R"([{"full_text": "abc", "spans": [{"entity_type": "PERSON", "start_position": 1, "end_position": 9}]}])";
  auto out_of_range = load_presidio_dataset(bad, EvalSplit::kAll);
  ASSERT_FALSE(out_of_range);
  EXPECT_NE(out_of_range.error().message.find("outside its text"), std::string::npos);
  std::ofstream(bad, std::ios::trunc) << "{not json";
  EXPECT_EQ(load_presidio_dataset(bad, EvalSplit::kAll).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(load_presidio_dataset(dir_.file("missing.json"), EvalSplit::kAll).error().code, ErrorCode::kNotFound);
}

// The generated set of checksum types (scripts/generate_pii_checksum_set.py): every valid value
// is found and no look-alike with a wrong checksum or birth date is, in English and Chinese text.
TEST(ChecksumTypesTest, RecallIsOneWithNoFalsePositives) {
  auto data = load_presidio_dataset(std::string(TANDEM_SOURCE_DIR) + "/tests/privacy/data/checksum_types.json",
                                    EvalSplit::kAll);
  ASSERT_TRUE(data) << data.error().message;
  ASSERT_EQ(data->texts.size(), 480U);
  EXPECT_TRUE(data->unmapped_labels.empty());
  const PiiScanner scanner(nullptr);
  const auto scores = evaluate_pii(
      *data, [&](std::string_view text) { return scanner.scan(text); }, MatchRule::kExact);
  for (auto type : {EntityType::kCnResidentId, EntityType::kCnCreditCode, EntityType::kBankCard, EntityType::kIban}) {
    const auto& counts = scores.by_type.at(type);
    EXPECT_EQ(counts.true_positives, 60) << entity_type_name(type);
    EXPECT_EQ(counts.false_negatives, 0) << entity_type_name(type);
    EXPECT_EQ(counts.false_positives, 0) << entity_type_name(type);
  }
  EXPECT_EQ(scores.overall.false_positives, 0);
}

}  // namespace
}  // namespace tandem::privacy
