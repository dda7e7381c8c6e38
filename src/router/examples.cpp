// JSON Lines training and evaluation data, read with errors that point at the line.
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "privacy/sealed_file.h"
#include "router/router.h"

namespace tandem::router {
namespace {

constexpr size_t kMaxLineBytes = size_t{1} << 20;
constexpr uintmax_t kMaxFileBytes = uintmax_t{2} << 30;

// Calls `parse_line` for each non-blank line; its error message gets "path:line: " in front. A
// sealed file (learned examples, privacy/sealed_file.h) is read record by record with `key`.
Status read_json_lines(const std::string& path, const std::optional<privacy::Key>& key,
                       const std::function<Status(const nlohmann::json&)>& parse_line) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return make_error(ErrorCode::kNotFound, "cannot read " + path + ": " + ec.message());
  if (size > kMaxFileBytes) return make_error(ErrorCode::kInvalidArgument, path + " is larger than 2 GiB");
  size_t number = 0;
  size_t parsed = 0;
  auto parse = [&](const std::string& line) -> Status {
    ++number;
    const auto where = path + ":" + std::to_string(number) + ": ";
    if (line.size() > kMaxLineBytes) return make_error(ErrorCode::kInvalidArgument, where + "line longer than 1 MiB");
    if (line.find_first_not_of(" \t\r") == std::string::npos) return {};
    auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
      return make_error(ErrorCode::kInvalidArgument, where + "not a JSON object");
    }
    if (auto st = parse_line(json); !st) return make_error(st.error().code, where + st.error().message);
    ++parsed;
    return {};
  };
  auto sealed = privacy::is_sealed_file(path);
  if (!sealed) return sealed.error();
  if (*sealed) {
    if (!key) return make_error(ErrorCode::kInvalidArgument, path + " is encrypted and no key was given");
    auto records = privacy::read_records(path, key);
    if (!records) return records.error();
    if (records->torn_tail) {
      return make_error(ErrorCode::kDataLoss, path + ": the last record was cut off by a crash (or damaged)");
    }
    for (const auto& record : records->records) {
      if (auto st = parse(record); !st) return st;
    }
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::kNotFound, "cannot open " + path);
    for (std::string line; std::getline(in, line);) {
      if (auto st = parse(line); !st) return st;
    }
  }
  if (parsed == 0) return make_error(ErrorCode::kInvalidArgument, path + " has no examples");
  return {};
}

Result<std::string> non_empty_string(const nlohmann::json& json, const char* field) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_string()) {
    return make_error(ErrorCode::kInvalidArgument, std::string("\"") + field + "\" must be a string");
  }
  auto value = it->get<std::string>();
  if (value.find_first_not_of(" \t\r\n") == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, std::string("\"") + field + "\" is empty");
  }
  return value;
}

Result<bool> boolean(const nlohmann::json& json, const char* field) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_boolean()) {
    return make_error(ErrorCode::kInvalidArgument, std::string("\"") + field + "\" must be true or false");
  }
  return it->get<bool>();
}

}  // namespace

Result<std::vector<IntentExample>> read_intent_examples(const std::string& path,
                                                        const std::optional<privacy::Key>& key) {
  std::vector<IntentExample> examples;
  auto st = read_json_lines(path, key, [&](const nlohmann::json& json) -> Status {
    auto text = non_empty_string(json, "text");
    if (!text) return text.error();
    auto label = non_empty_string(json, "label");
    if (!label) return label.error();
    examples.push_back({std::move(*text), std::move(*label)});
    return {};
  });
  if (!st) return st.error();
  return examples;
}

Result<std::vector<RoutingExample>> read_routing_examples(const std::string& path,
                                                          const std::optional<privacy::Key>& key) {
  std::vector<RoutingExample> examples;
  auto st = read_json_lines(path, key, [&](const nlohmann::json& json) -> Status {
    auto prompt = non_empty_string(json, "prompt");
    if (!prompt) return prompt.error();
    auto weak = boolean(json, "weak_correct");
    if (!weak) return weak.error();
    auto strong = boolean(json, "strong_correct");
    if (!strong) return strong.error();
    examples.push_back({std::move(*prompt), *weak, *strong});
    return {};
  });
  if (!st) return st.error();
  return examples;
}

}  // namespace tandem::router
