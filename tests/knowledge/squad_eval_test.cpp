#include "knowledge/squad_eval.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "support/test_support.h"

namespace tandem::knowledge {
namespace {

void write_squad(const std::string& path, const std::vector<std::pair<std::string, std::vector<std::array<std::string, 3>>>>& paragraphs) {
  nlohmann::json data = nlohmann::json::array();
  nlohmann::json article{{"title", "t"}, {"paragraphs", nlohmann::json::array()}};
  for (const auto& [context, qas] : paragraphs) {
    nlohmann::json p{{"context", context}, {"qas", nlohmann::json::array()}};
    for (const auto& [id, question, answer] : qas) {
      p["qas"].push_back({{"id", id}, {"question", question}, {"answers", {{{"text", answer}, {"answer_start", 0}}}}});
    }
    article["paragraphs"].push_back(p);
  }
  data.push_back(article);
  std::ofstream(path) << nlohmann::json{{"data", data}}.dump();
}

// A knowledge base on the default embedding model, which it borrows and so must outlive.
struct TestBase {
  explicit TestBase(const std::string& dir) {
    engine::EmbedderOptions options;
    options.model_path = tandem::testing::embedding_model_path();
    auto loaded = engine::Embedder::load(options);
    if (!loaded) {
      error = loaded.error().message;
      return;
    }
    embedder = std::move(*loaded);
    auto opened = KnowledgeBase::open({.dir = dir}, *embedder);
    if (!opened) {
      error = opened.error().message;
      return;
    }
    kb = std::move(*opened);
  }
  std::unique_ptr<engine::Embedder> embedder;
  std::unique_ptr<KnowledgeBase> kb;
  std::string error;
};

TEST(SquadEvalTest, ContainsAnswerIgnoresCaseAndSpaces) {
  EXPECT_TRUE(contains_answer("It ends on 31  March 2027.", {"31 march"}));
  EXPECT_TRUE(contains_answer("本合同自2025年1月1日起生效", {"2025年1月1日"}));
  EXPECT_FALSE(contains_answer("It ends in April.", {"March", ""}));
}

TEST(SquadEvalTest, ReadsSquadAndSwapsInQuestionsOfAnotherLanguage) {
  tandem::testing::TempDir dir;
  write_squad(dir.file("en.json"), {{"The lease ends in March.", {{"q1", "When does the lease end?", "March"}}}});
  write_squad(dir.file("zh.json"), {{"租约三月结束。", {{"q1", "租约什么时候结束？", "三月"}}}});
  auto en = read_squad(dir.file("en.json"));
  auto zh = read_squad(dir.file("zh.json"));
  ASSERT_TRUE(en && zh);
  ASSERT_TRUE(use_questions_from(*en, *zh));
  EXPECT_EQ(en->questions[0].question, "租约什么时候结束？");
  EXPECT_EQ(en->questions[0].answers[0], "March") << "gold answers stay those of the paragraphs' language";
  write_squad(dir.file("other.json"), {{"x", {{"q9", "?", "x"}}}});
  EXPECT_FALSE(use_questions_from(*en, *read_squad(dir.file("other.json"))));
  std::ofstream(dir.file("bad.json")) << "{\"data\": [{\"paragraphs\": [{}]}]}";
  EXPECT_EQ(read_squad(dir.file("bad.json")).error().code, ErrorCode::kInvalidArgument);
}

TEST(SquadEvalTest, TheTuningAndHeldOutHalvesSplitTheQuestionsByIdNotByPosition) {
  SquadSet set{{"paragraph"}, {}};
  for (int i = 0; i < 400; ++i) set.questions.push_back({"q" + std::to_string(i), "question " + std::to_string(i), {"x"}});
  SquadSet tune = set;
  SquadSet holdout = set;
  SquadSet all = set;
  keep_questions_of(tune, *parse_squad_split("tune"));
  keep_questions_of(holdout, *parse_squad_split("holdout"));
  keep_questions_of(all, *parse_squad_split("all"));
  EXPECT_EQ(all.questions.size(), 400u);
  EXPECT_EQ(tune.questions.size() + holdout.questions.size(), 400u);
  EXPECT_GT(tune.questions.size(), 150u) << "about half each";
  EXPECT_GT(holdout.questions.size(), 150u);
  std::set<std::string> tune_ids;
  for (const auto& q : tune.questions) tune_ids.insert(q.id);
  for (const auto& q : holdout.questions) EXPECT_EQ(tune_ids.count(q.id), 0u) << q.id;
  EXPECT_EQ(tune.paragraphs, set.paragraphs) << "every paragraph stays indexed";
  // The half follows the id alone: the same question in another order or language stays put.
  SquadSet reordered{{"段落"}, {}};
  for (auto it = set.questions.rbegin(); it != set.questions.rend(); ++it) reordered.questions.push_back({it->id, "问题", {"x"}});
  keep_questions_of(reordered, SquadSplit::kTune);
  ASSERT_EQ(reordered.questions.size(), tune.questions.size());
  for (const auto& q : reordered.questions) EXPECT_EQ(tune_ids.count(q.id), 1u) << q.id;
  EXPECT_EQ(parse_squad_split("test").error().code, ErrorCode::kInvalidArgument);
}

TEST(SquadEvalTest, MeasuresRecallAndMrrOnARealBase) {
  tandem::testing::TempDir dir;
  write_squad(dir.file("set.json"),
              {{"Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in chloroplasts.",
                {{"a", "Where in the cell does photosynthesis happen?", "chloroplasts"}}},
               {"The Great Wall of China is more than 21,000 kilometres long.",
                {{"b", "How long is the Great Wall?", "21,000 kilometres"}}},
               {"Mount Everest, at 8,849 metres, is the highest mountain above sea level.",
                {{"c", "How high is Mount Everest?", "8,849 metres"}}}});
  auto set = read_squad(dir.file("set.json"));
  ASSERT_TRUE(set);
  TestBase base(dir.file("kb"));
  ASSERT_TRUE(base.kb) << base.error;
  KnowledgeBase& kb = *base.kb;
  auto report = index_squad(*set, kb);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->n_paragraphs, 3u);
  EXPECT_EQ(report->n_chunks, 3u);
  ASSERT_TRUE(evaluate_retrieval(*set, kb, {}, *report));
  ASSERT_EQ(report->modes.size(), 3u);
  for (const auto& mode : report->modes) {
    EXPECT_EQ(mode.questions, 3u);
    EXPECT_DOUBLE_EQ(mode.recall_at_1, 1.0) << mode.name;
    EXPECT_DOUBLE_EQ(mode.mrr, 1.0) << mode.name;
    EXPECT_GT(mode.latency_ms_p50, 0) << mode.name;
  }
  // The same questions counted again by half: together they are the three asked.
  ASSERT_EQ(report->tune_modes.size(), 3u);
  ASSERT_EQ(report->holdout_modes.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(report->tune_modes[i].questions + report->holdout_modes[i].questions, 3u);
    for (const auto* half : {&report->tune_modes[i], &report->holdout_modes[i]}) {
      if (half->questions > 0) {
        EXPECT_DOUBLE_EQ(half->recall_at_1, 1.0) << half->name;
      }
    }
  }
  // A generator that echoes the passages contains the gold answer; one that says nothing does not.
  auto echo = evaluate_answers(*set, kb, 3, {}, 0.3, [](const std::vector<engine::ChatMessage>& m) -> Result<std::string> {
    return m.front().content;  // the passages
  });
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->n, 3u);
  EXPECT_DOUBLE_EQ(echo->contains_gold, 1.0);
  auto silent = evaluate_answers(*set, kb, 2, {}, 0.3, [](const auto&) -> Result<std::string> { return std::string(); });
  ASSERT_TRUE(silent);
  EXPECT_DOUBLE_EQ(silent->contains_gold, 0.0);
}

// Three articles: the first and the third are indexed, so the second's question has no answer in
// the base; MiniLM tells the two kinds apart at some threshold, and the curve moves one way.
TEST(SquadEvalTest, NotFoundCalibrationIndexesEveryOtherArticleAndSweepsTheThreshold) {
  tandem::testing::TempDir dir;
  const auto article = [](const std::string& context, const std::string& id, const std::string& question,
                          const std::string& answer) {
    return nlohmann::json{
        {"title", id},
        {"paragraphs",
         {{{"context", context},
           {"qas", {{{"id", id}, {"question", question}, {"answers", {{{"text", answer}, {"answer_start", 0}}}}}}}}}}};
  };
  const nlohmann::json data = {
      article("Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in chloroplasts.", "a",
              "Where in the cell does photosynthesis happen?", "chloroplasts"),
      article("The Great Wall of China is more than 21,000 kilometres long.", "b", "How long is the Great Wall?",
              "21,000 kilometres"),
      article("Mount Everest, at 8,849 metres, is the highest mountain above sea level.", "c",
              "How high is Mount Everest?", "8,849 metres")};
  std::ofstream(dir.file("set.json")) << nlohmann::json{{"data", data}}.dump();
  auto set = read_squad(dir.file("set.json"));
  ASSERT_TRUE(set);
  EXPECT_EQ(set->article_of, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(set->questions[1].paragraph, 1u);
  EXPECT_TRUE(in_not_found_base(*set, 0));
  EXPECT_FALSE(in_not_found_base(*set, 1));

  TestBase base(dir.file("kb"));
  ASSERT_TRUE(base.kb) << base.error;
  KnowledgeBase& kb = *base.kb;
  auto indexed = index_squad(*set, kb, {}, [&](size_t p) { return in_not_found_base(*set, p); });
  ASSERT_TRUE(indexed) << indexed.error().message;
  EXPECT_EQ(indexed->n_paragraphs, 2u);
  auto report = evaluate_not_found(*set, kb, {.k = 5}, 0.5, 1.0);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->answerable, 2u);
  EXPECT_EQ(report->unanswerable, 1u);
  EXPECT_DOUBLE_EQ(report->unanswerable_by_overlap, 0.0);
  ASSERT_EQ(report->curve.size(), 101u);
  EXPECT_DOUBLE_EQ(report->curve.front().answerable_found, 1.0) << "at 0 every question with a hit is grounded";
  EXPECT_DOUBLE_EQ(report->curve.front().unanswerable_refused, 0.0);
  for (size_t i = 1; i < report->curve.size(); ++i) {
    EXPECT_LE(report->curve[i].answerable_found, report->curve[i - 1].answerable_found);
    EXPECT_GE(report->curve[i].unanswerable_refused, report->curve[i - 1].unanswerable_refused);
  }
  EXPECT_DOUBLE_EQ(report->chosen.answerable_found, 1.0);
  EXPECT_DOUBLE_EQ(report->chosen.unanswerable_refused, 1.0) << report->chosen.min_similarity;
  EXPECT_GT(report->chosen.min_similarity, 0.0);
  // The lowest such threshold: one step below it refuses less.
  const auto chosen_step = static_cast<size_t>(std::lround(report->chosen.min_similarity * 100));
  EXPECT_LT(report->curve[chosen_step - 1].unanswerable_refused, 1.0);
}

}  // namespace
}  // namespace tandem::knowledge
