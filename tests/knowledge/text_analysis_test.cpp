#include "knowledge/text_analysis.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tandem::knowledge {
namespace {

using ::testing::ElementsAre;

TEST(TextAnalysisTest, SegmentsChineseIntoDictionaryWords) {
  EXPECT_THAT(analyze_text("北京大学的学生在公司工作。"), ElementsAre("北京", "大学", "的", "学生", "在", "公司", "工作"));
}

TEST(TextAnalysisTest, FoldsCaseAndWidthAndDropsPunctuation) {
  EXPECT_THAT(analyze_text("The QUICK, brown ＦＯＸ!"), ElementsAre("the", "quick", "brown", "fox"));
  EXPECT_THAT(analyze_text("Résumé RÉSUMÉ"), ElementsAre("résumé", "résumé"));
}

TEST(TextAnalysisTest, StemsEnglishWordsSoInflectionsMatch) {
  EXPECT_EQ(analyze_text("leases"), analyze_text("lease"));
  EXPECT_EQ(analyze_text("ended"), analyze_text("ends"));
  EXPECT_EQ(analyze_text("Running"), analyze_text("runs"));
  EXPECT_THAT(analyze_text("合同生效"), ElementsAre("合同", "生效")) << "Chinese words are not stemmed";
}

TEST(TextAnalysisTest, KeepsNumbersAndMixedScripts) {
  EXPECT_THAT(analyze_text("2018年 GDP 增长 6.6%"), ElementsAre("2018", "年", "gdp", "增长", "6.6"));
  EXPECT_TRUE(text_analysis_version().find("snowball-english") != std::string_view::npos);
}

TEST(TextAnalysisTest, InvalidUtf8AndEmptyInputAreHarmless) {
  EXPECT_TRUE(analyze_text("").empty());
  EXPECT_TRUE(analyze_text(" \n\t.,;").empty());
  EXPECT_THAT(analyze_text(std::string("ok\xff\xfe word")), ::testing::Contains("word"));
}

TEST(TextAnalysisTest, StopsWhenTheCallbackSaysSo) {
  int seen = 0;
  for_each_token("one two three four", [&](std::string_view) { return ++seen < 2; });
  EXPECT_EQ(seen, 2);
}

}  // namespace
}  // namespace tandem::knowledge
