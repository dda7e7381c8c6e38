// LoRA adapters applied per request, with an adapter generated here for the real Gemma 3 270M:
// small pseudo-random A/B matrices on every layer's attention query projection.
#include <ggml.h>
#include <gguf.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <random>

#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::engine {
namespace {

// Writes a rank-`rank` LoRA adapter for every `blk.N.attn_q.weight` of the base model.
void write_random_lora(const std::string& base_model, const std::string& out_path, int rank, float magnitude) {
  ggml_context* base_meta = nullptr;
  gguf_init_params params{true, &base_meta};
  gguf_context* base = gguf_init_from_file(base_model.c_str(), params);
  ASSERT_NE(base, nullptr);

  ggml_init_params ctx_params{512ull << 20, nullptr, false};
  ggml_context* ctx = ggml_init(ctx_params);
  gguf_context* out = gguf_init_empty();
  gguf_set_val_str(out, "general.architecture", gguf_get_val_str(base, gguf_find_key(base, "general.architecture")));
  gguf_set_val_str(out, "general.type", "adapter");
  gguf_set_val_str(out, "adapter.type", "lora");
  gguf_set_val_f32(out, "adapter.lora.alpha", static_cast<float>(rank));

  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uniform(-magnitude, magnitude);
  for (ggml_tensor* t = ggml_get_first_tensor(base_meta); t; t = ggml_get_next_tensor(base_meta, t)) {
    std::string name = ggml_get_name(t);
    if (name.find(".attn_q.weight") == std::string::npos) continue;
    ggml_tensor* a = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, t->ne[0], rank);
    ggml_tensor* b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, rank, t->ne[1]);
    ggml_set_name(a, (name + ".lora_a").c_str());
    ggml_set_name(b, (name + ".lora_b").c_str());
    for (ggml_tensor* m : {a, b}) {
      auto* data = static_cast<float*>(m->data);
      for (int64_t i = 0; i < ggml_nelements(m); ++i) data[i] = uniform(rng);
      gguf_add_tensor(out, m);
    }
  }
  ASSERT_GT(gguf_get_n_tensors(out), 0);
  ASSERT_TRUE(gguf_write_to_file(out, out_path.c_str(), false));
  gguf_free(out);
  ggml_free(ctx);
  gguf_free(base);
  ggml_free(base_meta);
}

GenerationRequest greedy(const std::string& question, const std::string& lora = "", float scale = 1.0f) {
  GenerationRequest r;
  r.messages = {{"user", question}};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 16;
  r.lora = lora;
  r.lora_scale = scale;
  return r;
}

class LoraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_random_lora(testing::chat_model_path(), dir_.file("noisy.gguf"), 8, 0.5f);
    ChatEngineOptions options;
    options.model_path = testing::chat_model_path();
    options.lora_dir = dir_.path().string();
    options.context = 2048;
    options.slots = 2;
    auto loaded = ChatEngine::load(options);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    engine_ = std::move(*loaded);
  }
  testing::TempDir dir_;
  std::unique_ptr<ChatEngine> engine_;
};

TEST_F(LoraTest, AdapterChangesOutputOnlyWhenAskedFor) {
  EXPECT_EQ(engine_->info().lora_adapters, std::vector<std::string>{"noisy"});
  const auto question = "Describe a sunny day.";
  auto base = engine_->generate(greedy(question));
  auto adapted = engine_->generate(greedy(question, "noisy", 1.0f));
  auto zero_scale = engine_->generate(greedy(question, "noisy", 0.0f));
  auto base_again = engine_->generate(greedy(question));
  ASSERT_TRUE(base.ok() && adapted.ok() && zero_scale.ok() && base_again.ok());
  EXPECT_NE(adapted->text, base->text);
  // The same answers up to a late near-tie (the cache state differs; see agree_for_the_first_half).
  EXPECT_TRUE(tandem::testing::agree_for_the_first_half(zero_scale->text, base->text)) << zero_scale->text;
  EXPECT_TRUE(tandem::testing::agree_for_the_first_half(base_again->text, base->text)) << base_again->text;
}

TEST_F(LoraTest, ConcurrentRequestsWithDifferentAdaptersMatchTheirSoloResults) {
  // Both runs start from the same cache state: one slot holding an unrelated base prompt, the
  // other an unrelated adapted one. Each request then reuses the same template prefix and decodes
  // the same tokens in the same batches, solo or together (a random adapter makes the model
  // chaotic enough that a different batch split alone would change the greedy text).
  auto reset_slots = [&] {
    auto a = std::async(std::launch::async, [&] { return engine_->generate(greedy("Unrelated.")); });
    auto b = std::async(std::launch::async, [&] { return engine_->generate(greedy("Unrelated.", "noisy")); });
    ASSERT_TRUE(a.get().ok() && b.get().ok());
  };
  const auto question = "Name a fruit and its color.";
  reset_slots();
  auto solo_base = engine_->generate(greedy(question));
  auto solo_adapted = engine_->generate(greedy(question, "noisy"));
  ASSERT_TRUE(solo_base.ok() && solo_adapted.ok());
  EXPECT_NE(solo_adapted->text, solo_base->text);
  reset_slots();
  auto f_base = std::async(std::launch::async, [&] { return engine_->generate(greedy(question)); });
  auto f_adapted = std::async(std::launch::async, [&] { return engine_->generate(greedy(question, "noisy")); });
  auto together_base = f_base.get();
  auto together_adapted = f_adapted.get();
  ASSERT_TRUE(together_base.ok() && together_adapted.ok());
  EXPECT_EQ(together_base->text, solo_base->text);
  EXPECT_EQ(together_adapted->text, solo_adapted->text);
  EXPECT_EQ(together_adapted->usage.cached_prompt_tokens, solo_adapted->usage.cached_prompt_tokens);
}

TEST(LoraLoad, CorruptAdapterIsRefusedAtLoad) {
  testing::TempDir dir;
  std::ofstream(dir.file("broken.gguf")) << "GGUF but not really";
  ChatEngineOptions options;
  options.model_path = testing::chat_model_path();
  options.lora_dir = dir.path().string();
  auto loaded = ChatEngine::load(options);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(loaded.error().message.find("broken.gguf"), std::string::npos) << loaded.error().message;
}

}  // namespace
}  // namespace tandem::engine
