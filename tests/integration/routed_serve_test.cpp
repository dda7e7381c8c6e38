// `tandem serve` routing between the local model and a "public cloud" (llama.cpp's own
// llama-server on loopback, behind the fault-injecting proxy): tandem/auto and tandem/cloud carry
// their decision in the JSON and the headers, sensitive requests stay local, and a cloud that
// refuses the key or answers garbage falls back to the local model, marked, without leaking the key.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "privacy/keyring.h"
#include "providers/llama_server.h"
#include "router/router.h"
#include "support/fault_proxy.h"
#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

constexpr const char* kSecretKey = "sk-tandem-test-5f3a9c";

// The "router" data key of a server's local-mode keyring: what its learned examples are sealed with.
Result<privacy::Key> router_key_of(const std::string& keyring_path) {
  auto keyring = privacy::Keyring::open({.path = keyring_path, .mode = "local"});
  if (!keyring) return keyring.error();
  return (*keyring)->data_key("router");
}

json chat(const std::string& model, const std::string& prompt, bool stream = false) {
  json body = {{"model", model},
               {"messages", {{{"role", "user"}, {"content", prompt}}}},
               {"temperature", 0},
               {"max_tokens", 8}};
  if (stream) body["stream"] = true;
  return body;
}

class RoutedServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!llama_server_available()) return;
    auto cloud = LlamaServer::start();
    ASSERT_TRUE(cloud) << cloud.error().message;
    cloud_ = cloud->release();
    auto proxy = FaultProxy::start(cloud_->port());
    ASSERT_TRUE(proxy) << proxy.error().message;
    proxy_ = proxy->release();
    data_ = new TempDir();
    auto tandem = ServerProcess::start({"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir(),
                                        "--set", "router.learned_examples=" + data_->file("learned.jsonl"),
                                        "--set", "privacy.audit_log=" + data_->file("audit.log"),
                                        "--set", "energy.usage_log=" + data_->file("usage.jsonl"),
                                        "--set", "cloud.base_url=" + proxy_->base_url(), "--set", "cloud.model=big",
                                        "--set", "cloud.api_key_env=TANDEM_TEST_CLOUD_KEY", "--set",
                                        "cloud.input_usd_per_mtok=2.5", "--set", "cloud.output_usd_per_mtok=10",
                                        // 5 s: room for a loaded machine, still well under the 10 s hang fault.
                                        "--set", "cloud.max_retries=0", "--set", "cloud.timeout_ms=5000",
                                        // The fault tests fail the cloud on purpose; the breaker has tests of its own.
                                        "--set", "cloud.circuit_failures=0"},
                                       {std::string("TANDEM_TEST_CLOUD_KEY=") + kSecretKey});
    ASSERT_TRUE(tandem) << tandem.error().message;
    tandem_ = tandem->release();
  }
  static void TearDownTestSuite() {
    delete tandem_;
    delete proxy_;
    delete cloud_;
    delete data_;
  }
  void SetUp() override {
    if (!llama_server_available()) GTEST_SKIP() << "no llama-server in this build (TANDEM_BUILD_BENCH=OFF)";
    ASSERT_NE(tandem_, nullptr);
    proxy_->set_fault({.kind = FaultKind::kPassThrough});
  }

  static json post(const json& body, httplib::Headers* headers = nullptr) {
    auto client = loopback_client(tandem_->port());
    auto res = post_json(client, "/v1/chat/completions", body);
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->body.find(kSecretKey), std::string::npos);
    if (headers) *headers = res->headers;
    return json::parse(res->body);
  }

  static LlamaServer* cloud_;
  static FaultProxy* proxy_;
  static ServerProcess* tandem_;
  static TempDir* data_;
};

LlamaServer* RoutedServeTest::cloud_ = nullptr;
FaultProxy* RoutedServeTest::proxy_ = nullptr;
ServerProcess* RoutedServeTest::tandem_ = nullptr;
TempDir* RoutedServeTest::data_ = nullptr;

TEST_F(RoutedServeTest, ForcedCloudAnswersFromTheCloudWithItsCost) {
  httplib::Headers headers;
  const size_t before = proxy_->request_bodies().size();
  const auto body = post(chat("tandem/cloud", "Name a colour."), &headers);
  // The client's sampling goes to the cloud; what it left out stays the public model's default,
  // not the local engine's (top_p 0.95).
  ASSERT_EQ(proxy_->request_bodies().size(), before + 1);
  const auto sent = json::parse(proxy_->request_bodies().back());
  EXPECT_EQ(sent["temperature"], 0);
  EXPECT_EQ(sent["max_tokens"], 8);
  EXPECT_FALSE(sent.contains("top_p")) << sent.dump();
  EXPECT_FALSE(sent.contains("presence_penalty")) << sent.dump();
  const auto& t = body["tandem"];
  EXPECT_EQ(t["route"], "cloud");
  EXPECT_EQ(t["mode"], "cloud");
  EXPECT_EQ(t["fallback"], false);
  EXPECT_EQ(t["provider"], "remote/big");
  EXPECT_GT(t["cost_usd"].get<double>(), 0.0);
  EXPECT_GT(t["estimates"]["cloud"]["cost_usd"].get<double>(), 0.0);
  EXPECT_EQ(t["reasons"], json::array({"tandem/cloud requested"}));
  EXPECT_FALSE(body["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_EQ(headers.find("X-Tandem-Route")->second, "cloud");
  EXPECT_EQ(proxy_->last_authorization(), std::string("Bearer ") + kSecretKey);

  // The same request streamed: the decision is in the headers before the first token, and the
  // text is the cloud's greedy answer again.
  auto client = loopback_client(tandem_->port());
  std::string streamed;
  auto res = post_streaming(client, "/v1/chat/completions", chat("tandem/cloud", "Name a colour.", true),
                            [&](std::string_view data) {
                              streamed += data;
                              return true;
                            });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "cloud");
  EXPECT_EQ(streamed_text(streamed), body["choices"][0]["message"]["content"]);
  const auto events = sse_data(streamed);
  ASSERT_GE(events.size(), 2U);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["tandem"]["route"], "cloud");
}

TEST_F(RoutedServeTest, PersonalDataLeavesOnlyAsPlaceholdersAndEveryEgressIsAudited) {
  const std::string email = "li.na@example.cn";
  const std::string resident_id = "11010519491231002X";
  const size_t before = proxy_->request_bodies().size();
  auto reply = post(chat("tandem/cloud", "My e-mail is " + email + " and my ID is " + resident_id + ". Say hello."));
  const auto bodies = proxy_->request_bodies();
  ASSERT_GT(bodies.size(), before);
  for (size_t i = before; i < bodies.size(); ++i) {
    EXPECT_EQ(bodies[i].find(email), std::string::npos) << bodies[i];
    EXPECT_EQ(bodies[i].find(resident_id), std::string::npos) << bodies[i];
    EXPECT_NE(bodies[i].find("<EMAIL_1>"), std::string::npos) << bodies[i];
  }
  const auto& privacy = reply["tandem"]["privacy"];
  EXPECT_TRUE(privacy["sent_to_cloud"].get<bool>());
  EXPECT_EQ(privacy["pseudonymized"]["email"], 1);
  EXPECT_EQ(privacy["pseudonymized"]["cn_resident_id"], 1);

  auto verify = run_tandem({"--set", "privacy.audit_log=" + data_->file("audit.log"), "audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
  auto show = run_tandem({"--set", "privacy.audit_log=" + data_->file("audit.log"), "audit", "show", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.stderr_text;
  EXPECT_NE(show.stdout_text.find("cn_resident_id"), std::string::npos) << show.stdout_text;
  EXPECT_EQ(show.stdout_text.find(resident_id), std::string::npos);
}

TEST_F(RoutedServeTest, EveryAnswerSaysWhatItCostInEnergyAndHowThatWasObtained) {
  auto local = post(chat("tandem/local", "Say hi."));
  const auto& mine = local["tandem"]["usage"];
  const std::string method = mine["energy_method"];
  EXPECT_TRUE(method == "rapl" || method == "estimate") << mine.dump();
  EXPECT_FALSE(mine["energy_scope"].get<std::string>().empty());
  EXPECT_GE(mine["energy_wh"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(mine["cost_usd"].get<double>(), 0.0);
  EXPECT_TRUE(mine.contains("cached_prompt_tokens"));  // the engine's usage is kept
  // Prompt and generation energy add up to the whole; without a stream the split is by time.
  EXPECT_EQ(mine["energy_split"], "time share");
  EXPECT_NEAR(mine["energy_wh_prompt"].get<double>() + mine["energy_wh_generation"].get<double>(),
              mine["energy_wh"].get<double>(), 1e-12);
  EXPECT_GE(mine["energy_wh_prompt"].get<double>(), 0.0);
  {  // a stream marks its first token, so the meter is read where the prompt ends
    auto client = loopback_client(tandem_->port());
    std::string streamed;
    auto res = post_streaming(client, "/v1/chat/completions", chat("tandem/local", "Say hi.", true),
                              [&](std::string_view data) {
                                streamed += data;
                                return true;
                              });
    ASSERT_TRUE(res);
    const auto events = sse_data(streamed);
    ASSERT_GE(events.size(), 2U);
    const auto usage = json::parse(events[events.size() - 2])["tandem"]["usage"];
    EXPECT_EQ(usage["energy_split"], "first token") << usage.dump();
    EXPECT_NEAR(usage["energy_wh_prompt"].get<double>() + usage["energy_wh_generation"].get<double>(),
                usage["energy_wh"].get<double>(), 1e-12);
  }

  auto cloud = post(chat("tandem/cloud", "Say hi."));
  const auto& theirs = cloud["tandem"]["usage"];
  EXPECT_EQ(theirs["energy_method"], "estimate") << theirs.dump();
  EXPECT_NE(theirs["energy_scope"].get<std::string>().find("cloud"), std::string::npos);
  EXPECT_GT(theirs["energy_wh"].get<double>(), 0.0);
  EXPECT_NEAR(theirs["co2_g"].get<double>(), theirs["energy_wh"].get<double>() * 445 / 1000, 1e-9);
  EXPECT_GT(theirs["cost_usd"].get<double>(), 0.0);

  // The same answers, counted for Prometheus.
  auto client = loopback_client(tandem_->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  for (const char* line : {"tandem_requests_total{route=\"local\"}", "tandem_requests_total{route=\"cloud\"}",
                           "tandem_energy_wh_total{route=\"cloud\"}", "tandem_cost_usd_total{route=\"cloud\"}",
                           "tandem_request_duration_seconds_count{route=\"local\"}", "tandem_cloud_share "}) {
    EXPECT_NE(metrics->body.find(line), std::string::npos) << line << "\n" << metrics->body;
  }

  // And kept for the report, next to the all-cloud baseline.
  auto report = run_tandem({"--set", "energy.usage_log=" + data_->file("usage.jsonl"), "--set",
                            "cloud.input_usd_per_mtok=2.5", "--set", "cloud.output_usd_per_mtok=10", "energy",
                            "report", "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.stderr_text;
  const auto totals = json::parse(report.stdout_text);
  EXPECT_GE(totals["by_route"]["local"]["answers"].get<int>(), 1) << totals.dump();
  EXPECT_GE(totals["by_route"]["cloud"]["answers"].get<int>(), 1);
  EXPECT_GE(totals["all_cloud"]["cost_usd"].get<double>(), totals["by_route"]["cloud"]["cost_usd"].get<double>());
  EXPECT_TRUE(totals["saved"].contains("energy_wh"));
}

TEST_F(RoutedServeTest, AutoKeepsSensitiveRequestsLocalAndExplainsWhy) {
  httplib::Headers headers;
  const int cloud_calls = proxy_->connections();
  const auto body =
      post(chat("tandem/auto", "My blood test shows high cholesterol and my bank PIN is 4821. What should I do?"),
           &headers);
  const auto& t = body["tandem"];
  EXPECT_EQ(t["route"], "local");
  EXPECT_EQ(t["mode"], "auto");
  ASSERT_TRUE(t.contains("intent"));
  EXPECT_NE(t["reasons"].back().get<std::string>().find("stays on the device"), std::string::npos) << t.dump();
  EXPECT_EQ(headers.find("X-Tandem-Route")->second, "local");
  EXPECT_NE(headers.find("X-Tandem-Intent"), headers.end());
  EXPECT_EQ(proxy_->connections(), cloud_calls);  // nothing went to the cloud
}

TEST_F(RoutedServeTest, ACloudThatRefusesTheKeyAnswersGarbageOrHangsFallsBackToLocal) {
  for (const auto& fault : {Fault{.kind = FaultKind::kStatus, .status = 401}, Fault{.kind = FaultKind::kGarbageJson},
                            Fault{.kind = FaultKind::kHang, .hang = std::chrono::seconds(10)}}) {
    proxy_->set_fault(fault);
    for (const bool stream : {false, true}) {
      auto client = loopback_client(tandem_->port());
      std::string streamed;
      auto res = stream ? post_streaming(client, "/v1/chat/completions", chat("tandem/cloud", "Hi", true),
                                         [&](std::string_view data) {
                                           streamed += data;
                                           return true;
                                         })
                        : post_json(client, "/v1/chat/completions", chat("tandem/cloud", "Hi"));
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << res->body;
      const std::string text = stream ? streamed : res->body;
      EXPECT_EQ(text.find(kSecretKey), std::string::npos) << text;
      const auto events = stream ? sse_data(text) : std::vector<std::string>{};
      const json t = stream ? json::parse(events[events.size() - 2])["tandem"] : json::parse(text)["tandem"];
      EXPECT_EQ(t["route"], "local") << t.dump();
      EXPECT_EQ(t["fallback"], true);
      EXPECT_NE(t["reasons"].back().get<std::string>().find("the cloud failed"), std::string::npos) << t.dump();
      if (!stream) {  // a whole answer's headers agree with its body; a stream's left with the decision
        EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "local");
        EXPECT_EQ(res->get_header_value("X-Tandem-Fallback"), "true");
        EXPECT_EQ(res->get_header_value_count("X-Tandem-Route"), 1U);
      }
    }
  }
}

// When the cloud fails on a prompt the local model cannot hold either, the client hears of the
// cloud's failure (retryable), not of a context it never asked for.
TEST_F(RoutedServeTest, ACloudFailureOnAPromptTooLongForTheLocalModelIsReportedAsTheCloudsFailure) {
  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 500});
  std::string prompt;
  for (int i = 0; i < 3000; ++i) prompt += "word ";
  auto client = loopback_client(tandem_->port());
  auto res = post_json(client, "/v1/chat/completions", chat("tandem/cloud", prompt));
  ASSERT_TRUE(res);
  EXPECT_GE(res->status, 500) << res->body;
  const std::string message = json::parse(res->body)["error"]["message"];
  EXPECT_NE(message.find("the local model could not answer instead"), std::string::npos) << message;
  EXPECT_EQ(message.find(kSecretKey), std::string::npos) << message;
}

TEST_F(RoutedServeTest, ACloudStreamCutAfterItsFirstWordsEndsWithAnErrorEvent) {
  // Part of the cloud's answer already reached the client, so the local model cannot take over.
  proxy_->set_fault({.kind = FaultKind::kResetMidStream, .after_events = 3});
  auto client = loopback_client(tandem_->port());
  std::string streamed;
  json body = chat("tandem/cloud", "Count from one to twenty.", true);
  body["max_tokens"] = 24;
  auto res = post_streaming(client, "/v1/chat/completions", body, [&](std::string_view data) {
    streamed += data;
    return true;
  });
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto events = sse_data(streamed);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]");
  const auto error = json::parse(events.back());
  EXPECT_NE(error["error"]["message"].get<std::string>().find("after part of the answer was streamed"),
            std::string::npos)
      << events.back();
  EXPECT_EQ(streamed.find(kSecretKey), std::string::npos);
  // The server keeps serving.
  proxy_->set_fault({.kind = FaultKind::kPassThrough});
  EXPECT_EQ(post(chat("tandem/cloud", "Hi"))["tandem"]["route"], "cloud");
}

TEST_F(RoutedServeTest, CascadeReportsBothAttemptsAndKeepsItsVerdict) {
  TempDir dir;
  const auto outcomes = dir.file("cascade_outcomes.jsonl");
  const auto keyring_path = dir.file("keyring.json");
  // A server whose threshold no local answer reaches: every cascade escalates.
  auto tandem = ServerProcess::start(
      {"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir(), "--set",
       "cloud.base_url=" + proxy_->base_url(), "--set", "cloud.model=big", "--set", "router.ask_cloud_below=0", "--set",
       "router.cascade_min_mean_logprob=0", "--set", "router.cascade_outcomes=" + outcomes, "--set",
       "security.keyring=" + keyring_path, "--set", "security.encryption=local"});
  ASSERT_TRUE(tandem) << tandem.error().message;
  auto client = loopback_client((*tandem)->port());
  auto res = post_json(client, "/v1/chat/completions", chat("tandem/cascade", "Name a colour."));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto body = json::parse(res->body);
  const auto& t = body["tandem"];
  EXPECT_EQ(t["mode"], "cascade");
  EXPECT_EQ(t["route"], "cloud") << t.dump();
  ASSERT_EQ(t["attempts"].size(), 2U) << t.dump();
  EXPECT_EQ(t["attempts"][0]["route"], "local");
  EXPECT_EQ(t["attempts"][0]["accepted"], false);
  EXPECT_LE(t["attempts"][0]["mean_logprob"].get<double>(), 0.0);
  EXPECT_EQ(t["attempts"][1]["route"], "cloud");
  EXPECT_EQ(t["attempts"][1]["accepted"], true);
  // The cloud's answer is the one tandem/cloud gives.
  const auto direct = post(chat("tandem/cloud", "Name a colour."));
  EXPECT_EQ(body["choices"][0]["message"]["content"], direct["choices"][0]["message"]["content"]);

  // The verdict is kept, sealed with the router key, as a routing example...
  const auto router_key = router_key_of(keyring_path);
  ASSERT_TRUE(router_key) << router_key.error().message;
  auto kept = router::read_routing_examples(outcomes, *router_key);
  ASSERT_TRUE(kept) << kept.error().message;
  ASSERT_EQ(kept->size(), 1U);
  EXPECT_EQ((*kept)[0].prompt, "Name a colour.");
  EXPECT_FALSE((*kept)[0].weak_correct);
  // ...that train-routing opens with the same keyring: one escalated prompt alone teaches nothing,
  // and it says so rather than that the file is unreadable.
  auto trained = run_tandem({"--set", "security.keyring=" + keyring_path, "--set", "security.encryption=local", "--set",
                             "engine.embedding_model=" + embedding_model_path(), "router", "train-routing", "--data",
                             outcomes, "--out", dir.file("routing-model")});
  EXPECT_EQ(trained.exit_code, 2) << trained.stderr_text;
  EXPECT_NE(trained.stderr_text.find("training needs prompts where only the strong model is right"), std::string::npos)
      << trained.stderr_text;
}

TEST_F(RoutedServeTest, ModelsListTheRoutedIds) {
  auto client = loopback_client(tandem_->port());
  auto res = client.Get("/v1/models");
  ASSERT_TRUE(res);
  const auto models = json::parse(res->body);
  std::vector<std::string> ids;
  for (const auto& m : models["data"]) ids.push_back(m["id"]);
  EXPECT_NE(std::find(ids.begin(), ids.end(), "tandem/auto"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "tandem/cloud"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "tandem/cascade"), ids.end());
}

// The value of an unlabelled Prometheus sample in `text`, or -1 when it is not there.
double metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

// /metrics once the intent classifier has been retrained (or after two minutes).
std::string metrics_after_a_retraining(httplib::Client& client) {
  std::string text;
  for (int i = 0; i < 600 && metric(text, "tandem_router_retrainings_total") < 1; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto metrics = client.Get("/metrics");
    if (!metrics) break;
    text = metrics->body;
  }
  return text;
}

TEST(RoutedServeAskingTheCloudTest, AnUnsureRouterAsksTheLargeModelKeepsTheExampleAndRelearns) {
  if (!llama_server_available()) GTEST_SKIP() << "no llama-server in this build (TANDEM_BUILD_BENCH=OFF)";
  auto cloud = LlamaServer::start();
  ASSERT_TRUE(cloud) << cloud.error().message;
  TempDir dir;
  const auto learned = dir.file("learned.jsonl");
  const auto keyring_path = dir.file("keyring.json");  // the test reads the sealed examples with its key
  // Every non-private request counts as unsure, so each one is classified by the cloud (which
  // llama-server constrains to the label set with the JSON schema).
  auto tandem = ServerProcess::start(
      {"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir(), "--set",
       "cloud.base_url=" + (*cloud)->base_url(), "--set", "cloud.model=big", "--set", "router.ask_cloud_below=1",
       "--set", "router.learned_examples=" + learned, "--set", "router.relearn_every=1", "--set",
       "security.keyring=" + keyring_path, "--set", "security.encryption=local"});
  ASSERT_TRUE(tandem) << tandem.error().message;
  auto client = loopback_client((*tandem)->port());
  const std::string prompt = "Write a short poem about autumn leaves.";
  auto res = post_json(client, "/v1/chat/completions", chat("tandem/auto", prompt));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto t = json::parse(res->body)["tandem"];
  EXPECT_EQ(t["intent"]["source"], "cloud") << t.dump();
  EXPECT_NE(t["reasons"][0].get<std::string>().find("the large model says"), std::string::npos) << t.dump();
  const auto router_key = router_key_of(keyring_path);
  ASSERT_TRUE(router_key) << router_key.error().message;
  auto kept = router::read_intent_examples(learned, *router_key);
  ASSERT_TRUE(kept) << kept.error().message;
  ASSERT_EQ(kept->size(), 1U);
  EXPECT_EQ((*kept)[0].text, prompt);
  EXPECT_EQ((*kept)[0].label, t["intent"]["label"]);

  // One learned example is enough here (router.relearn_every=1): the server retrains the intent
  // classifier in the background, on the default taxonomy's data (its model.json names the file)
  // plus that example, and puts it in service.
  const auto text = metrics_after_a_retraining(client);
  EXPECT_EQ(metric(text, "tandem_router_retrainings_total"), 1) << text;
  EXPECT_EQ(metric(text, "tandem_router_learned_examples"), 1) << text;
  EXPECT_EQ(metric(text, "tandem_router_learned_examples_in_use"), 1) << text;
  EXPECT_EQ(metric(text, "tandem_router_retraining_failures_total"), 0) << text;

  // A sensitive request is never sent out, not even to be classified.
  auto sensitive = post_json(client, "/v1/chat/completions",
                             chat("tandem/auto", "My blood test shows high cholesterol and my bank PIN is 4821."));
  ASSERT_TRUE(sensitive);
  EXPECT_EQ(json::parse(sensitive->body)["tandem"]["route"], "local");
  EXPECT_EQ(router::read_intent_examples(learned, *router_key)->size(), 1U);
}

// What a server learned before it stopped is retrained on when it starts again; examples whose
// labels the intent model does not know (learned for another one) stay out.
TEST(RoutedServeAskingTheCloudTest, AStartingServerRetrainsOnWhatItLearnedBefore) {
  TempDir dir;
  const auto learned = dir.file("learned.jsonl");
  std::ofstream(learned) << "{\"text\": \"how do you say hello in Haskell\", \"label\": \"code\"}\n"
                            "{\"text\": \"book me a table for two\", \"label\": \"restaurant_booking\"}\n";
  // Relearning needs a cloud to learn from; this one is never asked.
  auto tandem = ServerProcess::start(
      {"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir(), "--set",
       "cloud.base_url=http://127.0.0.1:" + std::to_string(unused_loopback_port()) + "/v1", "--set", "cloud.model=big",
       "--set", "router.learned_examples=" + learned, "--set", "router.relearn_every=25"});
  ASSERT_TRUE(tandem) << tandem.error().message;
  auto client = loopback_client((*tandem)->port());
  const auto text = metrics_after_a_retraining(client);
  EXPECT_EQ(metric(text, "tandem_router_retrainings_total"), 1) << text;
  EXPECT_EQ(metric(text, "tandem_router_learned_examples"), 1) << text;
  EXPECT_EQ(metric(text, "tandem_router_learned_examples_in_use"), 1) << text;
}

TEST(RoutedServeWithoutCloudTest, ForcedCloudIsAnUnknownModel) {
  auto tandem = ServerProcess::start({"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir()});
  ASSERT_TRUE(tandem) << tandem.error().message;
  auto client = loopback_client((*tandem)->port());
  auto res = post_json(client, "/v1/chat/completions", chat("tandem/cloud", "Hi"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404) << res->body;
  EXPECT_NE(res->body.find("none is configured"), std::string::npos) << res->body;
  auto automatic = post_json(client, "/v1/chat/completions", chat("tandem/auto", "Hi"));
  ASSERT_TRUE(automatic);
  ASSERT_EQ(automatic->status, 200) << automatic->body;
  EXPECT_EQ(json::parse(automatic->body)["tandem"]["route"], "local");
}

}  // namespace
}  // namespace tandem::testing
