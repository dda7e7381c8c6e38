#include "knowledge/chunker.h"

#include <gtest/gtest.h>

#include <sstream>

#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::knowledge {
namespace {

// One token per space-separated word, plus two special tokens, like [CLS] ... [SEP].
Result<int32_t> count_words(std::string_view text) {
  std::istringstream in{std::string(text)};
  int32_t n = 2;
  for (std::string word; in >> word;) ++n;
  return n;
}

Block paragraph(std::string text, int32_t page = 0) { return {BlockKind::kParagraph, std::move(text), page, 0}; }
Block heading(std::string text) { return {BlockKind::kHeading, std::move(text), 0, 1}; }

std::string words(int from, int count) {
  std::string out;
  for (int i = from; i < from + count; ++i) out += (out.empty() ? "w" : " w") + std::to_string(i);
  return out + ".";
}

void expect_offsets_point_at_text(const ParsedDocument& doc, const std::vector<Chunk>& chunks) {
  const std::string text = document_text(doc);
  for (const auto& chunk : chunks) {
    ASSERT_LE(chunk.char_end, static_cast<int64_t>(text.size()));
    EXPECT_EQ(text.substr(static_cast<size_t>(chunk.char_start), static_cast<size_t>(chunk.char_end - chunk.char_start)),
              chunk.text);
  }
}

TEST(ChunkerTest, PacksWholeParagraphsAndStartsOverAtHeadings) {
  ParsedDocument doc;
  doc.blocks = {heading("Lease"), paragraph("The lease ends on 31 March."), paragraph("Rent is due monthly."),
                heading("Deposit"), paragraph("The deposit is two months of rent.")};
  auto chunks = chunk_document(doc, {.max_tokens = 64, .overlap_tokens = 8}, count_words);
  ASSERT_TRUE(chunks) << chunks.error().message;
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].heading, "Lease");
  EXPECT_EQ((*chunks)[0].text, "Lease\n\nThe lease ends on 31 March.\n\nRent is due monthly.");
  EXPECT_EQ((*chunks)[1].heading, "Deposit");
  EXPECT_EQ((*chunks)[1].text, "Deposit\n\nThe deposit is two months of rent.");
  expect_offsets_point_at_text(doc, *chunks);
}

TEST(ChunkerTest, LongParagraphsAreCutAtSentenceEndsWithOverlap) {
  ParsedDocument doc;
  std::string text;
  for (int s = 0; s < 10; ++s) text += (text.empty() ? "" : " ") + words(s * 10, 10);  // 10 sentences of 10 words
  doc.blocks = {paragraph(text)};
  auto chunks = chunk_document(doc, {.max_tokens = 32, .overlap_tokens = 10}, count_words);
  ASSERT_TRUE(chunks) << chunks.error().message;
  ASSERT_GE(chunks->size(), 4u);
  for (size_t i = 0; i < chunks->size(); ++i) {
    const Chunk& chunk = (*chunks)[i];
    EXPECT_LE(chunk.tokens, 32) << chunk.text;
    EXPECT_EQ(chunk.text.back(), '.') << "chunk " << i << " ends mid-sentence: " << chunk.text;
    if (i > 0) {
      // The last sentence of the previous chunk opens this one.
      const std::string& previous = (*chunks)[i - 1].text;
      const std::string last_sentence = previous.substr(previous.rfind(". w") + 2);
      EXPECT_EQ(chunk.text.rfind(last_sentence, 0), 0u) << chunk.text;
    }
  }
  EXPECT_NE(chunks->back().text.find("w99."), std::string::npos);
  expect_offsets_point_at_text(doc, *chunks);
}

TEST(ChunkerTest, ChineseSentencesAndPagesAreBoundaries) {
  ParsedDocument doc;
  doc.blocks = {paragraph("租约于三月底结束。押金为两个月租金！是否可以续约？", 1), paragraph("第二页的内容。", 2)};
  // Each Chinese character counts as one "word" here: a tiny budget forces a cut per sentence.
  auto per_character = [](std::string_view text) -> Result<int32_t> {
    return 2 + static_cast<int32_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  auto chunks = chunk_document(doc, {.max_tokens = 14, .overlap_tokens = 0}, per_character);
  ASSERT_TRUE(chunks) << chunks.error().message;
  ASSERT_EQ(chunks->size(), 4u);
  EXPECT_EQ((*chunks)[0].text, "租约于三月底结束。");
  EXPECT_EQ((*chunks)[1].text, "押金为两个月租金！");
  EXPECT_EQ((*chunks)[2].text, "是否可以续约？");
  EXPECT_EQ((*chunks)[3].text, "第二页的内容。");
  EXPECT_EQ((*chunks)[2].page, 1);
  EXPECT_EQ((*chunks)[3].page, 2);
  expect_offsets_point_at_text(doc, *chunks);
}

TEST(ChunkerTest, ASentenceLongerThanAChunkIsCutAtSpaces) {
  ParsedDocument doc;
  doc.blocks = {paragraph(words(0, 100))};
  auto chunks = chunk_document(doc, {.max_tokens = 20, .overlap_tokens = 0}, count_words);
  ASSERT_TRUE(chunks) << chunks.error().message;
  ASSERT_GE(chunks->size(), 6u);
  std::string rejoined;
  for (const auto& chunk : *chunks) {
    EXPECT_LE(chunk.tokens, 20);
    EXPECT_NE(chunk.text.front(), ' ');
    rejoined += (rejoined.empty() ? "" : " ") + chunk.text;
  }
  EXPECT_EQ(rejoined, words(0, 100));  // nothing lost, nothing repeated
}

TEST(ChunkerTest, RefusesImpossibleOptions) {
  ParsedDocument doc;
  doc.blocks = {paragraph("text")};
  EXPECT_FALSE(chunk_document(doc, {.max_tokens = 10, .overlap_tokens = 10}, count_words));
  EXPECT_FALSE(chunk_document(doc, {.max_tokens = 3, .overlap_tokens = 0}, count_words));
  EXPECT_TRUE(chunk_document(ParsedDocument{}, {}, count_words)->empty());
}

TEST(ChunkerTest, RealTokenizerKeepsEveryChunkWithinTheModelsBudget) {
  engine::EmbedderOptions options;
  options.model_path = testing::embedding_model_path();
  auto embedder = engine::Embedder::load(options);
  ASSERT_TRUE(embedder) << embedder.error().message;
  ParsedDocument doc;
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "Tenants must give written notice sixty days before the lease ends. 租户须提前书面通知。";
  doc.blocks = {heading("Notice"), paragraph(long_text)};
  auto chunks = chunk_document(doc, {.max_tokens = 64, .overlap_tokens = 16},
                               [&](std::string_view text) { return (*embedder)->count_tokens(text); });
  ASSERT_TRUE(chunks) << chunks.error().message;
  ASSERT_GT(chunks->size(), 5u);
  for (const auto& chunk : *chunks) {
    auto real = (*embedder)->count_tokens(chunk.text);
    ASSERT_TRUE(real);
    EXPECT_LE(*real, 64) << chunk.text;
  }
}

}  // namespace
}  // namespace tandem::knowledge
