// Tandem's engine and llama.cpp's own llama-server, built from the same source and given the same
// prompt, must produce the same greedy text: the engine adds scheduling, not different numerics.
// llama-server runs with the engine's KV layout (full SWA cache, no unified KV buffer): a
// different cell layout changes flash attention's summation order, and this small base model
// amplifies last-digit differences into different greedy tokens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "engine/engine.h"
#include "support/server_process.h"

namespace tandem::testing {
namespace {

std::string llama_server_binary() {
  const char* v = std::getenv("TANDEM_LLAMA_SERVER");
  return v && *v ? v : std::string(TANDEM_BINARY_DIR) + "/bin/llama-server";
}

TEST(LlamaServerParity, GreedyTextMatchesLlamaServer) {
  if (access(llama_server_binary().c_str(), X_OK) != 0) {
    GTEST_SKIP() << "llama-server not built (TANDEM_BUILD_BENCH=OFF): " << llama_server_binary();
  }
  const int port = free_loopback_port();
  auto server = ChildProcess::spawn(llama_server_binary(),
                                    {"-m", chat_model_path(), "--host", "127.0.0.1", "--port", std::to_string(port),
                                     "-np", "1", "-c", "1024", "-t", "2", "--no-webui", "--swa-full", "--no-kv-unified"});
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto client = loopback_client(port);
  bool healthy = false;
  for (int i = 0; i < 600 && !healthy; ++i) {
    auto res = client.Get("/health");
    healthy = res && res->status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(healthy) << (*server)->stderr_text();

  engine::ChatEngineOptions options;
  options.model_path = chat_model_path();
  options.context = 1024;
  options.slots = 1;
  auto engine = engine::ChatEngine::load(options);
  ASSERT_TRUE(engine.ok()) << engine.error().message;

  for (const char* question : {"What is the capital of France?", "用一句话介绍长城。", "List three prime numbers."}) {
    engine::GenerationRequest request;
    request.messages = {{"user", question}};
    request.sampling.temperature = 0;
    request.sampling.max_tokens = 32;
    auto ours = (*engine)->generate(request);
    ASSERT_TRUE(ours.ok()) << ours.error().message;

    auto prompt = (*engine)->render_prompt(request.messages);
    ASSERT_TRUE(prompt.ok());
    auto res = post_json(client, "/completion",
                         {{"prompt", *prompt}, {"n_predict", 32}, {"temperature", 0}, {"cache_prompt", false}});
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
    auto theirs = nlohmann::json::parse(res->body);
    EXPECT_EQ(ours->text, theirs.at("content").get<std::string>()) << question;
    EXPECT_EQ(ours->usage.prompt_tokens, theirs.at("tokens_evaluated").get<int>()) << question;
  }
}

}  // namespace
}  // namespace tandem::testing
