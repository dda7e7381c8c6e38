// Strict parsing of OpenAI request bodies, and the JSON and SSE shapes sent back.
#include "server/openai_protocol.h"

#include <gtest/gtest.h>

namespace tandem::server {
namespace {

using nlohmann::json;

const ChatLimits kLimits{.max_tokens = 1000, .default_max_tokens = 100, .overflow = engine::OverflowPolicy::kError};
const std::string kHello = R"("messages": [{"role": "user", "content": "Hello"}])";

ChatCompletionRequest parse_ok(const std::string& body) {
  auto parsed = parse_chat_completion(body, kLimits);
  if (auto* e = std::get_if<RequestError>(&parsed)) {
    ADD_FAILURE() << "rejected: " << e->error.message;
    return {};
  }
  return std::get<ChatCompletionRequest>(parsed);
}

TEST(ChatRequestTest, MinimalRequestGetsDefaults) {
  auto r = parse_ok("{" + kHello + "}");
  ASSERT_EQ(r.generation.messages.size(), 1u);
  EXPECT_EQ(r.generation.messages[0].role, "user");
  EXPECT_EQ(r.generation.messages[0].content, "Hello");
  EXPECT_EQ(r.generation.sampling.max_tokens, 100);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.model.empty());
  EXPECT_FALSE(r.generation.sampling.seed.has_value());
}

TEST(ChatRequestTest, ReadsEveryField) {
  auto r = parse_ok(R"({"model": "m", )" + kHello + R"(, "temperature": 0, "top_p": 0.5, "top_k": 7, "min_p": 0.1,
      "repeat_penalty": 1.1, "frequency_penalty": 0.5, "presence_penalty": -0.5, "seed": 42, "max_tokens": 9,
      "stop": ["a", "b"], "stream": true, "stream_options": {"include_usage": true}, "n": 1,
      "lora": "pirate", "lora_scale": 0.5, "user": "ignored"})");
  const auto& s = r.generation.sampling;
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(s.temperature, 0.0f);
  EXPECT_FLOAT_EQ(s.top_p, 0.5f);
  EXPECT_EQ(s.top_k, 7);
  EXPECT_FLOAT_EQ(s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.presence_penalty, -0.5f);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.max_tokens, 9);
  EXPECT_EQ(s.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.generation.lora, "pirate");
  EXPECT_FLOAT_EQ(r.generation.lora_scale, 0.5f);
}

TEST(ChatRequestTest, NullMeansNotGiven) {
  auto r = parse_ok("{" + kHello + R"(, "temperature": null, "max_tokens": null, "stop": null, "seed": null})");
  EXPECT_EQ(r.generation.sampling.max_tokens, 100);
  EXPECT_TRUE(r.generation.sampling.stop.empty());
  EXPECT_FALSE(r.generation.sampling.seed.has_value());
}

TEST(ChatRequestTest, MaxCompletionTokensWins) {
  EXPECT_EQ(parse_ok("{" + kHello + R"(, "max_tokens": 5, "max_completion_tokens": 7})").generation.sampling.max_tokens,
            7);
}

TEST(ChatRequestTest, StopAsString) {
  EXPECT_EQ(parse_ok("{" + kHello + R"(, "stop": "END"})").generation.sampling.stop, std::vector<std::string>{"END"});
}

TEST(ChatRequestTest, TextPartsAreJoined) {
  auto r = parse_ok(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}]})");
  EXPECT_EQ(r.generation.messages[0].content, "one\ntwo");
}

TEST(ChatRequestTest, DeveloperRoleIsSystem) {
  auto r =
      parse_ok(R"({"messages": [{"role": "developer", "content": "Be brief"}, {"role": "user", "content": "Hi"}]})");
  EXPECT_EQ(r.generation.messages[0].role, "system");
}

TEST(ChatRequestTest, OverflowPolicyComesFromLimits) {
  ChatLimits truncating = kLimits;
  truncating.overflow = engine::OverflowPolicy::kTruncate;
  auto parsed = parse_chat_completion("{" + kHello + "}", truncating);
  ASSERT_TRUE(std::holds_alternative<ChatCompletionRequest>(parsed));
  EXPECT_EQ(std::get<ChatCompletionRequest>(parsed).generation.overflow, engine::OverflowPolicy::kTruncate);
}

struct BadCase {
  std::string name;
  std::string body;
  std::string param;
  std::string message_part;
};

class ChatRequestRejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ChatRequestRejectTest, RejectsWithPreciseMessage) {
  const auto& c = GetParam();
  auto parsed = parse_chat_completion(c.body, kLimits);
  ASSERT_TRUE(std::holds_alternative<RequestError>(parsed)) << c.body;
  const auto& e = std::get<RequestError>(parsed);
  EXPECT_EQ(e.error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(e.param, c.param);
  EXPECT_NE(e.error.message.find(c.message_part), std::string::npos) << e.error.message;
}

const std::string kU = R"("messages": [{"role": "user", "content": "Hi"}])";

INSTANTIATE_TEST_SUITE_P(
    Bodies, ChatRequestRejectTest,
    ::testing::Values(
        BadCase{"MalformedJson", R"({"messages": [)", "", "not valid JSON"},
        BadCase{"InvalidUtf8", "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}", "", "UTF-8"},
        BadCase{"LoneSurrogate", R"({"messages": [{"role": "user", "content": "\ud800"}]})", "", "surrogate"},
        BadCase{"NotAnObject", R"([1, 2])", "", "must be a JSON object"},
        BadCase{"NoMessages", R"({"model": "m"})", "messages", "messages is required"},
        BadCase{"MessagesNotArray", R"({"messages": "hi"})", "messages", "must be an array"},
        BadCase{"EmptyMessages", R"({"messages": []})", "messages", "must not be empty"},
        BadCase{"MessageNotObject", R"({"messages": ["hi"]})", "messages[0]", "must be an object"},
        BadCase{"UnknownRole", R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role", "'wizard'"},
        BadCase{"RoleNotString", R"({"messages": [{"role": 3, "content": "x"}]})", "messages[0].role",
                "must be a string"},
        BadCase{"MissingContent", R"({"messages": [{"role": "user"}]})", "messages[0].content", "is required"},
        BadCase{"ContentNumber", R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content",
                "must be a string or an array of text parts"},
        BadCase{"ImagePart", R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
                "messages[0].content[0].type", "only text"},
        BadCase{"PartTextNotString", R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})",
                "messages[0].content[0].text", "must be a string"},
        BadCase{"ModelNotString", R"({"model": 1, )" + kU + "}", "model", "model must be a string"},
        BadCase{"TemperatureString", "{" + kU + R"(, "temperature": "hot"})", "temperature",
                "must be a number, got a string"},
        BadCase{"TemperatureTooHigh", "{" + kU + R"(, "temperature": 3})", "temperature", "between 0 and 2"},
        BadCase{"TopPZero", "{" + kU + R"(, "top_p": 0})", "top_p", "greater than 0"},
        BadCase{"TopKFloat", "{" + kU + R"(, "top_k": 1.5})", "top_k", "must be an integer"},
        BadCase{"TopKNegative", "{" + kU + R"(, "top_k": -1})", "top_k", "between 0"},
        BadCase{"MinPOutOfRange", "{" + kU + R"(, "min_p": 2})", "min_p", "between 0 and 1"},
        BadCase{"RepeatPenaltyZero", "{" + kU + R"(, "repeat_penalty": 0})", "repeat_penalty", "greater than 0"},
        BadCase{"FrequencyPenaltyRange", "{" + kU + R"(, "frequency_penalty": 5})", "frequency_penalty",
                "between -2 and 2"},
        BadCase{"PresencePenaltyType", "{" + kU + R"(, "presence_penalty": true})", "presence_penalty",
                "must be a number"},
        BadCase{"SeedNegative", "{" + kU + R"(, "seed": -1})", "seed", "between 0 and 4294967295"},
        BadCase{"SeedString", "{" + kU + R"(, "seed": "42"})", "seed", "must be an integer"},
        BadCase{"MaxTokensNegative", "{" + kU + R"(, "max_tokens": -1})", "max_tokens", "between 1 and 1000"},
        BadCase{"MaxTokensZero", "{" + kU + R"(, "max_tokens": 0})", "max_tokens", "between 1 and 1000"},
        BadCase{"MaxTokensHuge", "{" + kU + R"(, "max_tokens": 1000000000})", "max_tokens", "engine.max_tokens"},
        BadCase{"MaxTokensBeyondInt64", "{" + kU + R"(, "max_tokens": 18446744073709551615})", "max_tokens",
                "between 1 and 1000"},
        BadCase{"MaxTokensString", "{" + kU + R"(, "max_tokens": "10"})", "max_tokens", "must be an integer"},
        BadCase{"MaxCompletionTokensHuge", "{" + kU + R"(, "max_completion_tokens": 5000})", "max_completion_tokens",
                "between 1 and 1000"},
        BadCase{"StopNumber", "{" + kU + R"(, "stop": 5})", "stop", "string or an array of strings"},
        BadCase{"StopArrayOfNumbers", "{" + kU + R"(, "stop": [1]})", "stop", "string or an array of strings"},
        BadCase{"StopTooMany", "{" + kU + R"(, "stop": ["a", "b", "c", "d", "e"]})", "stop", "at most 4"},
        BadCase{"StopEmpty", "{" + kU + R"(, "stop": ""})", "stop", "must not be empty"},
        BadCase{"StreamString", "{" + kU + R"(, "stream": "yes"})", "stream", "must be a boolean"},
        BadCase{"StreamOptionsWithoutStream", "{" + kU + R"(, "stream_options": {"include_usage": true}})",
                "stream_options", "only allowed when stream is true"},
        BadCase{"IncludeUsageType", "{" + kU + R"(, "stream": true, "stream_options": {"include_usage": 1}})",
                "stream_options.include_usage", "must be a boolean"},
        BadCase{"NTwo", "{" + kU + R"(, "n": 2})", "n", "only n = 1"},
        BadCase{"NString", "{" + kU + R"(, "n": "1"})", "n", "must be an integer"},
        BadCase{"Tools", "{" + kU + R"(, "tools": [{"type": "function"}]})", "tools", "not supported"},
        BadCase{"Logprobs", "{" + kU + R"(, "logprobs": true})", "logprobs", "not supported"},
        BadCase{"JsonMode", "{" + kU + R"(, "response_format": {"type": "json_object"}})", "response_format", "only"},
        BadCase{"LoraNotString", "{" + kU + R"(, "lora": 1})", "lora", "must be a string"},
        BadCase{"LoraScaleRange", "{" + kU + R"(, "lora_scale": 9})", "lora_scale", "between -4 and 4"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(EmbeddingsRequestTest, StringAndArrayInputs) {
  auto one = parse_embeddings(R"({"input": "hello", "model": "e"})");
  ASSERT_TRUE(std::holds_alternative<EmbeddingsRequest>(one));
  EXPECT_EQ(std::get<EmbeddingsRequest>(one).inputs, std::vector<std::string>{"hello"});
  EXPECT_EQ(std::get<EmbeddingsRequest>(one).model, "e");
  auto many = parse_embeddings(R"({"input": ["a", "b"], "encoding_format": "base64", "dimensions": 384})");
  ASSERT_TRUE(std::holds_alternative<EmbeddingsRequest>(many));
  EXPECT_EQ(std::get<EmbeddingsRequest>(many).inputs.size(), 2u);
  EXPECT_TRUE(std::get<EmbeddingsRequest>(many).base64);
  EXPECT_EQ(std::get<EmbeddingsRequest>(many).dimensions, 384);
}

TEST(EmbeddingsRequestTest, RejectsBadInputs) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model": "e"})", "input"},
      {R"({"input": 5})", "input"},
      {R"({"input": []})", "input"},
      {R"({"input": [[1, 2, 3]]})", "input"},
      {R"({"input": ["ok", ""]})", "input"},
      {R"({"input": "x", "encoding_format": "int8"})", "encoding_format"},
      {R"({"input": "x", "dimensions": 0})", "dimensions"},
      {R"({"input": "x", "model": false})", "model"},
  };
  for (const auto& [body, param] : cases) {
    auto parsed = parse_embeddings(body);
    ASSERT_TRUE(std::holds_alternative<RequestError>(parsed)) << body;
    EXPECT_EQ(std::get<RequestError>(parsed).param, param) << body;
  }
}

engine::GenerationResult sample_result() {
  engine::GenerationResult r;
  r.text = "Hi there";
  r.finish_reason = engine::FinishReason::kLength;
  r.usage = {.prompt_tokens = 10, .completion_tokens = 2, .cached_prompt_tokens = 4, .truncated_messages = 1};
  r.timings = {.queue_ms = 1, .prompt_ms = 2, .generation_ms = 3, .time_to_first_token_ms = 4};
  return r;
}

const CompletionMeta kMeta{.id = "chatcmpl-1", .created = 1700000000, .model = "gemma"};

TEST(ChatResponseTest, CompletionHasOpenAIShapeAndTandemObject) {
  json j = chat_completion_json(kMeta, sample_result());
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["model"], "gemma");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hi there");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 2);
  EXPECT_EQ(j["usage"]["total_tokens"], 12);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
  EXPECT_EQ(j["tandem"]["route"], "local");
  EXPECT_EQ(j["tandem"]["model"], "gemma");
  EXPECT_EQ(j["tandem"]["timings"]["time_to_first_token_ms"], 4.0);
  EXPECT_EQ(j["tandem"]["usage"]["truncated_messages"], 1);
}

// Splits "data: X\n\n" events into their payloads.
std::vector<std::string> sse_payloads(const std::string& events) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < events.size()) {
    EXPECT_EQ(events.compare(pos, 6, "data: "), 0) << events.substr(pos);
    size_t end = events.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event";
      break;
    }
    out.push_back(events.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  return out;
}

TEST(ChatChunkFormatterTest, StreamWithoutUsage) {
  ChatChunkFormatter chunks(kMeta, false);
  auto first = json::parse(sse_payloads(chunks.role_event()).at(0));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(first.contains("usage"));

  auto content = json::parse(sse_payloads(chunks.content_event("Hi")).at(0));
  EXPECT_EQ(content["choices"][0]["delta"]["content"], "Hi");
  EXPECT_EQ(content["id"], "chatcmpl-1");

  auto last = sse_payloads(chunks.final_events(sample_result()));
  ASSERT_EQ(last.size(), 2u);
  auto finish = json::parse(last[0]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  EXPECT_EQ(finish["tandem"]["route"], "local");
  EXPECT_EQ(last[1], "[DONE]");
}

TEST(ChatChunkFormatterTest, StreamWithUsage) {
  ChatChunkFormatter chunks(kMeta, true);
  EXPECT_TRUE(json::parse(sse_payloads(chunks.content_event("x")).at(0))["usage"].is_null());
  auto last = sse_payloads(chunks.final_events(sample_result()));
  ASSERT_EQ(last.size(), 3u);
  auto usage = json::parse(last[1]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 12);
  EXPECT_EQ(last[2], "[DONE]");
}

TEST(ChatChunkFormatterTest, ErrorEventCarriesTheBody) {
  EXPECT_EQ(sse_payloads(ChatChunkFormatter::error_event(R"({"error":{}})")),
            std::vector<std::string>{R"({"error":{}})"});
}

TEST(EmbeddingsResponseTest, FloatAndBase64) {
  engine::EmbeddingResult result{.vectors = {{1.0f, -2.0f}}, .prompt_tokens = 3};
  json floats = embeddings_json("e", result, false);
  EXPECT_EQ(floats["object"], "list");
  EXPECT_EQ(floats["data"][0]["object"], "embedding");
  EXPECT_EQ(floats["data"][0]["index"], 0);
  EXPECT_EQ(floats["data"][0]["embedding"], json::array({1.0, -2.0}));
  EXPECT_EQ(floats["usage"]["prompt_tokens"], 3);
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0 (little-endian)
  EXPECT_EQ(embeddings_json("e", result, true)["data"][0]["embedding"], "AACAPwAAAMA=");
}

TEST(ModelsResponseTest, ListsChatAndEmbeddingModels) {
  engine::ModelInfo chat;
  chat.name = "gemma";
  engine::ModelInfo embed;
  embed.name = "minilm";
  json both = models_json(chat, &embed, 1);
  ASSERT_EQ(both["data"].size(), 3u);
  EXPECT_EQ(both["object"], "list");
  EXPECT_EQ(both["data"][0]["id"], "gemma");
  EXPECT_EQ(both["data"][0]["object"], "model");
  EXPECT_EQ(both["data"][1]["id"], "tandem/local");
  EXPECT_EQ(both["data"][1]["tandem"], json({{"kind", "alias"}, {"of", "gemma"}}));
  EXPECT_EQ(both["data"][2]["id"], "minilm");
  EXPECT_EQ(models_json(chat, nullptr, 1)["data"].size(), 2u);
  json routed = models_json(chat, nullptr, 1, {"tandem/auto"});
  ASSERT_EQ(routed["data"].size(), 3u);
  EXPECT_EQ(routed["data"][2]["id"], "tandem/auto");
  EXPECT_EQ(routed["data"][2]["tandem"]["kind"], "routed");
}

TEST(CompletionIdTest, UniqueAndPrefixed) {
  std::string a = new_completion_id(), b = new_completion_id();
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tandem::server
