#include "privacy/token_tagger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "privacy/name_detector.h"
#include "privacy/pii_eval.h"
#include "privacy/pii_scanner.h"
#include "support/test_support.h"

namespace tandem::privacy {
namespace {

using T = EntityType;
using tandem::testing::TempDir;

constexpr std::string_view kGazetteer =
    "first_name\tSusan\nfirst_name\tJames\nfirst_name\tDonald\nfirst_name\tJoshua\nfirst_name\tGeorgina\n"
    "first_name\tRoberto\nfirst_name\tAlena\nfirst_name\tPeter\nfirst_name\tClara\nfirst_name\tIngrid\n"
    "last_name\tLyons\nlast_name\tKoumura\nlast_name\tVoet\nlast_name\tFord\nlast_name\tYamamura\n"
    "last_name\tGraham\nlast_name\tOchoa\nlast_name\tKovac\nlast_name\tBrandt\nlast_name\tMorel\n"
    "city\tBauru\ncity\tCalgary\ncity\tOslo\ncity\tLyon\ncity\tPorto\ncity\tKiel\ncity\tTartu\n"
    "street_suffix\tStreet\nstreet_suffix\tRoad\ncompany_suffix\tLtd\n"
    "zh_surname\t王\nzh_given_name\t小明\nzh_city\t北京\n";

// A text built from pieces, each labelled with a type or not.
struct Piece {
  std::string text;
  std::optional<EntityType> type;
};

LabelledText labelled(const std::vector<Piece>& pieces) {
  LabelledText item;
  for (const Piece& p : pieces) {
    if (p.type) item.labels.push_back({*p.type, item.text.size(), item.text.size() + p.text.size(), 1.0});
    item.text += p.text;
  }
  return item;
}

struct Found {
  EntityType type;
  std::string text;
  bool operator==(const Found&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Found& f) {
  return os << entity_type_name(f.type) << ":'" << f.text << "'";
}

const std::vector<std::string> kFirst = {"Susan",   "James", "Donald", "Joshua", "Georgina",
                                         "Roberto", "Alena", "Peter",  "Clara",  "Ingrid"};
const std::vector<std::string> kLast = {"Lyons",  "Koumura", "Voet",  "Ford",   "Yamamura",
                                        "Graham", "Ochoa",   "Kovac", "Brandt", "Morel"};
const std::vector<std::string> kCity = {"Bauru", "Calgary", "Oslo", "Lyon", "Porto", "Kiel", "Tartu"};
const std::vector<std::string> kStreet = {"Halsey", "Maple", "Cedar", "Birch", "Juniper", "Alder", "Rowan"};
const std::vector<std::string> kCompany = {"Cantrell", "Brightwater", "Norvik", "Altamont", "Pellham", "Quorra"};

// The value for sentence k: training sentences draw from all but the last two of a list, the
// checks from the last two, so the checks hold names and places the tagger has never seen.
const std::string& value(const std::vector<std::string>& list, size_t k, bool held_out) {
  return held_out ? list[list.size() - 2 + k % 2] : list[k % (list.size() - 2)];
}

// Sentences from four templates.
std::vector<LabelledText> sentences(size_t count, bool held_out) {
  std::vector<LabelledText> texts;
  for (size_t k = 0; k < count; ++k) {
    const std::string& first = value(kFirst, k, held_out);
    const std::string& last = value(kLast, k * 3, held_out);
    const std::string& city = value(kCity, k + 1, held_out);
    const std::string& street = value(kStreet, k * 5, held_out);
    const std::string& company = value(kCompany, k, held_out);
    const std::string number = std::to_string(10 + (k * 37 + (held_out ? 5 : 0)) % 90);
    texts.push_back(labelled({{"My name is ", {}},
                              {first + " " + last, T::kPerson},
                              {" and I live in ", {}},
                              {city, T::kLocation},
                              {".", {}}}));
    texts.push_back(labelled({{"Please send it to ", {}},
                              {number + " " + street + " Street", T::kAddress},
                              {", ", {}},
                              {city, T::kLocation},
                              {" today.", {}}}));
    texts.push_back(labelled({{first, T::kPerson},
                              {" works at ", {}},
                              {company + " Ltd", T::kOrganization},
                              {" in ", {}},
                              {city, T::kLocation},
                              {".", {}}}));
    // The house number and the street as two labels, as Presidio's generator writes some addresses.
    texts.push_back(labelled({{"Address: ", {}},
                              {"0" + std::to_string(k % 9 + 1), T::kAddress},
                              {" ", {}},
                              {number + " " + street + " Road", T::kAddress}}));
  }
  return texts;
}

class TokenTaggerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto parsed = Gazetteer::parse(kGazetteer);
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    gazetteer_ = new std::shared_ptr<const Gazetteer>(std::make_shared<const Gazetteer>(std::move(*parsed)));
    rules_ = new NameDetector(*gazetteer_);
    tagger_ = new TokenTagger(TokenTagger::train(sentences(24, false), hints, *gazetteer_, {.epochs = 10}));
  }
  static void TearDownTestSuite() {
    delete tagger_;
    delete rules_;
    delete gazetteer_;
  }
  static std::vector<Entity> hints(std::string_view text) { return rules_->detect(text); }

  static std::vector<Found> found(const TokenTagger& tagger, std::string_view text) {
    std::vector<Found> out;
    for (const Entity& e : tagger.tag(text, hints(text)))
      out.push_back({e.type, std::string(text.substr(e.begin, e.end - e.begin))});
    return out;
  }

  static std::shared_ptr<const Gazetteer>* gazetteer_;
  static NameDetector* rules_;
  static TokenTagger* tagger_;
};

std::shared_ptr<const Gazetteer>* TokenTaggerTest::gazetteer_ = nullptr;
NameDetector* TokenTaggerTest::rules_ = nullptr;
TokenTagger* TokenTaggerTest::tagger_ = nullptr;

TEST_F(TokenTaggerTest, LearnsTheTemplatesAndTagsValuesItWasNotTrainedOn) {
  ASSERT_GT(tagger_->feature_count(), 0U);
  const LabelledSet check{.texts = sentences(4, true), .unmapped_labels = {}};
  int64_t labels = 0;
  for (const LabelledText& item : check.texts) labels += static_cast<int64_t>(item.labels.size());
  const auto scores = evaluate_pii(
      check, [&](std::string_view text) { return tagger_->tag(text, hints(text)); }, MatchRule::kExact);
  EXPECT_EQ(scores.overall.true_positives, labels);
  EXPECT_EQ(scores.overall.false_positives, 0);
}

TEST_F(TokenTaggerTest, DecodesAdjacentSpansOfOneTypeAsTwo) {
  EXPECT_EQ(found(*tagger_, "Address: 04 83 Rowan Road"),
            (std::vector<Found>{{T::kAddress, "04"}, {T::kAddress, "83 Rowan Road"}}));
  EXPECT_EQ(found(*tagger_, "My name is Clara Brandt and I live in Tartu."),
            (std::vector<Found>{{T::kPerson, "Clara Brandt"}, {T::kLocation, "Tartu"}}));
}

TEST_F(TokenTaggerTest, NeverTagsHanCharacters) {
  // Even right after a context it learnt ("I live in"), Chinese stays with the rules.
  for (const Found& f : found(*tagger_, "My name is 王小明 and I live in 北京."))
    EXPECT_EQ(f.text.find_first_of("\xe4\xe5\xe6\xe7\xe8\xe9"), std::string::npos) << f;
  EXPECT_TRUE(found(*tagger_, "王小明住在北京。").empty());
}

TEST_F(TokenTaggerTest, SavesAndLoadsTheSameModel) {
  const TempDir dir;
  const std::string path = dir.file("tagger.bin");
  ASSERT_TRUE(tagger_->save(path).ok());
  auto loaded = TokenTagger::load(path, *gazetteer_);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  EXPECT_EQ(loaded->feature_count(), tagger_->feature_count());
  // Weights are stored as int16: the same decisions, and the same bytes when saved again.
  EXPECT_EQ(loaded->serialize(), tagger_->serialize());
  for (const LabelledText& item : sentences(2, true)) EXPECT_EQ(found(*loaded, item.text), found(*tagger_, item.text));
}

TEST_F(TokenTaggerTest, RefusesMissingForeignTruncatedAndDamagedFiles) {
  const TempDir dir;
  auto missing = TokenTagger::load(dir.file("none.bin"), *gazetteer_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  const std::string bytes = tagger_->serialize();
  const auto refused = [&](const std::string& content, std::string_view reason) {
    const std::string path = dir.file("bad.bin");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    auto result = TokenTagger::load(path, *gazetteer_);
    ASSERT_FALSE(result.ok()) << reason;
    EXPECT_EQ(result.error().code, ErrorCode::kDataLoss) << reason;
    EXPECT_NE(result.error().message.find(path), std::string::npos) << result.error().message;
    EXPECT_NE(result.error().message.find(reason), std::string::npos) << result.error().message;
  };
  refused("first_name\tSusan\n", "not a PII tagger file");
  refused("", "not a PII tagger file");
  refused(bytes.substr(0, bytes.size() - 7), "checksum mismatch");
  std::string damaged = bytes;
  damaged[damaged.size() / 2] ^= 0x40;
  refused(damaged, "checksum mismatch");
  std::string header_only = bytes.substr(0, bytes.find("\n\n"));
  refused(header_only, "header without an end");
}

// The shipped weights (data/pii/pii-tagger.bin, trained by `tandem pii train` on the dev split)
// with the gazetteer scripts/setup.sh builds: English names, places and addresses in sentences
// unlike Presidio's, and Chinese found exactly as by the rules alone.
class ShippedTokenTaggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gazetteer = Gazetteer::load(tandem::testing::gazetteer_path());
    ASSERT_TRUE(gazetteer.ok()) << gazetteer.error().to_string() << " (scripts/setup.sh builds it)";
    shared_ = std::make_shared<const Gazetteer>(std::move(*gazetteer));
    auto tagger = TokenTagger::load(std::string(TANDEM_SOURCE_DIR) + "/data/pii/pii-tagger.bin", shared_);
    ASSERT_TRUE(tagger.ok()) << tagger.error().to_string();
    scanner_ = std::make_unique<const PiiScanner>(shared_, std::make_shared<const TokenTagger>(std::move(*tagger)));
    ASSERT_TRUE(scanner_->uses_tagger());
  }
  std::vector<Found> scan(const std::string& text) const {
    std::vector<Found> got;
    for (const Entity& e : scanner_->scan(text)) got.push_back({e.type, text.substr(e.begin, e.end - e.begin)});
    return got;
  }

  std::shared_ptr<const Gazetteer> shared_;
  std::unique_ptr<const PiiScanner> scanner_;
};

TEST_F(ShippedTokenTaggerTest, FindsEnglishEntitiesAndLeavesChineseToTheRules) {
  const PiiScanner& with_tagger = *scanner_;
  const PiiScanner rules_alone(shared_);

  const std::vector<Found> got =
      scan("Hi, this is Maria Gonzalez. Please ship the order to 4521 Oak Street, Springfield.");
  EXPECT_NE(std::find(got.begin(), got.end(), Found{T::kPerson, "Maria Gonzalez"}), got.end())
      << ::testing::PrintToString(got);
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const Found& f) {
    return f.type == T::kAddress && f.text.starts_with("4521 Oak Street");
  })) << ::testing::PrintToString(got);

  // After a Chinese full stop, a capitalised greeting starts a sentence; it is not a name.
  const std::vector<Found> mixed_found = scan("请把发票寄给王小明先生。Hello, my colleague Daniel Okafor will call.");
  EXPECT_EQ(mixed_found, (std::vector<Found>{{T::kPerson, "王小明"}, {T::kPerson, "Daniel Okafor"}}))
      << ::testing::PrintToString(mixed_found);

  for (const std::string chinese :
       {"你好，我是张伟，住在北京市朝阳区建国路88号。", "请把发票寄给王小明先生，他在腾讯科技有限公司工作。",
        "身份证号11010519491231002X，手机13812345678，联系人欧阳娜娜。"}) {
    const auto a = with_tagger.scan(chinese);
    const auto b = rules_alone.scan(chinese);
    ASSERT_EQ(a.size(), b.size()) << chinese;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].type, b[i].type) << chinese;
      EXPECT_EQ(a[i].begin, b[i].begin) << chinese;
      EXPECT_EQ(a[i].end, b[i].end) << chinese;
    }
  }
}

// What the patterns took and web addresses are never read as names, places or addresses, and a
// name's span leaves out the full stop after it.
TEST_F(ShippedTokenTaggerTest, GuessesNothingInsideAWebAddressOrATimeAndLeavesTheFullStopOut) {
  const std::string url = "https://example.com/item?id=12345";
  const std::string text = "See " + url + " at 10:30 tomorrow. We met John Smith.";
  const std::vector<Found> got = scan(text);
  EXPECT_NE(std::find(got.begin(), got.end(), Found{T::kDateTime, "10:30"}), got.end())
      << ::testing::PrintToString(got);
  EXPECT_NE(std::find(got.begin(), got.end(), Found{T::kPerson, "John Smith"}), got.end())
      << ::testing::PrintToString(got);
  for (const Entity& e : scanner_->scan(text)) {
    EXPECT_FALSE(e.begin < 4 + url.size() && e.end > 4)
        << "inside the address: " << text.substr(e.begin, e.end - e.begin);
  }
}

}  // namespace
}  // namespace tandem::privacy
