// The CLI as a user runs it: `tandem router` (train on a file, evaluate with --json, classify,
// clear errors with exit code 2 for data it cannot use), `tandem ask`, `tandem config check`,
// `tandem devices`, `tandem energy meter` and `tandem pii train` / `scan` with the token tagger.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "privacy/keyring.h"
#include "privacy/sealed_file.h"
#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

ProcessOutput tandem(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--set", "engine.embedding_model=" + embedding_model_path()};
  all.insert(all.end(), args.begin(), args.end());
  return run_tandem(all);
}

void write(const std::string& path, const std::vector<json>& lines) {
  std::ofstream out(path);
  for (const auto& line : lines) out << line.dump() << "\n";
}

TEST(RouterCliTest, TrainEvaluateAndClassify) {
  TempDir dir;
  std::vector<json> train;
  for (const char* t : {"what's the weather", "will it rain today", "is it sunny outside", "forecast for tomorrow",
                        "how hot is it", "will it snow tonight"})
    train.push_back({{"text", t}, {"label", "weather"}});
  for (const char* t : {"play some jazz", "put on my playlist", "play the next song", "start the music",
                        "play songs by Adele", "shuffle my music"})
    train.push_back({{"text", t}, {"label", "music"}});
  for (const char* t : {"asdf", "qwerty uiop", "zzzz"}) train.push_back({{"text", t}, {"label", "none"}});
  write(dir.file("train.jsonl"), train);
  write(dir.file("test.jsonl"), {{{"text", "is it going to be windy"}, {"label", "weather"}},
                                 {{"text", "play my favourite album"}, {"label", "music"}},
                                 {{"text", "xkcd qqq"}, {"label", "none"}}});

  auto trained = tandem({"router", "train-intents", "--data", dir.file("train.jsonl"), "--out", dir.file("model"),
                         "--oos-label", "none", "--iterations", "100"});
  ASSERT_EQ(trained.exit_code, 0) << trained.stderr_text;
  EXPECT_NE(trained.stderr_text.find("3 labels from 15 examples"), std::string::npos) << trained.stderr_text;
  // model.json says what to retrain on: an absolute path, or one relative to the model for data
  // inside its directory (which moves with it).
  std::filesystem::create_directories(dir.file("model2"));
  std::filesystem::copy_file(dir.file("train.jsonl"), dir.file("model2/own.jsonl"));
  auto inside =
      tandem({"router", "train-intents", "--data", dir.file("model2/own.jsonl"), "--data", dir.file("train.jsonl"),
              "--out", dir.file("model2"), "--oos-label", "none", "--iterations", "20"});
  ASSERT_EQ(inside.exit_code, 0) << inside.stderr_text;
  std::ifstream meta_file(dir.file("model2/model.json"));
  EXPECT_EQ(json::parse(meta_file)["training"]["data"],
            json::array({"own.jsonl", std::filesystem::absolute(dir.file("train.jsonl")).lexically_normal().string()}));

  auto eval = tandem({"router", "eval-intents", "--model", dir.file("model"), "--data", dir.file("test.jsonl"),
                      "--oos-label", "none", "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.stderr_text;
  const auto metrics = json::parse(eval.stdout_text);
  for (const char* key : {"in_scope_accuracy", "oos_recall", "oos_precision", "latency_ms_p50", "latency_ms_p95", "n"}) {
    EXPECT_TRUE(metrics.contains(key)) << key << " missing from " << eval.stdout_text;
  }
  EXPECT_EQ(metrics["n"], 3);
  EXPECT_EQ(metrics["in_scope"], 2);

  auto classified = tandem({"router", "classify", "--model", dir.file("model"), "--", "play something relaxing"});
  ASSERT_EQ(classified.exit_code, 0) << classified.stderr_text;
  EXPECT_EQ(json::parse(classified.stdout_text)["ranked"][0]["label"], "music") << classified.stdout_text;
}

// What the server learns is sealed with the keyring's router key (router.learned_examples,
// router.cascade_outcomes); the router commands open such files with the same keyring.
TEST(RouterCliTest, SealedRoutingExamplesTrainAndEvaluateWithTheKeyring) {
  TempDir dir;
  const auto keyring_path = dir.file("keyring.json");
  auto keyring = privacy::Keyring::open({.path = keyring_path, .mode = "local"});
  ASSERT_TRUE(keyring) << keyring.error().message;
  auto key = (*keyring)->data_key("router");
  ASSERT_TRUE(key) << key.error().message;
  const auto seal = [&](const std::string& path, const std::vector<json>& lines) {
    auto log = privacy::RecordLog::open(path, *key);
    ASSERT_TRUE(log) << log.error().message;
    for (const auto& line : lines) ASSERT_TRUE((*log)->append(line.dump()));
  };
  std::vector<json> examples;
  for (const char* p : {"prove the Riemann hypothesis", "derive the Navier-Stokes equations", "solve this integral"})
    examples.push_back({{"prompt", p}, {"weak_correct", false}, {"strong_correct", true}});
  for (const char* p : {"say hello", "what colour is the sky", "name a fruit"})
    examples.push_back({{"prompt", p}, {"weak_correct", true}, {"strong_correct", true}});
  seal(dir.file("train.sealed"), examples);
  seal(dir.file("test.sealed"), {examples.front(), examples.back()});
  const std::vector<std::string> with_keyring = {"--set", "security.keyring=" + keyring_path, "--set",
                                                 "security.encryption=local"};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), with_keyring.begin(), with_keyring.end());
    return tandem(args);
  };

  auto trained = with({"router", "train-routing", "--data", dir.file("train.sealed"), "--out", dir.file("model")});
  ASSERT_EQ(trained.exit_code, 0) << trained.stderr_text;
  EXPECT_NE(trained.stderr_text.find("from 6 prompts"), std::string::npos) << trained.stderr_text;
  auto evaluated =
      with({"router", "eval-routing", "--model", dir.file("model"), "--data", dir.file("test.sealed"), "--json"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.stderr_text;
  EXPECT_EQ(json::parse(evaluated.stdout_text)["n"], 2) << evaluated.stdout_text;

  // Without the keyring that sealed them, the files are refused, not misread.
  auto stranger =
      tandem({"--set", "security.keyring=" + dir.file("other-keyring.json"), "--set", "security.encryption=local",
              "router", "eval-routing", "--model", dir.file("model"), "--data", dir.file("test.sealed")});
  EXPECT_NE(stranger.exit_code, 0);
  EXPECT_EQ(stranger.stdout_text, "");
  EXPECT_NE(stranger.stderr_text.find("not with the keyring's key"), std::string::npos) << stranger.stderr_text;
}

TEST(AskCliTest, AnswersAndSaysWhereItRan) {
  auto asked = tandem({"--set", "router.intent_model=" + intent_model_dir(), "--set", "engine.model=" + chat_model_path(),
                       "ask", "--stats", "-t", "0", "-n", "8", "What is the capital of France?"});
  ASSERT_EQ(asked.exit_code, 0) << asked.stderr_text;
  EXPECT_FALSE(asked.stdout_text.empty());
  EXPECT_NE(asked.stderr_text.find("route: local (auto), intent '"), std::string::npos) << asked.stderr_text;
  EXPECT_NE(asked.stderr_text.find("no cloud provider is configured"), std::string::npos) << asked.stderr_text;
  EXPECT_NE(asked.stderr_text.find("answered by local/"), std::string::npos) << asked.stderr_text;

  auto cloud = tandem({"--set", "engine.model=" + chat_model_path(), "ask", "-r", "cloud", "Hi"});
  EXPECT_EQ(cloud.exit_code, 2);
  EXPECT_NE(cloud.stderr_text.find("none is configured"), std::string::npos) << cloud.stderr_text;
}

TEST(ConfigCliTest, CheckRefusesACloudThatCannotWork) {
  TempDir dir;
  std::ofstream(dir.file("ftp.toml")) << "[cloud]\nbase_url = \"ftp://example.com/v1\"\nmodel = \"m\"\n";
  auto ftp = run_tandem({"config", "check", dir.file("ftp.toml")});
  EXPECT_EQ(ftp.exit_code, 2);
  EXPECT_NE(ftp.stderr_text.find("base_url must use http or https"), std::string::npos) << ftp.stderr_text;

  std::ofstream(dir.file("key.toml")) << "[cloud]\nbase_url = \"https://example.com/v1\"\nmodel = \"m\"\n"
                                      << "api_key_env = \"TANDEM_TEST_KEY_THAT_IS_NOT_SET\"\n";
  auto key = run_tandem({"config", "check", dir.file("key.toml")});
  EXPECT_EQ(key.exit_code, 2);
  EXPECT_NE(key.stderr_text.find("TANDEM_TEST_KEY_THAT_IS_NOT_SET (api_key_env) is not set"), std::string::npos)
      << key.stderr_text;
}

TEST(ConfigCliTest, CheckRefusesWhatACommandWouldRefuseAndNamesEveryProblem) {
  TempDir dir;
  std::ofstream(dir.file("bad.toml")) << "[privacy]\nblock = \"secret,shoe_size\"\n"
                                      << "[security]\ntpm_pcrs = \"7,99\"\n"
                                      << "[knowledge]\nembedding_scripts = \"Latin,Elvish\"\n";
  auto bad = run_tandem({"config", "check", dir.file("bad.toml")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("privacy.block: unknown entity type 'shoe_size'"), std::string::npos)
      << bad.stderr_text;
  EXPECT_NE(bad.stderr_text.find("security.tpm_pcrs must be comma-separated PCR numbers 0..23, not '7,99'"),
            std::string::npos)
      << bad.stderr_text;
  EXPECT_NE(bad.stderr_text.find("Elvish"), std::string::npos) << bad.stderr_text;
  EXPECT_EQ(bad.stdout_text.find("valid"), std::string::npos) << bad.stdout_text;

  auto good = run_tandem({"config", "check"});
  EXPECT_EQ(good.exit_code, 0) << good.stderr_text;
}

TEST(RouterCliTest, UnusableDataIsAClearErrorWithExitCodeTwo) {
  TempDir dir;
  std::ofstream(dir.file("empty.jsonl")).flush();
  auto empty = tandem({"router", "train-intents", "--data", dir.file("empty.jsonl"), "--out", dir.file("m")});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.stderr_text.find("has no examples"), std::string::npos) << empty.stderr_text;

  std::ofstream(dir.file("bad.jsonl")) << "{\"text\": \"ok\", \"label\": \"a\"}\n{\"text\": \"no label\"}\n";
  auto bad = tandem({"router", "train-routing", "--data", dir.file("bad.jsonl"), "--out", dir.file("m")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.stderr_text.find("bad.jsonl:1: \"prompt\" must be a string"), std::string::npos) << bad.stderr_text;

  write(dir.file("unknown.jsonl"), {{{"text", "book a table"}, {"label", "restaurant"}}});
  auto unknown = tandem({"router", "eval-intents", "--model", intent_model_dir(), "--data", dir.file("unknown.jsonl")});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.stderr_text.find("\"restaurant\" is not one the model was trained on"), std::string::npos) << unknown.stderr_text;

  auto missing_model = tandem({"router", "eval-intents", "--model", dir.file("nope"), "--data", dir.file("unknown.jsonl")});
  EXPECT_EQ(missing_model.exit_code, 1);
  EXPECT_NE(missing_model.stderr_text.find("no router model at"), std::string::npos) << missing_model.stderr_text;
}

// `tandem pii train` writes weights that `tandem pii scan` reads through privacy.tagger; a configured
// file that is missing or damaged stops the command with the reason, a missing default one is a
// warning, and "off" leaves the rules alone.
TEST(PiiCliTest, TrainsATaggerThatScanUsesAndRefusesABadOne) {
  TempDir dir;
  const std::vector<std::string> names = {"Maria Gonzalez", "Daniel Okafor", "Anna Reid", "Paul Martin", "Ines Soto"};
  const std::vector<std::string> cities = {"Oslo", "Calgary", "Lyon", "Porto", "Tartu", "Kiel", "Bauru"};
  json items = json::array();
  for (size_t i = 0; i < 40; ++i) {
    const std::string& name = names[i % names.size()];
    const std::string& city = cities[i % cities.size()];
    const std::string lead = "Please send the parcel to ";
    const std::string text = lead + name + " in " + city + ".";  // ASCII: code points are bytes
    const size_t city_at = lead.size() + name.size() + 4;
    items.push_back({{"full_text", text},
                     {"spans", {{{"entity_type", "PERSON"}, {"start_position", lead.size()},
                                 {"end_position", lead.size() + name.size()}},
                                {{"entity_type", "LOCATION"}, {"start_position", city_at},
                                 {"end_position", city_at + city.size()}}}}});
  }
  std::ofstream(dir.file("set.json")) << items.dump();
  const std::string gazetteer = "privacy.gazetteer=" + gazetteer_path();
  auto trained = tandem({"--set", gazetteer, "pii", "train", "--data", dir.file("set.json"), "--out",
                         dir.file("tagger.bin"), "--epochs", "5"});
  ASSERT_EQ(trained.exit_code, 0) << trained.stderr_text;
  EXPECT_NE(trained.stdout_text.find("trained on 30 texts (dev split)"), std::string::npos) << trained.stdout_text;

  std::ofstream(dir.file("request.txt")) << "Please send the parcel to Ines Soto in Bauru.";
  const auto scan = [&](const std::string& tagger) {
    return tandem({"--set", gazetteer, "--set", "privacy.tagger=" + tagger, "pii", "scan", "--json",
                   dir.file("request.txt")});
  };
  auto with_tagger = scan(dir.file("tagger.bin"));
  ASSERT_EQ(with_tagger.exit_code, 0) << with_tagger.stderr_text;
  const auto found = json::parse(with_tagger.stdout_text);
  EXPECT_TRUE(found["tagger"].get<bool>());
  std::vector<std::pair<std::string, std::string>> entities;
  for (const auto& e : found["entities"]) entities.emplace_back(e["type"], e["text"]);
  EXPECT_EQ(entities, (std::vector<std::pair<std::string, std::string>>{{"person", "Ines Soto"}, {"location", "Bauru"}}))
      << with_tagger.stdout_text;

  auto off = scan("off");
  ASSERT_EQ(off.exit_code, 0) << off.stderr_text;
  EXPECT_FALSE(json::parse(off.stdout_text)["tagger"].get<bool>());

  // No tagger at the default place (<cache>/models/pii-tagger.bin): a warning, and the rules alone.
  std::vector<std::string> args = {"--set", "engine.embedding_model=" + embedding_model_path(), "--set", gazetteer,
                                   "pii", "scan", "--json", dir.file("request.txt")};
  auto fallback =
      run_tandem(args, std::chrono::seconds(60), {"TANDEM_CACHE=" + dir.file("cache"), "TANDEM_PRIVACY_TAGGER="});
  ASSERT_EQ(fallback.exit_code, 0) << fallback.stderr_text;
  EXPECT_FALSE(json::parse(fallback.stdout_text)["tagger"].get<bool>());
  EXPECT_NE(fallback.stderr_text.find("found by the rules alone"), std::string::npos) << fallback.stderr_text;

  auto missing = scan(dir.file("none.bin"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.stderr_text.find("privacy.tagger: cannot open PII tagger"), std::string::npos)
      << missing.stderr_text;
  std::ofstream(dir.file("damaged.bin")) << "tandem-pii-tagger 1\nfeatures 3\nscale 1\nsha256 00\n\nxyz";
  auto damaged = scan(dir.file("damaged.bin"));
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.stderr_text.find("not a PII tagger file (checksum mismatch"), std::string::npos)
      << damaged.stderr_text;
}

TEST(DevicesCliTest, ListsTheCpuWithMemoryAndFeatures) {
  auto out = tandem({"devices", "--json"});
  ASSERT_EQ(out.exit_code, 0) << out.stderr_text;
  auto devices = json::parse(out.stdout_text);
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices[0]["kind"], "cpu");
  EXPECT_GT(devices[0]["memory_total"].get<uint64_t>(), 0U);
  EXPECT_LE(devices[0]["memory_free"].get<uint64_t>(), devices[0]["memory_total"].get<uint64_t>());
  EXPECT_FALSE(devices[0]["features"].empty());
}

TEST(EnergyCliTest, SaysHowEachFigureWasObtained) {
  auto out = tandem({"--set", "energy.cpu_tdp_w=40", "energy", "meter", "--seconds", "0.3", "--json"});
  ASSERT_EQ(out.exit_code, 0) << out.stderr_text;
  auto meters = json::parse(out.stdout_text);
  ASSERT_EQ(meters.size(), 2U);  // the CPU's, and NVML's (here: not available, and why)
  const auto& cpu = meters[0];
  ASSERT_FALSE(cpu.contains("error")) << cpu.dump();
  EXPECT_TRUE(cpu["method"] == "rapl" || cpu["method"] == "estimate") << cpu.dump();
  EXPECT_FALSE(cpu["why"].get<std::string>().empty());
  EXPECT_GE(cpu["watts"].get<double>(), 0.0);
  if (cpu["method"] == "estimate") {
    EXPECT_LE(cpu["watts"].get<double>(), 40.0 + 1e-9);
  }
  EXPECT_EQ(meters[1]["method"], "nvml");
  EXPECT_TRUE(meters[1].contains("error") || meters[1].contains("watts")) << meters[1].dump();
}

}  // namespace
}  // namespace tandem::testing
