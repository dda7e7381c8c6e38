#include "core/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <variant>

namespace tandem {
namespace {

using Field = std::variant<std::string Config::*, int64_t Config::*, double Config::*>;

struct Setting {
  const char* key;
  Field field;
  const char* help;
  int64_t min = 0;
  int64_t max = 0;  // min == max: no range check
  std::vector<std::string> choices = {};
};

const std::vector<Setting>& settings() {
  static const std::vector<Setting> kSettings = {
      {"server.host", &Config::server_host, "address to listen on (loopback by default)"},
      {"server.port", &Config::server_port, "TCP port (0 = pick a free port and print it)", 0, 65535},
      {"server.threads", &Config::server_threads, "HTTP worker threads (concurrent connections)", 1, 1024},
      {"server.max_body_bytes", &Config::server_max_body_bytes, "largest accepted request body", 1024, 1LL << 32},
      {"server.request_timeout_s", &Config::server_request_timeout_s, "deadline for one request", 1, 86400},
      {"server.read_timeout_s", &Config::server_read_timeout_s, "drop clients that send slower than this", 1, 3600},
      {"server.drain_timeout_s", &Config::server_drain_timeout_s, "how long SIGTERM waits for running requests", 0, 3600},
      {"server.auth", &Config::server_auth, "keys: every request needs an API key (tandem keys create); none: single-user local mode, only on a loopback host", 0, 0, {"keys", "none"}},
      {"server.keys_file", &Config::server_keys_file, "API keys, stored as salted hashes (empty: <data>/keys.json)"},
      {"server.rate_limit_rpm", &Config::server_rate_limit_rpm, "requests per minute per API key; more get 429 with Retry-After (0: no limit)", 0, 1000000000},
      {"server.rate_limit_tpm", &Config::server_rate_limit_tpm, "chat tokens (prompt estimate + max_tokens) per minute per API key (0: no limit)", 0, 1000000000000},
      {"server.budget_usd_per_day", &Config::server_budget_usd_per_day, "money each API key may spend per UTC day; then 429 until midnight (0: no budget)", 0, 1000000000},
      {"server.budget_wh_per_day", &Config::server_budget_wh_per_day, "energy in Wh each API key may use per UTC day; then 429 until midnight (0: no budget)", 0, 1000000000},
      {"server.tls_cert", &Config::server_tls_cert, "PEM certificate; with server.tls_key the server speaks HTTPS only"},
      {"server.tls_key", &Config::server_tls_key, "PEM private key of server.tls_cert"},
      {"engine.model", &Config::engine_model, "chat model GGUF path (empty: the default Gemma 3 270M)"},
      {"engine.model_name", &Config::engine_model_name, "model id in the API (empty: the file name)"},
      {"engine.embedding_model", &Config::engine_embedding_model, "embedding model GGUF path (empty: default MiniLM)"},
      {"engine.embedding_scripts", &Config::engine_embedding_scripts, "Unicode scripts the embedding model reads, comma-separated (ISO 15924: Latin, Cyrillic, Han...) or all; a text mostly in other scripts is left to BM25 in hybrid search and to the n-grams in the router (default: Latin, for the English all-MiniLM-L6-v2)"},
      {"engine.lora_dir", &Config::engine_lora_dir, "directory with GGUF LoRA adapters, selectable per request"},
      {"engine.chat_template", &Config::engine_chat_template, "chat template override (llama.cpp built-in name, e.g. gemma, chatml)"},
      {"engine.context", &Config::engine_context, "KV cache cells shared by all slots", 256, 1 << 20},
      {"engine.slots", &Config::engine_slots, "parallel sequences decoded together", 1, 64},
      {"engine.queue", &Config::engine_queue, "waiting requests beyond the slots before 429", 0, 100000},
      {"engine.threads", &Config::engine_threads, "CPU threads for inference (0 = all cores)", 0, 1024},
      {"engine.batch", &Config::engine_batch, "tokens per decode call", 32, 8192},
      {"engine.max_tokens", &Config::engine_max_tokens, "largest max_tokens a request may ask for", 1, 1 << 20},
      {"engine.default_max_tokens", &Config::engine_default_max_tokens, "max_tokens when a request gives none", 1, 1 << 20},
      {"engine.overflow", &Config::engine_overflow, "context overflow policy", 0, 0, {"error", "truncate"}},
      {"router.intent_model", &Config::router_intent_model, "intent classifier directory (empty: the default head)"},
      {"router.quality_model", &Config::router_quality_model, "quality-gap model directory (empty: none)"},
      {"router.max_input_tokens", &Config::router_max_input_tokens, "tokens of a request the router embeds (its n-grams cover all of it)", 8, 512},
      {"router.threads", &Config::router_threads, "threads of the router's embedding model", 1, 64},
      {"router.cloud_share", &Config::router_cloud_share, "share of tandem/auto traffic the cloud may take (0..1; with a quality model)", 0, 1},
      {"router.ask_cloud_below", &Config::router_ask_cloud_below, "intent confidence below which the large model is asked to classify (0 = never, 1 = always)", 0, 1},
      {"router.learned_examples", &Config::router_learned_examples, "JSON Lines file keeping the large model's intent answers (empty: <data>/router/learned.jsonl)"},
      {"router.relearn_every", &Config::router_relearn_every, "tandem serve retrains the intent classifier in the background after this many of the large model's intent answers, on its own data plus all it learned (0: never)", 0, 1000000},
      {"router.cascade_outcomes", &Config::router_cascade_outcomes, "JSON Lines file keeping tandem/cascade's verdicts as routing examples (empty: <data>/router/cascade_outcomes.jsonl)"},
      {"router.cascade_min_mean_logprob", &Config::router_cascade_min_mean_logprob, "tandem/cascade keeps the local answer when its mean token log-probability reaches this", -100, 0},
      {"cloud.base_url", &Config::cloud_base_url, "OpenAI-compatible endpoint of the cloud model, up to /v1 (empty: no cloud)"},
      {"cloud.model", &Config::cloud_model, "the cloud model's id"},
      {"cloud.name", &Config::cloud_name, "provider name in responses and logs (empty: remote/<model>)"},
      {"cloud.api_key_env", &Config::cloud_api_key_env, "NAME of the environment variable holding the API key"},
      {"cloud.input_usd_per_mtok", &Config::cloud_input_usd_per_mtok, "price per million prompt tokens", 0, 1000000},
      {"cloud.output_usd_per_mtok", &Config::cloud_output_usd_per_mtok, "price per million completion tokens", 0, 1000000},
      {"cloud.timeout_ms", &Config::cloud_timeout_ms, "one attempt, the whole answer", 100, 3600000},
      {"cloud.max_retries", &Config::cloud_max_retries, "retries on 429, 5xx and connection failures", 0, 10},
      {"cloud.circuit_failures", &Config::cloud_circuit_failures, "failed attempts in a row that open the circuit breaker (0: never)", 0, 1000},
      {"cloud.circuit_cooldown_ms", &Config::cloud_circuit_cooldown_ms, "how long an open circuit waits before one trial call", 0, 86400000},
      {"knowledge.dir", &Config::knowledge_dir, "knowledge base directory (empty: <data>/kb)"},
      {"knowledge.embedding_model", &Config::knowledge_embedding_model, "the knowledge base's own embedding GGUF, e.g. the multilingual-e5-small scripts/setup.sh converts (empty: engine.embedding_model; the router keeps that one)"},
      {"knowledge.embedding_scripts", &Config::knowledge_embedding_scripts, "Unicode scripts knowledge.embedding_model reads, as engine.embedding_scripts (empty: engine.embedding_scripts; all for a multilingual model)"},
      {"knowledge.chunk_tokens", &Config::knowledge_chunk_tokens, "chunk size in embedding-model tokens", 16, 512},
      {"knowledge.chunk_overlap", &Config::knowledge_chunk_overlap, "tokens of whole sentences repeated between chunks", 0, 256},
      {"knowledge.top_k", &Config::knowledge_top_k, "passages retrieved for a grounded answer", 1, 50},
      {"knowledge.candidates", &Config::knowledge_candidates, "results taken from BM25 and from dense search before fusion", 1, 1000},
      {"knowledge.fusion", &Config::knowledge_fusion, "how hybrid search fuses BM25 and dense: scores (each list adds its weight x its scores rescaled to 0..1) or rrf (weight / (60 + rank))", 0, 0, {"scores", "rrf"}},
      {"knowledge.rerank", &Config::knowledge_rerank, "hybrid search: of the first N hits, those within knowledge.rerank_margin of the best are re-ordered by the local chat model's log P(query | passage); 0: off", 0, 50},
      {"knowledge.rerank_margin", &Config::knowledge_rerank_margin, "hybrid search: a hit is re-ranked when its fused score is within this share of the best one's", 0, 1},
      {"knowledge.bm25_weight", &Config::knowledge_bm25_weight, "weight of BM25 in hybrid search", 0, 100},
      {"knowledge.dense_weight", &Config::knowledge_dense_weight, "weight of dense search in hybrid search", 0, 100},
      {"knowledge.min_similarity", &Config::knowledge_min_similarity, "best cosine similarity below which (with no shared word) the answer is 'not found'; 0: the embedding model's own (tandem kb eval --not-found), 0.35 for a model without one", 0, 1},
      {"knowledge.max_file_mb", &Config::knowledge_max_file_mb, "largest file ingested, in MiB", 1, 1 << 20},
      {"privacy.gazetteer", &Config::privacy_gazetteer, "names and places list for the PII detectors (empty: the one scripts/setup.sh builds)"},
      {"privacy.tagger", &Config::privacy_tagger, "token tagger weights for names, organisations, places and addresses (empty: the copy of data/pii/pii-tagger.bin scripts/setup.sh makes; off: the rules alone)"},
      {"privacy.block", &Config::privacy_block, "comma-separated PII types that keep a request on this device (`tandem pii types`)"},
      {"privacy.allow", &Config::privacy_allow, "comma-separated PII types sent to the cloud as they are; every other type is pseudonymized"},
      {"privacy.audit_log", &Config::privacy_audit_log, "audit log of every request sent to the cloud (empty: <data>/audit.log)"},
      {"energy.cpu_tdp_w", &Config::energy_cpu_tdp_w, "the CPU's TDP in watts, used by the TDP x utilisation estimate when RAPL cannot be read", 1, 2000},
      {"energy.cloud_wh_per_1k_tokens", &Config::energy_cloud_wh_per_1k_tokens, "estimated Wh per 1,000 tokens of a cloud answer (default from Epoch AI's ~0.3 Wh per typical GPT-4o query; Google reports 0.24 Wh per median Gemini prompt, 2.9 Wh per ChatGPT request is an often-quoted upper bound)", 0, 1000},
      {"energy.grid_gco2_per_kwh", &Config::energy_grid_gco2_per_kwh, "grams of CO2 per kWh of the electricity used (default: world average, IEA 2023)", 0, 2000},
      {"energy.usage_log", &Config::energy_usage_log, "every answer's tokens, energy, CO2 and cost, for tandem energy report (empty: <data>/usage.jsonl)"},
      {"security.encryption", &Config::security_encryption, "encryption at rest: auto (a new keyring uses the passphrase when its variable is set, else the TPM when one answers, else a key in the keyring file), tpm, passphrase, local, off (files in clear)", 0, 0, {"auto", "tpm", "passphrase", "local", "off"}},
      {"security.keyring", &Config::security_keyring, "the keyring: data keys wrapped by the master key (empty: <config>/keyring.json, outside the data directory)"},
      {"security.passphrase_env", &Config::security_passphrase_env, "NAME of the environment variable holding the passphrase (Argon2id)"},
      {"security.tpm_tcti", &Config::security_tpm_tcti, "tss2 TCTI of the TPM 2.0 (device:/dev/tpmrm0, or swtpm:host=127.0.0.1,port=N)"},
      {"security.tpm_pcrs", &Config::security_tpm_pcrs, "comma-separated SHA-256 PCRs the master key is sealed to (0..23)"},
      {"devices.chat", &Config::devices_chat, "where the chat model runs: auto (the placement planner), cpu, or the devices for its offloaded layers, e.g. CUDA0 or CUDA0,RPC0 (`tandem devices`)"},
      {"devices.chat_gpu_layers", &Config::devices_chat_gpu_layers, "layers of the chat model that leave the CPU, the output layer included (-1: as many as fit)", -1, 100000},
      {"devices.chat_tensor_split", &Config::devices_chat_tensor_split, "ratios of the offloaded layers per device of devices.chat, e.g. 3,1 (empty: by free memory x throughput)"},
      {"devices.embedding", &Config::devices_embedding, "where the embedder and the router's copy of it run: auto, cpu or a device"},
      {"devices.rpc_servers", &Config::devices_rpc_servers, "ggml RPC servers (ggml-rpc-server) whose devices Tandem may use, host:port,host:port"},
      {"devices.throughput", &Config::devices_throughput, "measured tokens/s per device for the planner, e.g. CPU=30,CUDA0=400 (others: a default by kind)"},
      {"devices.chat_replicas", &Config::devices_chat_replicas, "copies of the chat model on several devices, entries separated by ';', each a devices.chat value, e.g. cpu;CUDA0 or CUDA0;CUDA1,CUDA2; each request goes to the copy expected to finish it first (empty: one copy, placed by devices.chat)"},
      {"devices.schedule", &Config::devices_schedule, "which copy of the chat model answers a request: fastest (expected completion time) or least_energy (expected joules, from devices.watts)", 0, 0, {"fastest", "least_energy"}},
      {"devices.watts", &Config::devices_watts, "power per device while it works, e.g. CPU=65,CUDA0=350, for devices.schedule = least_energy (CPU default: energy.cpu_tdp_w)"},
      {"log.level", &Config::log_level, "log level", 0, 0, {"debug", "info", "warn", "error", "off"}},
  };
  return kSettings;
}

std::string env_name(std::string_view key) {
  std::string name = "TANDEM_";
  for (char c : key) name += (c == '.') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

// Shortest text that reads back as the same double ("0.3", not "0.300000").
std::string fmt_double(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

std::string current_value(const Config& config, const Setting& s) {
  return std::visit(
      [&](auto member) -> std::string {
        if constexpr (std::is_same_v<decltype(member), std::string Config::*>) {
          return config.*member;
        } else if constexpr (std::is_same_v<decltype(member), double Config::*>) {
          return fmt_double(config.*member);
        } else {
          return std::to_string(config.*member);
        }
      },
      s.field);
}

// Assigns a textual value (from env or --set) with the same checks as TOML values.
Status assign_text(Config& config, const Setting& s, const std::string& text, const std::string& origin) {
  if (auto* str_field = std::get_if<std::string Config::*>(&s.field)) {
    config.**str_field = text;
    return {};
  }
  if (auto* double_field = std::get_if<double Config::*>(&s.field)) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return make_error(ErrorCode::kInvalidArgument, origin + ": " + s.key + " must be a number, got '" + text + "'");
    }
    config.**double_field = value;
    return {};
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return make_error(ErrorCode::kInvalidArgument, origin + ": " + s.key + " must be an integer, got '" + text + "'");
  }
  config.*std::get<int64_t Config::*>(s.field) = value;
  return {};
}

Status assign_toml(Config& config, const Setting& s, const toml::node& node, const std::string& origin) {
  if (auto* str_field = std::get_if<std::string Config::*>(&s.field)) {
    auto v = node.value<std::string>();
    if (!v) return make_error(ErrorCode::kInvalidArgument, origin + ": " + s.key + " must be a string");
    config.**str_field = *v;
    return {};
  }
  if (auto* double_field = std::get_if<double Config::*>(&s.field)) {
    if (!node.is_number()) return make_error(ErrorCode::kInvalidArgument, origin + ": " + s.key + " must be a number");
    config.**double_field = *node.value<double>();
    return {};
  }
  if (!node.is_integer()) return make_error(ErrorCode::kInvalidArgument, origin + ": " + s.key + " must be an integer");
  config.*std::get<int64_t Config::*>(s.field) = *node.value<int64_t>();
  return {};
}

Status check_range(const Config& config, const Setting& s) {
  if (auto* int_field = std::get_if<int64_t Config::*>(&s.field); int_field && s.min != s.max) {
    int64_t v = config.**int_field;
    if (v < s.min || v > s.max) {
      return make_error(ErrorCode::kInvalidArgument, std::string(s.key) + " = " + std::to_string(v) + " is out of range [" +
                                                         std::to_string(s.min) + ", " + std::to_string(s.max) + "]");
    }
  }
  if (auto* double_field = std::get_if<double Config::*>(&s.field); double_field && s.min != s.max) {
    const double v = config.**double_field;
    if (!(v >= static_cast<double>(s.min) && v <= static_cast<double>(s.max))) {
      return make_error(ErrorCode::kInvalidArgument, std::string(s.key) + " = " + fmt_double(v) + " is out of range [" +
                                                         std::to_string(s.min) + ", " + std::to_string(s.max) + "]");
    }
  }
  if (!s.choices.empty()) {
    std::string v = current_value(config, s);
    std::string allowed;
    for (const auto& c : s.choices) {
      if (c == v) return {};
      allowed += (allowed.empty() ? "" : ", ") + c;
    }
    return make_error(ErrorCode::kInvalidArgument, std::string(s.key) + " = '" + v + "' is not one of: " + allowed);
  }
  return {};
}

const Setting* find_setting(std::string_view key) {
  for (const auto& s : settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

std::string unknown_setting(const std::string& key) {
  return "unknown setting '" + key + "'";
}

Status apply_toml_file(Config& config, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return make_error(ErrorCode::kInvalidArgument, "config " + path + ":" + std::to_string(where.line) + ":" +
                                                       std::to_string(where.column) + ": " + std::string(e.description()));
  }
  for (const auto& [section, section_node] : table) {
    const auto* section_table = section_node.as_table();
    if (!section_table) {
      return make_error(ErrorCode::kInvalidArgument, "config " + path + ": '" + std::string(section.str()) +
                                                         "' must be a [section]");
    }
    for (const auto& [name, node] : *section_table) {
      std::string key = std::string(section.str()) + "." + std::string(name.str());
      const Setting* s = find_setting(key);
      if (!s) return make_error(ErrorCode::kInvalidArgument, "config " + path + ": " + unknown_setting(key));
      if (auto st = assign_toml(config, *s, node, "config " + path); !st) return st;
    }
  }
  return {};
}

}  // namespace

std::vector<SettingInfo> list_settings() {
  Config defaults;
  std::vector<SettingInfo> out;
  for (const auto& s : settings()) {
    const char* type = std::holds_alternative<std::string Config::*>(s.field) ? "string"
                       : std::holds_alternative<double Config::*>(s.field)    ? "number"
                                                                              : "integer";
    out.push_back({s.key, type, current_value(defaults, s), s.help, env_name(s.key)});
  }
  return out;
}

std::string setting_value(const Config& config, std::string_view key) {
  const Setting* s = find_setting(key);
  return s ? current_value(config, *s) : std::string();
}

Result<Config> load_config(const std::string& path, const std::map<std::string, std::string>& overrides) {
  Config config;
  if (!path.empty()) {
    if (!std::filesystem::exists(path)) return make_error(ErrorCode::kNotFound, "config file not found: " + path);
    if (auto st = apply_toml_file(config, path); !st) return st.error();
  }
  for (const auto& s : settings()) {
    std::string env = env_name(s.key);
    if (const char* v = std::getenv(env.c_str())) {
      if (auto st = assign_text(config, s, v, "environment " + env); !st) return st.error();
    }
  }
  for (const auto& [key, value] : overrides) {
    const Setting* s = find_setting(key);
    if (!s) return make_error(ErrorCode::kInvalidArgument, unknown_setting(key));
    if (auto st = assign_text(config, *s, value, "--set"); !st) return st.error();
  }
  for (const auto& s : settings()) {
    if (auto st = check_range(config, s); !st) return st.error();
  }
  if (config.engine_default_max_tokens > config.engine_max_tokens) {
    return make_error(ErrorCode::kInvalidArgument, "engine.default_max_tokens must not exceed engine.max_tokens");
  }
  if (config.engine_model.empty()) config.engine_model = default_chat_model_path();
  if (config.engine_embedding_model.empty()) config.engine_embedding_model = default_embedding_model_path();
  if (config.router_intent_model.empty()) config.router_intent_model = default_intent_model_dir();
  if (config.router_learned_examples.empty()) config.router_learned_examples = default_data_dir() + "/router/learned.jsonl";
  if (config.router_cascade_outcomes.empty())
    config.router_cascade_outcomes = default_data_dir() + "/router/cascade_outcomes.jsonl";
  if (config.knowledge_dir.empty()) config.knowledge_dir = default_data_dir() + "/kb";
  if (config.knowledge_embedding_model.empty()) config.knowledge_embedding_model = config.engine_embedding_model;
  if (config.knowledge_embedding_scripts.empty()) config.knowledge_embedding_scripts = config.engine_embedding_scripts;
  if (config.privacy_gazetteer.empty()) config.privacy_gazetteer = default_gazetteer_path();
  if (config.privacy_tagger.empty()) config.privacy_tagger = default_pii_tagger_path();
  if (config.privacy_audit_log.empty()) config.privacy_audit_log = default_data_dir() + "/audit.log";
  if (config.server_keys_file.empty()) config.server_keys_file = default_data_dir() + "/keys.json";
  if (config.energy_usage_log.empty()) config.energy_usage_log = default_data_dir() + "/usage.jsonl";
  if (config.security_keyring.empty()) config.security_keyring = default_config_dir() + "/keyring.json";
  if (config.knowledge_chunk_overlap >= config.knowledge_chunk_tokens) {
    return make_error(ErrorCode::kInvalidArgument, "knowledge.chunk_overlap must be smaller than knowledge.chunk_tokens");
  }
  return config;
}

std::string default_cache_dir() {
  if (const char* c = std::getenv("TANDEM_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tandem";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.cache/tandem";
}

std::vector<std::string> split_setting_list(std::string_view text, char separator) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(separator, start), text.size());
    std::string_view item = text.substr(start, end - start);
    item.remove_prefix(std::min(item.find_first_not_of(" \t"), item.size()));
    item.remove_suffix(item.size() - std::min(item.find_last_not_of(" \t") + 1, item.size()));
    if (!item.empty()) items.emplace_back(item);
    start = end + 1;
  }
  return items;
}

std::string default_chat_model_path() { return default_cache_dir() + "/models/gemma-3-270m-q4_k_m.gguf"; }
std::string default_embedding_model_path() { return default_cache_dir() + "/models/all-minilm-l6-v2-bf16.gguf"; }
std::string default_intent_model_dir() { return default_cache_dir() + "/router/intents"; }
std::string default_gazetteer_path() { return default_cache_dir() + "/models/pii-gazetteer.tsv"; }
std::string default_pii_tagger_path() { return default_cache_dir() + "/models/pii-tagger.bin"; }

std::string default_data_dir() {
  if (const char* d = std::getenv("TANDEM_DATA"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/tandem";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/tandem";
}

std::string default_config_dir() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/tandem";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/tandem";
}

}  // namespace tandem
