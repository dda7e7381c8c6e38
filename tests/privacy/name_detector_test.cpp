#include "privacy/name_detector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace tandem::privacy {
namespace {

// A few entries of each kind the detector reads, in the format scripts/build_gazetteer.py writes.
constexpr std::string_view kGazetteer =
    "# pii gazetteer for tests\n"
    "first_name\tSusan\nfirst_name\tJames\nfirst_name\tDonald\nfirst_name\tWill\nfirst_name\tMay\n"
    "first_name\tJoshua\nfirst_name\tGeorgina\nfirst_name\tRoberto\nfirst_name\tMark\n"
    "last_name\tLyons\nlast_name\tKoumura\nlast_name\tVoet\nlast_name\tFord\nlast_name\tYamamura\n"
    "last_name\tGraham\nlast_name\tOchoa\nlast_name\tVasquez\nlast_name\tMayo\nlast_name\tWalters\n"
    "last_name\tMark\nlast_name\tBank\n"
    "country\tBahrain\ncountry\tEcuador\ncountry\tAntigua and Barbuda\ncountry\tPeople's Republic of China\n"
    "city\tBauru\ncity\tCalgary\ncity\tMay\n"
    "state_abbr\tAB\nstate_abbr\tLA\n"
    "street_suffix\tStreet\nstreet_suffix\tRoad\nstreet_prefix\tVia\n"
    "company_suffix\tLtd.\ncompany_suffix\tInc\n"
    "person_prefix\tMr.\n"
    "zh_surname\t王\nzh_surname\t张\nzh_surname\t欧阳\nzh_surname\t明\n"
    "zh_given_name\t小明\nzh_given_name\t秀英\n"
    "zh_province\t北京市\nzh_city\t北京\nzh_city\t上海\nzh_district\t朝阳\n"
    "zh_company_suffix\t有限公司\n"
    "unknown_kind\tignored\n";

struct Found {
  EntityType type;
  std::string text;
  bool operator==(const Found&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Found& f) {
  return os << static_cast<int>(f.type) << ":'" << f.text << "'";
}

class NameDetectorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Through a file, as in production: load() is the API the server calls.
    const auto path =
        std::filesystem::temp_directory_path() /
        ("name_detector_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + ".tsv");
    std::ofstream(path) << kGazetteer;
    auto gazetteer = Gazetteer::load(path.string());
    std::filesystem::remove(path);
    ASSERT_TRUE(gazetteer.ok()) << gazetteer.error().to_string();
    detector_ = new NameDetector(std::make_shared<const Gazetteer>(std::move(*gazetteer)));
  }
  static void TearDownTestSuite() {
    delete detector_;
    detector_ = nullptr;
  }

  static std::vector<Found> found(std::string_view text) {
    std::vector<Found> out;
    for (const Entity& e : detector_->detect(text))
      out.push_back({e.type, std::string(text.substr(e.begin, e.end - e.begin))});
    return out;
  }

  static NameDetector* detector_;
};

NameDetector* NameDetectorTest::detector_ = nullptr;

using T = EntityType;

TEST(GazetteerTest, LooksUpCaseInsensitivelyAndSkipsUnknownKinds) {
  auto gazetteer = Gazetteer::parse(kGazetteer);
  ASSERT_TRUE(gazetteer.ok());
  EXPECT_EQ(gazetteer->lookup("susan"), kFirstName);
  EXPECT_EQ(gazetteer->lookup("MARK"), kFirstName | kLastName);
  EXPECT_EQ(gazetteer->lookup("antigua AND barbuda"), kCountry);
  EXPECT_EQ(gazetteer->lookup("ltd"), kCompanySuffix);  // the dot is not part of the key
  EXPECT_EQ(gazetteer->lookup("antigua"), 0u);          // only the start of a phrase
  EXPECT_EQ(gazetteer->lookup("ignored"), 0u);
}

TEST(GazetteerTest, MissingOrEmptyFileIsAnError) {
  EXPECT_EQ(Gazetteer::load("/nonexistent/pii-gazetteer.tsv").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Gazetteer::parse("# only a comment\nunknown\tx\n").error().code, ErrorCode::kDataLoss);
}

TEST_F(NameDetectorTest, ReportsByteOffsetsOfPersons) {
  const std::string text = "Directed by James Koumura and starring Mikolčić";
  const auto entities = detector_->detect(text);
  ASSERT_EQ(entities.size(), 1u);
  EXPECT_EQ(entities[0].type, T::kPerson);
  EXPECT_EQ(entities[0].begin, 12u);
  EXPECT_EQ(entities[0].end, 25u);
}

TEST_F(NameDetectorTest, EnglishPersons) {
  EXPECT_EQ(found("It's under my partner's name Donald van der Voet"),
            (std::vector<Found>{{T::kPerson, "Donald van der Voet"}}));
  EXPECT_EQ(found("You can tell it was a huge Susan Lyons fan."), (std::vector<Found>{{T::kPerson, "Susan Lyons"}}));
  EXPECT_EQ(found("Mr. Ford is a 50 year old man."), (std::vector<Found>{{T::kPerson, "Ford"}}));
  EXPECT_EQ(found("she named him joshua"), (std::vector<Found>{{T::kPerson, "joshua"}}));
  EXPECT_EQ(found("it's under roberto yamamura"), (std::vector<Found>{{T::kPerson, "roberto yamamura"}}));
  EXPECT_EQ(found("Why is Georgina's car here?"), (std::vector<Found>{{T::kPerson, "Georgina"}}));
}

TEST_F(NameDetectorTest, EnglishOrganizations) {
  EXPECT_EQ(found("Cantrell Ltd. is the brainchild of our founders."),
            (std::vector<Found>{{T::kOrganization, "Cantrell Ltd."}}));
  EXPECT_EQ(found("He joined Graham, Ochoa and Vasquez last year."),
            (std::vector<Found>{{T::kOrganization, "Graham, Ochoa and Vasquez"}}));
  EXPECT_EQ(found("He joined Mayo-Walters."), (std::vector<Found>{{T::kOrganization, "Mayo-Walters"}}));
  EXPECT_EQ(found("a year at the Rand Corporation"), (std::vector<Found>{{T::kOrganization, "Rand Corporation"}}));
}

TEST_F(NameDetectorTest, EnglishLocationsInAnyCase) {
  EXPECT_EQ(found("the princess royal arrived at bauru this morning from bahrain."),
            (std::vector<Found>{{T::kLocation, "bauru"}, {T::kLocation, "bahrain"}}));
  EXPECT_EQ(found("I'm originally from Antigua and Barbuda"),
            (std::vector<Found>{{T::kLocation, "Antigua and Barbuda"}}));
  EXPECT_EQ(found("He moved to People's Republic of China"),
            (std::vector<Found>{{T::kLocation, "People's Republic of China"}}));
  EXPECT_EQ(found("He grew up in Kalatsova."), (std::vector<Found>{{T::kLocation, "Kalatsova"}}));
}

TEST_F(NameDetectorTest, EnglishAddresses) {
  EXPECT_EQ(found("How do I change my address to 92 Eusebio Dávila 57\nΠΥΡΓΑ\n, LA\n 56139 for post mail?"),
            (std::vector<Found>{{T::kAddress, "92 Eusebio Dávila 57\nΠΥΡΓΑ\n, LA\n 56139"}}));
  EXPECT_EQ(found("The letter arrived at 01 4589 40th Street Suite 603 Calgary AB last night."),
            (std::vector<Found>{{T::kAddress, "01 4589 40th Street Suite 603 Calgary AB"}}));
  EXPECT_EQ(found("billing address: 11 via goffredo mameli 149\n suite 268\n antigua and barbuda 48083 for this card"),
            (std::vector<Found>{{T::kAddress, "11 via goffredo mameli 149\n suite 268\n antigua and barbuda 48083"}}));
  EXPECT_EQ(found("PSC 7004, Box 8380\nAPO AP 11949"),
            (std::vector<Found>{{T::kAddress, "PSC 7004, Box 8380\nAPO AP 11949"}}));
}

TEST_F(NameDetectorTest, OrdinarySentencesYieldNothing) {
  for (std::string_view text : {"The Bank of the river", "May I help you", "Will you join us?", "Mark the date.",
                                "I have 3 apples and 5 pears.", "我们明天开会", "明天见", ""})
    EXPECT_TRUE(found(text).empty()) << text;
}

TEST_F(NameDetectorTest, ChinesePersons) {
  EXPECT_EQ(found("我叫王小明，住在上海"), (std::vector<Found>{{T::kPerson, "王小明"}, {T::kLocation, "上海"}}));
  EXPECT_EQ(found("请联系张伟先生"), (std::vector<Found>{{T::kPerson, "张伟"}}));
  EXPECT_EQ(found("欧阳秀英来了"), (std::vector<Found>{{T::kPerson, "欧阳秀英"}}));
  EXPECT_EQ(found("联系人：张三"), (std::vector<Found>{{T::kPerson, "张三"}}));
}

TEST_F(NameDetectorTest, ChineseNamesInAListAreAllPersonsWhenOneOfThemIs) {
  // 王小明 is a known given name; its neighbours in the list, set off by 、 and 和, are names too.
  EXPECT_EQ(
      found("参会人员：张伟、王芳、王小明和张丽。"),
      (std::vector<Found>{{T::kPerson, "张伟"}, {T::kPerson, "王芳"}, {T::kPerson, "王小明"}, {T::kPerson, "张丽"}}));
  // The first item after other words, the last running on into the sentence.
  EXPECT_EQ(found("邀请张伟、欧阳秀英和王刚参加"),
            (std::vector<Found>{{T::kPerson, "张伟"}, {T::kPerson, "欧阳秀英"}, {T::kPerson, "王刚"}}));
  // A title makes one a person, and the list follows.
  EXPECT_EQ(found("张伟先生、王芳"), (std::vector<Found>{{T::kPerson, "张伟"}, {T::kPerson, "王芳"}}));
  // Name-shaped words with no person among them stay words.
  EXPECT_TRUE(found("张伟、王芳").empty());
  EXPECT_TRUE(found("明天、后天和大后天").empty());
}

TEST_F(NameDetectorTest, ChineseOrganizationsAndAddresses) {
  EXPECT_EQ(found("我在北京百度网讯科技有限公司工作"),
            (std::vector<Found>{{T::kOrganization, "北京百度网讯科技有限公司"}}));
  EXPECT_EQ(found("地址：北京市朝阳区建国路88号"), (std::vector<Found>{{T::kAddress, "北京市朝阳区建国路88号"}}));
  EXPECT_EQ(found("寄到长宁路1018弄3号1202室，谢谢"), (std::vector<Found>{{T::kAddress, "长宁路1018弄3号1202室"}}));
  EXPECT_EQ(found("他去过北京市和朝阳区"), (std::vector<Found>{{T::kLocation, "北京市"}, {T::kLocation, "朝阳区"}}));
}

TEST_F(NameDetectorTest, MixedTextIsSortedAndNonOverlapping) {
  const std::string text = "Dear Mr. Ford, 请联系北京市朝阳区建国路88号的王小明先生 or Cantrell Ltd. in Bahrain";
  const auto entities = detector_->detect(text);
  ASSERT_EQ(entities.size(), 5u);
  for (size_t i = 1; i < entities.size(); ++i) EXPECT_LE(entities[i - 1].end, entities[i].begin);
  EXPECT_EQ(found(text), (std::vector<Found>{{T::kPerson, "Ford"},
                                             {T::kAddress, "北京市朝阳区建国路88号"},
                                             {T::kPerson, "王小明"},
                                             {T::kOrganization, "Cantrell Ltd."},
                                             {T::kLocation, "Bahrain"}}));
}

TEST_F(NameDetectorTest, InvalidUtf8IsASeparator) {
  const std::string text = "Susan\xff\xfeLyons";
  EXPECT_EQ(found(text), (std::vector<Found>{{T::kPerson, "Susan"}, {T::kPerson, "Lyons"}}));
}

}  // namespace
}  // namespace tandem::privacy
