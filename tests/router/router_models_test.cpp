// The intent classifier and the quality-gap model on the real embedding model: they learn,
// survive a save and load unchanged, and refuse bad data and damaged directories clearly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "router/router.h"
#include "support/test_embedder.h"
#include "support/test_support.h"

namespace tandem::router {
namespace {

namespace fs = std::filesystem;
using tandem::testing::shared_test_embedder;
using tandem::testing::TempDir;

std::vector<IntentExample> small_intents() {
  std::vector<IntentExample> examples;
  auto add = [&](const std::string& label, const std::vector<std::string>& texts) {
    for (const auto& t : texts) examples.push_back({t, label});
  };
  add("weather", {"what's the weather like today", "will it rain tomorrow", "is it sunny in Paris",
                  "how cold is it outside", "weather forecast for the weekend", "do I need an umbrella today",
                  "今天天气怎么样", "明天会下雨吗", "what is the temperature in Berlin", "is it going to snow tonight"});
  add("translate", {"translate hello into Spanish", "how do you say thank you in French",
                    "translate this sentence to German", "what is 'cat' in Japanese", "把这句话翻译成英文",
                    "翻译：早上好", "say good night in Italian", "translate 'where is the station' to Chinese",
                    "how do I say I love you in Korean", "what does 'merci' mean in English"});
  add("greeting", {"hi there", "hello", "good morning", "hey, how are you", "你好", "早上好呀", "nice to meet you",
                   "what's up", "hello again my friend", "good evening"});
  add("oos", {"asdf qwer zxcv", "????", "lorem ipsum dolor sit amet", "jkjkjkjk", "...", "zzzz xxxx"});
  return examples;
}

IntentTrainOptions quick_options() {
  IntentTrainOptions options;
  options.hash_bits = 12;
  options.holdout_fraction = 0.2;
  options.max_iterations = 100;
  return options;
}

TEST(IntentClassifierTest, LearnsSavesAndLoadsTheSameModel) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  std::vector<std::string> stages;
  auto options = quick_options();
  options.progress = [&](std::string_view stage, size_t done, size_t total) {
    EXPECT_LE(done, total);
    if (stages.empty() || stages.back() != stage) stages.emplace_back(stage);
  };
  auto classifier = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_TRUE(classifier) << classifier.error().to_string();
  EXPECT_EQ(stages, (std::vector<std::string>{"embedding", "training"}));
  EXPECT_EQ(classifier->labels(), (std::vector<std::string>{"greeting", "oos", "translate", "weather"}));
  EXPECT_GT(classifier->temperature(), 0.0F);

  const std::vector<std::string> unseen = {"is it windy in London right now", "translate goodbye into Portuguese",
                                           "hey hello"};
  const std::vector<std::string> expected = {"weather", "translate", "greeting"};
  auto predictions = classifier->classify_batch(unseen);
  ASSERT_TRUE(predictions) << predictions.error().to_string();
  for (size_t i = 0; i < unseen.size(); ++i) {
    EXPECT_EQ((*predictions)[i].ranked.front().first, expected[i]) << unseen[i];
    EXPECT_EQ((*predictions)[i].ranked.size(), 3U);
    EXPECT_GT((*predictions)[i].confidence, 0.0F);
    EXPECT_LE((*predictions)[i].confidence, 1.0F);
  }

  TempDir dir;
  const auto model_dir = dir.file("intents");
  ASSERT_TRUE(classifier->save(model_dir));
  std::ifstream meta_file(model_dir + "/model.json");
  const auto meta = nlohmann::json::parse(meta_file);
  EXPECT_EQ(meta["kind"], "intent");
  EXPECT_EQ(meta["extra"]["oos_label"], "oos");
  EXPECT_EQ(meta["training"]["examples"], small_intents().size());

  EXPECT_EQ(meta["hidden_units"], 0);
  EXPECT_EQ(meta["embedding_weight"], 2.0);
  EXPECT_FALSE(fs::exists(model_dir + "/network.bin"));
  // A model written before these settings existed loads as the linear head at the default weight.
  auto old_meta = meta;
  old_meta.erase("hidden_units");
  old_meta.erase("embedding_weight");
  std::ofstream(model_dir + "/model.json") << old_meta.dump();

  auto loaded = IntentClassifier::load(model_dir, embedder);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_EQ(loaded->oos_threshold(), classifier->oos_threshold());
  auto again = loaded->classify_batch(unseen);
  ASSERT_TRUE(again);
  for (size_t i = 0; i < unseen.size(); ++i) {
    EXPECT_EQ((*again)[i].label, (*predictions)[i].label);
    EXPECT_FLOAT_EQ((*again)[i].confidence, (*predictions)[i].confidence);
  }

  auto eval = evaluate_intents(*loaded, {{"will it be hot on friday", "weather"}, {"qwpoeiru", "oos"}});
  ASSERT_TRUE(eval) << eval.error().to_string();
  EXPECT_EQ(eval->n, 2U);
  EXPECT_EQ(eval->out_of_scope, 1U);
  EXPECT_GE(eval->top1_accuracy, eval->in_scope_accuracy);
  EXPECT_GT(eval->latency_ms_p50, 0.0);
  EXPECT_GE(eval->latency_ms_p95, eval->latency_ms_p50);

  auto unknown = evaluate_intents(*loaded, {{"book a table", "restaurant"}});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("\"restaurant\" is not one the model was trained on"), std::string::npos);
}

// What a server retrains with (pipeline/intent_relearning.h): the options and data files survive
// a save and load, and training again with them and the same examples gives the same model.
TEST(IntentClassifierTest, ItsTrainingOptionsSurviveASaveAndLoadAndTrainTheSameModelAgain) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto options = quick_options();
  options.l2 = 1e-4F;
  options.embedding_weight = 3.0F;
  options.max_in_scope_loss = 0.05;
  options.data_files = {"/data/intents.jsonl", "own.jsonl"};  // relative: inside the model's directory
  auto classifier = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_TRUE(classifier) << classifier.error().to_string();
  TempDir dir;
  ASSERT_TRUE(classifier->save(dir.file("m")));
  auto loaded = IntentClassifier::load(dir.file("m"), embedder);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  const auto& with = loaded->training_options();
  EXPECT_EQ(with.data_files,
            (std::vector<std::string>{"/data/intents.jsonl", (fs::absolute(dir.file("m")) / "own.jsonl").string()}));
  EXPECT_EQ(with.hash_bits, 12);
  EXPECT_EQ(with.max_iterations, 100);
  EXPECT_DOUBLE_EQ(with.holdout_fraction, 0.2);
  EXPECT_FLOAT_EQ(with.l2, 1e-4F);
  EXPECT_FLOAT_EQ(with.embedding_weight, 3.0F);
  EXPECT_DOUBLE_EQ(with.max_in_scope_loss, 0.05);
  EXPECT_EQ(with.oos_label, "oos");
  EXPECT_EQ(with.embedding_scripts, classifier->embedding_scripts());
  EXPECT_EQ(with.hidden_units, 0);

  auto small_batches = with;
  small_batches.embed_batch = 3;  // as a server retrains: the same model, whatever the batch
  auto again = IntentClassifier::train(small_intents(), embedder, small_batches);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_NEAR(again->oos_threshold(), classifier->oos_threshold(), 1e-3);
  EXPECT_NEAR(again->temperature(), classifier->temperature(), 1e-3);
  for (const auto& text : {"is it windy in London right now", "translate goodbye into Portuguese", "hey hello"}) {
    EXPECT_EQ(again->classify(text)->label, classifier->classify(text)->label) << text;
    EXPECT_NEAR(again->classify(text)->confidence, classifier->classify(text)->confidence, 1e-3) << text;
  }

  // model.json says where the data was; one whose record is not a list of files is damaged.
  std::ifstream meta_file(dir.file("m") + "/model.json");
  auto meta = nlohmann::json::parse(meta_file);
  EXPECT_EQ(meta["training"]["data"], nlohmann::json(options.data_files));
  meta["training"]["data"] = "/data/intents.jsonl";
  std::ofstream(dir.file("m") + "/model.json") << meta.dump();
  auto damaged = IntentClassifier::load(dir.file("m"), embedder);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, ErrorCode::kDataLoss);
}

// A text mostly in scripts the embedding model does not read (Chinese, for the English MiniLM) is
// classified by its n-grams alone and never embedded; the scripts are saved with the model.
TEST(IntentClassifierTest, TextsOutsideTheEmbeddingScriptsAreClassifiedByTheirNgramsAlone) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto options = quick_options();
  ASSERT_EQ(options.embedding_scripts, "Latin");
  auto trained = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_TRUE(trained) << trained.error().to_string();
  auto classifier = std::make_shared<const IntentClassifier>(std::move(*trained));
  const std::string chinese = "后天会下雨吗";
  EXPECT_TRUE(classifier->embeds("will it rain the day after tomorrow"));
  EXPECT_TRUE(classifier->embeds("Tesla 的 Model 3"));  // two words of three are Latin
  EXPECT_FALSE(classifier->embeds(chinese));

  // The batch path, the request path (Router) and the caller's empty embedding agree.
  auto batch = classifier->classify_batch({chinese});
  ASSERT_TRUE(batch) << batch.error().to_string();
  const IntentPrediction without = classifier->classify_embedded(chinese, {});
  auto understood = Router(embedder, classifier, nullptr).understand(chinese);
  ASSERT_TRUE(understood) << understood.error().to_string();
  for (const IntentPrediction* p : {&without, static_cast<const IntentPrediction*>(&*understood->intent)}) {
    EXPECT_EQ(p->label, batch->front().label);
    EXPECT_FLOAT_EQ(p->confidence, batch->front().confidence);
  }
  EXPECT_EQ(batch->front().ranked.front().first, "weather") << "the n-grams 下雨 still read it";

  TempDir dir;
  ASSERT_TRUE(classifier->save(dir.file("latin")));
  std::ifstream meta_file(dir.file("latin") + "/model.json");
  auto meta = nlohmann::json::parse(meta_file);
  EXPECT_EQ(meta["embedding_scripts"], "Latin");
  EXPECT_FALSE(IntentClassifier::load(dir.file("latin"), embedder)->embeds(chinese));
  // A model from before the setting embedded every text, and still does.
  meta.erase("embedding_scripts");
  std::ofstream(dir.file("latin") + "/model.json") << meta.dump();
  EXPECT_TRUE(IntentClassifier::load(dir.file("latin"), embedder)->embeds(chinese));

  options.embedding_scripts = "all";  // a multilingual embedding model
  EXPECT_TRUE(IntentClassifier::train(small_intents(), embedder, options)->embeds(chinese));
  options.embedding_scripts = "Latin,Elvish";
  auto unknown = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("Elvish"), std::string::npos) << unknown.error().message;
}

TEST(IntentClassifierTest, WithAHiddenLayerItLearnsSavesAndLoadsTheSameModel) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto options = quick_options();
  options.hidden_units = 32;
  auto classifier = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_TRUE(classifier) << classifier.error().to_string();
  const std::vector<std::string> unseen = {"is it windy in London right now", "translate goodbye into Portuguese",
                                           "hey hello"};
  auto predictions = classifier->classify_batch(unseen);
  ASSERT_TRUE(predictions) << predictions.error().to_string();
  EXPECT_EQ((*predictions)[0].ranked.front().first, "weather");
  EXPECT_EQ((*predictions)[1].ranked.front().first, "translate");
  EXPECT_EQ((*predictions)[2].ranked.front().first, "greeting");

  TempDir dir;
  const auto model_dir = dir.file("intents");
  ASSERT_TRUE(classifier->save(model_dir));
  std::ifstream meta_file(model_dir + "/model.json");
  EXPECT_EQ(nlohmann::json::parse(meta_file)["hidden_units"], 32);
  auto loaded = IntentClassifier::load(model_dir, embedder);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  auto again = loaded->classify_batch(unseen);
  ASSERT_TRUE(again);
  for (size_t i = 0; i < unseen.size(); ++i) {
    EXPECT_EQ((*again)[i].label, (*predictions)[i].label);
    EXPECT_FLOAT_EQ((*again)[i].confidence, (*predictions)[i].confidence);
  }

  // Trained again, it is the same model: the network's start is seeded.
  auto twin = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_TRUE(twin);
  EXPECT_FLOAT_EQ(twin->temperature(), classifier->temperature());
  EXPECT_FLOAT_EQ(twin->oos_threshold(), classifier->oos_threshold());

  fs::resize_file(model_dir + "/network.bin", fs::file_size(model_dir + "/network.bin") - 4);
  auto truncated = IntentClassifier::load(model_dir, embedder);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(truncated.error().message.find("network.bin"), std::string::npos) << truncated.error().message;
  fs::remove(model_dir + "/network.bin");
  auto missing = IntentClassifier::load(model_dir, embedder);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kDataLoss);
}

TEST(IntentClassifierTest, RefusesDataItCannotLearnFrom) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto one_label = IntentClassifier::train({{"hi", "greeting"}, {"hello", "greeting"}, {"zzz", "oos"}}, embedder,
                                           quick_options());
  ASSERT_FALSE(one_label);
  EXPECT_NE(one_label.error().message.find("at least two in-scope labels, got 1"), std::string::npos);

  auto options = quick_options();
  options.hash_bits = 40;
  auto bad_bits = IntentClassifier::train(small_intents(), embedder, options);
  ASSERT_FALSE(bad_bits);
  EXPECT_EQ(bad_bits.error().code, ErrorCode::kInvalidArgument);
}

TEST(IntentClassifierTest, DamagedOrForeignModelDirectoriesAreClearErrors) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  TempDir dir;
  auto missing = IntentClassifier::load(dir.file("none"), embedder);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

  auto classifier = IntentClassifier::train(small_intents(), embedder, quick_options());
  ASSERT_TRUE(classifier);
  const auto model_dir = dir.file("m");
  ASSERT_TRUE(classifier->save(model_dir));

  // A quality-gap loader must not accept an intent model.
  auto wrong_kind = QualityGapModel::load(model_dir, embedder);
  ASSERT_FALSE(wrong_kind);
  EXPECT_NE(wrong_kind.error().message.find("holds a intent model"), std::string::npos) << wrong_kind.error().message;

  fs::resize_file(model_dir + "/weights.bin", fs::file_size(model_dir + "/weights.bin") - 4);
  auto truncated = IntentClassifier::load(model_dir, embedder);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::kDataLoss);

  std::ofstream(model_dir + "/model.json") << "{not json";
  auto malformed = IntentClassifier::load(model_dir, embedder);
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().code, ErrorCode::kDataLoss);
}

TEST(RouterTest, EachModelGetsTheEmbeddingOnlyForTheScriptsItReads) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto intent_options = quick_options();  // Latin
  auto classifier = IntentClassifier::train(small_intents(), embedder, intent_options);
  ASSERT_TRUE(classifier) << classifier.error().to_string();
  auto intents = std::make_shared<const IntentClassifier>(std::move(*classifier));
  const std::vector<RoutingExample> examples = {{"Prove that there are infinitely many primes.", false, true},
                                                {"Hello, how are you?", true, true},
                                                {"证明有无穷多个素数。", false, true},
                                                {"你好，你好吗？", true, true}};
  TrainOptions quality_options;
  quality_options.hash_bits = 12;
  quality_options.max_iterations = 50;
  quality_options.holdout_fraction = 0;
  const std::string chinese = "证明根号二是无理数。";
  for (const std::string scripts : {"Latin", "all"}) {
    SCOPED_TRACE(scripts);
    quality_options.embedding_scripts = scripts;
    auto trained = QualityGapModel::train(examples, embedder, quality_options);
    ASSERT_TRUE(trained) << trained.error().to_string();
    auto quality = std::make_shared<const QualityGapModel>(std::move(*trained));
    EXPECT_EQ(quality->embedding_scripts(), scripts);
    EXPECT_EQ(intents->embedding_scripts(), "Latin");

    auto understood = Router(embedder, intents, quality).understand(chinese);
    ASSERT_TRUE(understood) << understood.error().to_string();
    EXPECT_FLOAT_EQ(understood->intent->confidence, intents->classify_embedded(chinese, {}).confidence);
    auto alone = quality->local_good_enough(chinese);  // embeds exactly when the model reads the text
    ASSERT_TRUE(alone) << alone.error().to_string();
    EXPECT_NEAR(*understood->local_good_enough, *alone, 1e-4);
    EXPECT_EQ(quality->embeds(chinese), scripts == "all");
  }
}

TEST(QualityGapModelTest, RanksPromptsTheSmallModelFailsBelowOnesItHandles) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  // Proofs and multi-step problems: only the strong model is right. Small talk and lookups: both.
  const std::vector<std::string> hard = {
      "Prove that there are infinitely many primes of the form 4k+3.",
      "A train leaves at 3pm at 80 km/h, another at 4pm at 120 km/h; when does the second catch up?",
      "Derive the closed form of the sum of k^3 for k from 1 to n and prove it by induction.",
      "Solve the system 3x + 2y - z = 1, 2x - 2y + 4z = -2, -x + y/2 - z = 0.",
      "Show that every bounded monotone sequence of real numbers converges.",
      "If 5 machines make 5 widgets in 5 minutes, how long do 100 machines take for 100 widgets? Explain each step.",
      "Find all integer solutions of x^2 - 7y^2 = 1 with x below 1000.",
      "Compute the eigenvalues of the matrix [[2, 1], [1, 3]] and their eigenvectors."};
  const std::vector<std::string> easy = {"Hello, how are you?",        "What is the capital of France?",
                                         "Say hi to my friend Tom.",   "What colour is the sky?",
                                         "Thank you very much!",       "Who wrote Romeo and Juliet?",
                                         "Good morning, nice weather", "How many days are in a week?"};
  std::vector<RoutingExample> examples;
  for (const auto& p : hard) examples.push_back({p, false, true});
  for (const auto& p : easy) examples.push_back({p, true, true});
  TrainOptions options;
  options.hash_bits = 12;
  options.max_iterations = 100;
  options.holdout_fraction = 0;
  auto model = QualityGapModel::train(examples, embedder, options);
  ASSERT_TRUE(model) << model.error().to_string();
  auto scores = model->local_good_enough_batch(
      {"Prove that the square root of 2 is irrational.", "Hi! What's your name?"});
  ASSERT_TRUE(scores) << scores.error().to_string();
  EXPECT_LT((*scores)[0], (*scores)[1]);

  TempDir dir;
  ASSERT_TRUE(model->save(dir.file("q")));
  auto loaded = QualityGapModel::load(dir.file("q"), embedder);
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  auto score = loaded->local_good_enough("Prove that the square root of 2 is irrational.");
  ASSERT_TRUE(score);
  EXPECT_NEAR(*score, (*scores)[0], 1e-4);  // alone vs in a batch of two: the last digits may differ

  auto eval = evaluate_routing(*loaded, examples);
  ASSERT_TRUE(eval);
  // On its own training data it ranks every gap prompt first, as an oracle would.
  std::vector<float> oracle;
  for (const auto& e : examples) oracle.push_back(e.weak_correct ? 1.0F : 0.0F);
  EXPECT_NEAR(eval->apgr, routing_curve(oracle, examples).apgr, 1e-9);

  // Calibrated for half the traffic, the threshold sends half of these prompts to the cloud.
  EXPECT_LE(loaded->threshold_for_cloud_share(0.0), loaded->threshold_for_cloud_share(0.5));
  EXPECT_LE(loaded->threshold_for_cloud_share(0.5), loaded->threshold_for_cloud_share(1.0));
  auto at_half = evaluate_routing(*loaded, examples, 0.5);
  ASSERT_TRUE(at_half);
  EXPECT_NEAR(at_half->achieved_cloud_share, 0.5, 1.0 / 16);
  EXPECT_GT(at_half->accuracy_at_target, at_half->weak_accuracy);

  std::vector<RoutingExample> no_gap = {{"a", true, true}, {"b", false, false}};
  auto refused = QualityGapModel::train(no_gap, embedder, options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::router
