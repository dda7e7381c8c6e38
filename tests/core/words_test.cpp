#include "core/words.h"

#include <gtest/gtest.h>
#include <unicode/uscript.h>

#include <string>
#include <vector>

namespace tandem {
namespace {

TEST(ScriptSetTest, ReadsScriptNamesAndCodes) {
  auto latin = ScriptSet::parse("Latin");
  ASSERT_TRUE(latin) << latin.error().message;
  EXPECT_FALSE(latin->covers_every_script());
  auto by_code = ScriptSet::parse(" Latn , Cyrl ");
  ASSERT_TRUE(by_code) << by_code.error().message;
  EXPECT_EQ(by_code->names(), "Latn,Cyrl");
  EXPECT_EQ(ScriptSet().names(), "all");
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
  EXPECT_TRUE(latin->mostly_in("Tesla 的 Model 3"));  // tesla, 的, model: two of three
  EXPECT_FALSE(latin->mostly_in("北京大学的学生 Tesla"));
}

TEST(WordsTest, TheMainScriptIsTheOneMostWordsAreWrittenIn) {
  EXPECT_EQ(main_script("When does the lease end?"), USCRIPT_LATIN);
  EXPECT_EQ(main_script("北京大学的学生 Tesla"), USCRIPT_HAN);  // four words of five
  EXPECT_EQ(main_script("Who founded Tesla in 2003, 特斯拉?"), USCRIPT_LATIN);
  EXPECT_EQ(main_script("東京はどこですか"), USCRIPT_HAN) << "Japanese kana count with the Han characters";
  EXPECT_EQ(main_script("Привет, мир"), USCRIPT_CYRILLIC);
  EXPECT_EQ(main_script("2018 / 42"), -1);
  EXPECT_EQ(main_script(""), -1);
}

TEST(WordsTest, SplitsChineseIntoDictionaryWordsAndFoldsCase) {
  std::vector<std::string> words;
  for_each_word("北京大学的学生, The QUICK ﬁx!", [&](std::string_view word) {
    words.emplace_back(word);
    return true;
  });
  EXPECT_EQ(words, (std::vector<std::string>{"北京", "大学", "的", "学生", "the", "quick", "fix"}));
  size_t seen = 0;
  for_each_word("one two three", [&](std::string_view) { return ++seen < 2; });
  EXPECT_EQ(seen, 2U) << "stops when the callback says so";
}

TEST(CutUtf8Test, CutsBetweenCharactersNeverInsideOne) {
  EXPECT_EQ(cut_utf8("short", 10), "short");
  EXPECT_EQ(cut_utf8("abcdef", 3), "abc");
  EXPECT_EQ(cut_utf8("北京", 4), "北");  // 3 + 3 bytes: the second character does not fit
  EXPECT_EQ(cut_utf8("北京", 6), "北京");
  EXPECT_EQ(cut_utf8("北京", 2), "");
}

}  // namespace
}  // namespace tandem
