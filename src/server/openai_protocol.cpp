#include "server/openai_protocol.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>
#include <random>

namespace tandem::server {
namespace {

using json = nlohmann::json;

// Thrown by the field readers below and caught in parse_*: it never leaves this file.
struct Rejected {
  RequestError error;
};

[[noreturn]] void reject(std::string param, std::string message) {
  throw Rejected{{make_error(ErrorCode::kInvalidArgument, std::move(message)), std::move(param)}};
}

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return to_text(value);  // numbers: show the value itself
  }
}

json parse_object(std::string_view body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    std::string_view detail = e.what();
    if (auto end = detail.find("] "); end != std::string_view::npos) detail.remove_prefix(end + 2);
    reject("", "the request body is not valid JSON: " + std::string(detail));
  }
  if (!doc.is_object()) reject("", "the request body must be a JSON object, got " + describe(doc));
  return doc;
}

// A field that is absent or null is "not given".
const json* field(const json& object, const std::string& name) {
  auto it = object.find(name);
  return (it == object.end() || it->is_null()) ? nullptr : &*it;
}

double number_field(const json& object, const std::string& name, double min, double max, double fallback) {
  const json* value = field(object, name);
  if (!value) return fallback;
  if (!value->is_number()) reject(name, fmt::format("{} must be a number, got {}", name, describe(*value)));
  double x = value->get<double>();
  if (!(x >= min && x <= max)) reject(name, fmt::format("{} must be between {} and {}, got {}", name, min, max, x));
  return x;
}

int64_t integer_field(const json& object, const std::string& name, int64_t min, int64_t max, int64_t fallback,
                      std::string_view range_note = "") {
  const json* value = field(object, name);
  if (!value) return fallback;
  if (!value->is_number_integer()) reject(name, fmt::format("{} must be an integer, got {}", name, describe(*value)));
  bool too_large = value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(max);
  if (too_large || value->get<int64_t>() < min || value->get<int64_t>() > max) {
    reject(name, fmt::format("{} must be between {} and {}{}, got {}", name, min, max, range_note, to_text(*value)));
  }
  return value->get<int64_t>();
}

bool bool_field(const json& object, const std::string& name, const std::string& param, bool fallback) {
  const json* value = field(object, name);
  if (!value) return fallback;
  if (!value->is_boolean()) reject(param, fmt::format("{} must be a boolean, got {}", param, describe(*value)));
  return value->get<bool>();
}

std::string string_field(const json& object, const std::string& name, const std::string& param) {
  const json* value = field(object, name);
  if (!value) return {};
  if (!value->is_string()) reject(param, fmt::format("{} must be a string, got {}", param, describe(*value)));
  return value->get<std::string>();
}

std::string message_role(const json& message, const std::string& param) {
  const json* role = field(message, "role");
  if (!role) reject(param + ".role", param + ".role is required");
  if (!role->is_string())
    reject(param + ".role", fmt::format("{}.role must be a string, got {}", param, describe(*role)));
  const auto& name = role->get_ref<const std::string&>();
  if (name == "system" || name == "user" || name == "assistant") return name;
  if (name == "developer") return "system";  // OpenAI's newer name for the system role
  reject(param + ".role",
         fmt::format("{}.role must be one of system, developer, user, assistant, got '{}'", param, name));
}

// A string, or an array of {"type":"text","text":...} parts (joined by newlines).
std::string message_content(const json& message, const std::string& param) {
  const std::string content_param = param + ".content";
  const json* content = field(message, "content");
  if (!content) reject(content_param, content_param + " is required");
  if (content->is_string()) return content->get<std::string>();
  if (!content->is_array()) {
    reject(content_param,
           fmt::format("{} must be a string or an array of text parts, got {}", content_param, describe(*content)));
  }
  std::string text;
  for (size_t i = 0; i < content->size(); ++i) {
    const json& part = (*content)[i];
    const std::string part_param = fmt::format("{}[{}]", content_param, i);
    if (!part.is_object()) reject(part_param, fmt::format("{} must be an object, got {}", part_param, describe(part)));
    std::string type = string_field(part, "type", part_param + ".type");
    if (type != "text") {
      reject(part_param + ".type",
             fmt::format("{}.type must be 'text' (only text is supported), got '{}'", part_param, type));
    }
    const json* part_text = field(part, "text");
    if (!part_text || !part_text->is_string()) reject(part_param + ".text", part_param + ".text must be a string");
    if (i > 0) text += '\n';
    text += part_text->get<std::string>();
  }
  return text;
}

std::vector<engine::ChatMessage> parse_messages(const json& doc) {
  const json* messages = field(doc, "messages");
  if (!messages) reject("messages", "messages is required");
  if (!messages->is_array()) reject("messages", "messages must be an array, got " + describe(*messages));
  if (messages->empty()) reject("messages", "messages must not be empty");
  std::vector<engine::ChatMessage> out;
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& message = (*messages)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!message.is_object()) reject(param, fmt::format("{} must be an object, got {}", param, describe(message)));
    out.push_back({message_role(message, param), message_content(message, param)});
  }
  return out;
}

std::vector<std::string> parse_stop(const json& doc) {
  const json* stop = field(doc, "stop");
  if (!stop) return {};
  std::vector<std::string> out;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    if (stop->size() > 4) reject("stop", fmt::format("stop allows at most 4 sequences, got {}", stop->size()));
    for (const auto& s : *stop) {
      if (!s.is_string())
        reject("stop", "stop must be a string or an array of strings, got an element that is " + describe(s));
      out.push_back(s.get<std::string>());
    }
  } else {
    reject("stop", "stop must be a string or an array of strings, got " + describe(*stop));
  }
  for (const auto& s : out) {
    if (s.empty()) reject("stop", "stop sequences must not be empty");
  }
  return out;
}

// Features that would silently change the meaning of a response if ignored.
void refuse_unsupported(const json& doc) {
  for (const char* name : {"tools", "functions"}) {
    if (const json* v = field(doc, name); v && !(v->is_array() && v->empty()))
      reject(name, fmt::format("{} are not supported", name));
  }
  if (const json* v = field(doc, "logprobs"); v && *v != false) reject("logprobs", "logprobs are not supported");
  if (const json* v = field(doc, "response_format")) {
    if (!v->is_object() || string_field(*v, "type", "response_format.type") != "text") {
      reject("response_format", "only response_format {\"type\": \"text\"} is supported");
    }
  }
  if (const json* n = field(doc, "n")) {
    if (!n->is_number_integer()) reject("n", "n must be an integer, got " + describe(*n));
    if (*n != 1) reject("n", "only n = 1 is supported, got " + to_text(*n));
  }
}

int32_t parse_max_tokens(const json& doc, const ChatLimits& limits) {
  // max_completion_tokens is OpenAI's newer name; it wins when both are given.
  const char* name = field(doc, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  return static_cast<int32_t>(
      integer_field(doc, name, 1, limits.max_tokens, limits.default_max_tokens, " (engine.max_tokens)"));
}

json usage_json(const engine::Usage& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_prompt_tokens}}}};
}

// Where the answer came from and what it cost: Tandem's addition to the OpenAI shape.
json tandem_json(const std::string& model, const engine::GenerationResult& result, const json& route) {
  const auto& t = result.timings;
  json out = {{"route", "local"},
          {"model", model},
          {"timings",
           {{"queue_ms", t.queue_ms},
            {"prompt_ms", t.prompt_ms},
            {"generation_ms", t.generation_ms},
            {"time_to_first_token_ms", t.time_to_first_token_ms}}},
          {"usage",
           {{"cached_prompt_tokens", result.usage.cached_prompt_tokens},
            {"truncated_messages", result.usage.truncated_messages}}}};
  out.update(route, /*merge_objects=*/true);  // the route's "usage" adds to the engine's
  return out;
}

std::string sse(const json& value) {
  return "data: " + to_text(value) + "\n\n";
}

std::string base64_of_floats(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little, "the base64 embedding format is little-endian float32");
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

template <typename T, typename Parse>
Parsed<T> parse_guarded(Parse&& parse) {
  try {
    return parse();
  } catch (const Rejected& rejected) {
    return rejected.error;
  } catch (const json::exception& e) {  // a type check this file missed: still the client's fault
    return RequestError{make_error(ErrorCode::kInvalidArgument, std::string("invalid request: ") + e.what()), ""};
  }
}

}  // namespace

void parse_tandem_options(const json& doc, ChatCompletionRequest& out) {
  const json* options = field(doc, "tandem");
  if (!options) return;
  if (!options->is_object()) reject("tandem", "tandem must be an object, got " + describe(*options));
  if (field(*options, "knowledge")) {
    out.knowledge = string_field(*options, "knowledge", "tandem.knowledge");
    if (out.knowledge != "auto" && out.knowledge != "always" && out.knowledge != "never") {
      reject("tandem.knowledge", "tandem.knowledge must be auto, always or never, got '" + out.knowledge + "'");
    }
  }
  if (const json* collections = field(*options, "collections")) {
    if (!collections->is_array()) reject("tandem.collections", "tandem.collections must be an array of names");
    for (const auto& name : *collections) {
      if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
        reject("tandem.collections", "tandem.collections must hold non-empty strings, got " + describe(name));
      }
      out.collections.push_back(name.get<std::string>());
    }
  }
}

Parsed<ChatCompletionRequest> parse_chat_completion(std::string_view body, const ChatLimits& limits) {
  return parse_guarded<ChatCompletionRequest>([&] {
    const json doc = parse_object(body);
    ChatCompletionRequest out;
    out.model = string_field(doc, "model", "model");
    out.generation.messages = parse_messages(doc);
    refuse_unsupported(doc);

    auto& s = out.generation.sampling;
    s.temperature = static_cast<float>(number_field(doc, "temperature", 0, 2, s.temperature));
    s.top_p = static_cast<float>(number_field(doc, "top_p", 0, 1, s.top_p));
    if (s.top_p == 0) reject("top_p", "top_p must be greater than 0");
    s.top_k = static_cast<int32_t>(integer_field(doc, "top_k", 0, std::numeric_limits<int32_t>::max(), s.top_k));
    s.min_p = static_cast<float>(number_field(doc, "min_p", 0, 1, s.min_p));
    s.repeat_penalty = static_cast<float>(number_field(doc, "repeat_penalty", 0, 10, s.repeat_penalty));
    if (s.repeat_penalty == 0) reject("repeat_penalty", "repeat_penalty must be greater than 0 (1 = off)");
    s.frequency_penalty = static_cast<float>(number_field(doc, "frequency_penalty", -2, 2, s.frequency_penalty));
    s.presence_penalty = static_cast<float>(number_field(doc, "presence_penalty", -2, 2, s.presence_penalty));
    if (field(doc, "seed")) {
      s.seed = static_cast<uint32_t>(integer_field(doc, "seed", 0, std::numeric_limits<uint32_t>::max(), 0));
    }
    s.max_tokens = parse_max_tokens(doc, limits);
    s.stop = parse_stop(doc);
    out.cloud_sampling = {.temperature = field(doc, "temperature") != nullptr,
                          .top_p = field(doc, "top_p") != nullptr,
                          .frequency_penalty = field(doc, "frequency_penalty") != nullptr,
                          .presence_penalty = field(doc, "presence_penalty") != nullptr};

    out.stream = bool_field(doc, "stream", "stream", false);
    if (const json* options = field(doc, "stream_options")) {
      if (!options->is_object())
        reject("stream_options", "stream_options must be an object, got " + describe(*options));
      if (!out.stream) reject("stream_options", "stream_options is only allowed when stream is true");
      out.include_usage = bool_field(*options, "include_usage", "stream_options.include_usage", false);
    }

    out.generation.lora = string_field(doc, "lora", "lora");
    out.generation.lora_scale = static_cast<float>(number_field(doc, "lora_scale", -4, 4, 1.0));
    out.generation.overflow = limits.overflow;
    parse_tandem_options(doc, out);
    return out;
  });
}

Parsed<EmbeddingsRequest> parse_embeddings(std::string_view body) {
  return parse_guarded<EmbeddingsRequest>([&] {
    const json doc = parse_object(body);
    EmbeddingsRequest out;
    out.model = string_field(doc, "model", "model");
    const json* input = field(doc, "input");
    if (!input) reject("input", "input is required");
    if (input->is_string()) {
      out.inputs.push_back(input->get<std::string>());
    } else if (input->is_array()) {
      if (input->empty()) reject("input", "input must not be an empty array");
      if (input->size() > 2048)
        reject("input", fmt::format("input allows at most 2048 strings, got {}", input->size()));
      for (size_t i = 0; i < input->size(); ++i) {
        const json& item = (*input)[i];
        if (!item.is_string()) {
          reject("input",
                 fmt::format("input[{}] must be a string (token arrays are not supported), got {}", i, describe(item)));
        }
        out.inputs.push_back(item.get<std::string>());
      }
    } else {
      reject("input", "input must be a string or an array of strings, got " + describe(*input));
    }
    for (size_t i = 0; i < out.inputs.size(); ++i) {
      if (out.inputs[i].empty()) reject("input", fmt::format("input[{}] must not be empty", i));
    }
    std::string format = string_field(doc, "encoding_format", "encoding_format");
    if (!format.empty() && format != "float" && format != "base64") {
      reject("encoding_format", "encoding_format must be 'float' or 'base64', got '" + format + "'");
    }
    out.base64 = format == "base64";
    out.dimensions = static_cast<int32_t>(integer_field(doc, "dimensions", 1, std::numeric_limits<int32_t>::max(), 0));
    return out;
  });
}

std::string new_completion_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("chatcmpl-{:016x}{:08x}", random(), static_cast<uint32_t>(random()));
}

std::string to_text(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json chat_completion_json(const CompletionMeta& meta, const engine::GenerationResult& result, const json& route) {
  json message = {{"role", "assistant"}, {"content", result.text}};
  return {{"id", meta.id},
          {"object", "chat.completion"},
          {"created", meta.created},
          {"model", meta.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", message},
                                    {"logprobs", nullptr},
                                    {"finish_reason", engine::finish_reason_name(result.finish_reason)}}})},
          {"usage", usage_json(result.usage)},
          {"tandem", tandem_json(meta.model, result, route)}};
}

ChatChunkFormatter::ChatChunkFormatter(CompletionMeta meta, bool include_usage)
    : meta_(std::move(meta)), include_usage_(include_usage) {}

json ChatChunkFormatter::chunk(json delta, json finish_reason) const {
  json out = {{"id", meta_.id},
              {"object", "chat.completion.chunk"},
              {"created", meta_.created},
              {"model", meta_.model},
              {"choices", json::array({{{"index", 0},
                                        {"delta", std::move(delta)},
                                        {"logprobs", nullptr},
                                        {"finish_reason", std::move(finish_reason)}}})}};
  if (include_usage_) out["usage"] = nullptr;  // as OpenAI: only the last chunk carries usage
  return out;
}

std::string ChatChunkFormatter::role_event() const {
  return sse(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
}

std::string ChatChunkFormatter::content_event(std::string_view text) const {
  return sse(chunk({{"content", text}}, nullptr));
}

std::string ChatChunkFormatter::final_events(const engine::GenerationResult& result, const json& route) const {
  json last = chunk(json::object(), engine::finish_reason_name(result.finish_reason));
  last["tandem"] = tandem_json(meta_.model, result, route);
  std::string out = sse(last);
  if (include_usage_) {
    json usage = chunk(json::object(), nullptr);
    usage["choices"] = json::array();
    usage["usage"] = usage_json(result.usage);
    out += sse(usage);
  }
  return out + "data: [DONE]\n\n";
}

std::string ChatChunkFormatter::error_event(const std::string& error_body) {
  return "data: " + error_body + "\n\n";
}

json embeddings_json(const std::string& model, const engine::EmbeddingResult& result, bool base64) {
  json data = json::array();
  for (size_t i = 0; i < result.vectors.size(); ++i) {
    json vector = base64 ? json(base64_of_floats(result.vectors[i])) : json(result.vectors[i]);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(vector)}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", result.prompt_tokens}, {"total_tokens", result.prompt_tokens}}}};
}

json models_json(const engine::ModelInfo& chat, const engine::ModelInfo* embedding, int64_t created,
                 const std::vector<std::string>& routed) {
  auto entry = [&](const std::string& id, json tandem) {
    return json{{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "tandem"}, {"tandem", tandem}};
  };
  auto model = [&](const engine::ModelInfo& info, const char* kind) {
    return entry(info.name, {{"kind", kind},
                             {"description", info.description},
                             {"parameters", info.parameters},
                             {"size_bytes", info.size_bytes},
                             {"context_per_slot", info.context_per_slot}});
  };
  json data = json::array({model(chat, "chat"), entry(kLocalModelAlias, {{"kind", "alias"}, {"of", chat.name}})});
  if (embedding) data.push_back(model(*embedding, "embedding"));
  for (const auto& id : routed) data.push_back(entry(id, {{"kind", "routed"}}));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace tandem::server
