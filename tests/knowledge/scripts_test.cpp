#include "knowledge/scripts.h"

#include <gtest/gtest.h>

namespace tandem::knowledge {
namespace {

TEST(ScriptSetTest, ReadsScriptNamesAndCodes) {
  auto latin = ScriptSet::parse("Latin");
  ASSERT_TRUE(latin) << latin.error().message;
  EXPECT_FALSE(latin->covers_every_script());
  auto by_code = ScriptSet::parse(" Latn , Cyrl ");
  ASSERT_TRUE(by_code) << by_code.error().message;
  EXPECT_DOUBLE_EQ(by_code->share_of_words_in("Привет world"), 1.0);
  EXPECT_TRUE(ScriptSet::parse("all")->covers_every_script());
  EXPECT_TRUE(ScriptSet::parse("")->covers_every_script());
  auto unknown = ScriptSet::parse("Latin,Klingonish");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("Klingonish"), std::string::npos);
}

TEST(ScriptSetTest, CountsTheWordsOfAQueryInItsScripts) {
  auto latin = ScriptSet::parse("Latin");
  ASSERT_TRUE(latin);
  EXPECT_DOUBLE_EQ(latin->share_of_words_in("When does the lease end?"), 1.0);
  EXPECT_DOUBLE_EQ(latin->share_of_words_in("Où est la gare ?"), 1.0) << "accented Latin is Latin";
  EXPECT_DOUBLE_EQ(latin->share_of_words_in("合同什么时候生效"), 0.0);
  // ICU words: 北京 / 大学 / 的 / 学生 / tesla; digits belong to no script and do not count.
  EXPECT_DOUBLE_EQ(latin->share_of_words_in("北京大学的学生 Tesla 2018"), 0.2);
  EXPECT_DOUBLE_EQ(latin->share_of_words_in("2018 / 42"), 1.0) << "nothing to read: no reason to leave dense out";
  auto han = ScriptSet::parse("Han");
  ASSERT_TRUE(han);
  EXPECT_DOUBLE_EQ(han->share_of_words_in("北京大学的学生 Tesla"), 0.8);
  EXPECT_DOUBLE_EQ(ScriptSet().share_of_words_in("合同 Привет"), 1.0);
}

}  // namespace
}  // namespace tandem::knowledge
