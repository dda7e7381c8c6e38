#include "knowledge/grounding.h"

#include <gtest/gtest.h>

namespace tandem::knowledge {
namespace {

SearchResult result_with(std::vector<std::string> texts, double top_similarity) {
  SearchResult result;
  result.top_similarity = top_similarity;
  int64_t id = 0;
  for (auto& text : texts) {
    SearchHit hit;
    hit.chunk.id = ++id;
    hit.chunk.document_id = 7;
    hit.chunk.path = "/docs/lease.pdf";
    hit.chunk.page = 3;
    hit.chunk.char_start = 100 * id;
    hit.chunk.char_end = 100 * id + static_cast<int64_t>(text.size());
    hit.chunk.text = std::move(text);
    result.hits.push_back(std::move(hit));
  }
  return result;
}

TEST(GroundingTest, NumbersPassagesAndCitesTheirSource) {
  const auto grounded = ground("When does the lease end?",
                               result_with({"The lease ends on 31 March 2027.", "Pets are allowed."}, 0.7), {});
  ASSERT_TRUE(grounded.found);
  ASSERT_EQ(grounded.citations.size(), 2u);
  EXPECT_EQ(grounded.citations[1].number, 2);
  EXPECT_EQ(grounded.citations[0].page, 3);
  EXPECT_EQ(grounded.citations[0].char_start, 100);
  ASSERT_EQ(grounded.messages.size(), 2u);
  EXPECT_EQ(grounded.messages[0].role, "system");
  const std::string& prompt = grounded.messages[0].content;
  EXPECT_NE(prompt.find("[1] (lease.pdf, page 3) The lease ends on 31 March 2027."), std::string::npos);
  EXPECT_NE(prompt.find("[2] (lease.pdf, page 3) Pets are allowed."), std::string::npos);
  EXPECT_EQ(grounded.messages[1].role, "user");
  EXPECT_EQ(grounded.messages[1].content, "When does the lease end?");
}

TEST(GroundingTest, LowSimilarityWithoutSharedWordsIsNotFound) {
  const auto grounded = ground("boiling point of nitrogen", result_with({"The lease ends on 31 March 2027."}, 0.1), {});
  EXPECT_FALSE(grounded.found);
  EXPECT_TRUE(grounded.messages.empty());
  EXPECT_EQ(grounded.not_found_answer, "I could not find the answer to this in your documents.");
  EXPECT_FALSE(ground("anything", SearchResult{}, {}).found);
}

TEST(GroundingTest, SharedWordsCountWhenTheEmbeddingMissesThem) {
  // A Chinese passage the English-only embedding model scores low, found by its words.
  const auto grounded = ground("合同什么时候生效", result_with({"本合同自2025年1月1日起生效。"}, 0.1), {});
  EXPECT_TRUE(grounded.found);
  EXPECT_GE(word_overlap("合同什么时候生效", "本合同自2025年1月1日起生效。"), 0.5);
  EXPECT_EQ(ground("液氮的沸点", result_with({"本合同生效。"}, 0.1), {}).not_found_answer,
            "在你的文档中没有找到这个问题的答案。");
}

TEST(GroundingTest, OnlyContentWordsCountAsShared) {
  // Every word but "name" is a function word the unrelated passage shares too.
  EXPECT_NEAR(word_overlap("What was the name of the first president?", "The name of the tenant was Anna."), 1.0 / 3,
              1e-9);
  EXPECT_FALSE(ground("What was the name of the first president?",
                      result_with({"The name of the tenant was Anna, and the lease was hers."}, 0.1), {})
                   .found);
  EXPECT_DOUBLE_EQ(word_overlap("What is the boiling point of nitrogen?", "Nitrogen boils at a point of -196 °C."),
                   1.0);
  EXPECT_GE(word_overlap("谁是第一任总统？", "第一任总统是华盛顿。"), GroundingOptions{}.min_word_overlap);
  EXPECT_DOUBLE_EQ(word_overlap("什么是的？", "这是什么？"), 0.0) << "a question of function words shares nothing";
}

TEST(GroundingTest, CitationsAreCheckedAgainstThePassagesGiven) {
  const auto grounded =
      ground("When does the lease end?",
             result_with({"The lease ends on 31 March 2027.", "Pets are allowed.", "Rent: 900"}, 0.7), {});
  ASSERT_EQ(grounded.citations.size(), 3u);
  auto check =
      check_citations("It ends on 31 March [1], pets are fine [2][1] and see [1, 3] or [7].", grounded.citations);
  EXPECT_EQ(check.cited, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(check.unknown, (std::vector<int>{7}));
  check = check_citations("租约于2027年3月31日结束【2】【9】。", grounded.citations);
  EXPECT_EQ(check.cited, (std::vector<int>{2}));
  EXPECT_EQ(check.unknown, (std::vector<int>{9}));
  // Brackets that are not citations: a list, a link, an empty pair, a number too long to be one.
  check = check_citations("x[i] = [a, b]; [](){}; [1,,2] [12345] [see 1] [2", grounded.citations);
  EXPECT_TRUE(check.cited.empty());
  EXPECT_TRUE(check.unknown.empty());
  EXPECT_TRUE(check_citations("no citation at all", grounded.citations).cited.empty());
}

TEST(GroundingTest, LongPassagesGetShortSnippets) {
  const auto grounded = ground("lease", result_with({std::string(1000, 'a') + " lease"}, 0.9), {.snippet_bytes = 50});
  ASSERT_EQ(grounded.citations.size(), 1u);
  EXPECT_LE(grounded.citations[0].snippet.size(), 50u + 3);
}

}  // namespace
}  // namespace tandem::knowledge
