// Tandem's configuration: every setting declared once (key, type, default, help, environment
// variable, range) in config.cpp, read from one TOML file, then overridden by the environment
// and by command-line `--set key=value`.
//
//   auto config = tandem::load_config(path_or_empty, {{"server.port", "9000"}});
//   if (!config) { print(config.error().message); return 2; }
//   serve(config->server_port);
//
// TOML `[server] port = 8080` is the key `server.port`, env `TANDEM_SERVER_PORT`.
// Unknown keys, wrong types and out-of-range values are refused with a message naming the field.
// Thread-safety: Config is a plain value; load_config has no shared state.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace tandem {

struct Config {
  // [server]
  std::string server_host = "127.0.0.1";
  int64_t server_port = 8080;
  int64_t server_threads = 8;                // HTTP worker threads = concurrent connections
  int64_t server_max_body_bytes = 8 << 20;   // larger bodies get 413
  int64_t server_request_timeout_s = 300;    // whole-request deadline, generation included
  int64_t server_read_timeout_s = 30;        // slow clients are dropped
  int64_t server_drain_timeout_s = 30;       // graceful drain on SIGTERM
  std::string server_auth = "keys";          // "keys": every request needs an API key; "none": single-user, loopback only
  std::string server_keys_file = "";         // API keys (salted hashes); empty = <data>/keys.json
  int64_t server_rate_limit_rpm = 0;         // requests per minute per API key (0: no limit)
  int64_t server_rate_limit_tpm = 0;         // chat tokens (prompt estimate + max_tokens) per minute per key
  double server_budget_usd_per_day = 0;      // money per API key per UTC day (0: no budget)
  double server_budget_wh_per_day = 0;       // energy per API key per UTC day (0: no budget)
  std::string server_tls_cert = "";          // PEM certificate (chain); with tls_key: serve HTTPS only
  std::string server_tls_key = "";           // PEM private key of tls_cert

  // [engine]
  std::string engine_model = "";             // chat GGUF; empty = the default downloaded model
  std::string engine_model_name = "";        // name shown in /v1/models; empty = file stem
  std::string engine_embedding_model = "";   // embedding GGUF; empty = the default converted model
  std::string engine_embedding_scripts = "Latin";  // scripts the embedding model reads; "all" for a multilingual one
  std::string engine_lora_dir = "";          // directory of GGUF LoRA adapters (by file stem)
  std::string engine_chat_template = "";     // empty = the model's own; else a llama.cpp built-in name
  int64_t engine_context = 8192;             // total KV cells, shared by all slots
  int64_t engine_slots = 4;                  // requests decoded together (continuous batching)
  int64_t engine_queue = 64;                 // requests waiting beyond the slots; more get 429
  int64_t engine_threads = 0;                // 0 = all cores
  int64_t engine_batch = 512;                // tokens per llama_decode
  int64_t engine_max_tokens = 4096;          // upper bound for a request's max_tokens
  int64_t engine_default_max_tokens = 512;   // when the request does not say
  std::string engine_overflow = "error";     // "error" (400 with counts) or "truncate" (drop oldest turns, reported)

  // [router]
  std::string router_intent_model = "";      // intent classifier directory; empty = the default head
  std::string router_quality_model = "";     // quality-gap model directory; empty = none (intent only)
  // The router embeds the head of a request (its n-gram features read all of it): cost grows
  // with length. 32 tokens: ~4 ms for a short request, ~12 ms at most on one core; more reads
  // long requests better and costs more (docs/benchmarks.md).
  int64_t router_max_input_tokens = 32;
  int64_t router_threads = 1;                // the router's embedding threads
  double router_cloud_share = 0.3;           // the knob: share of tandem/auto traffic sent to the cloud
  double router_ask_cloud_below = 0.5;       // intent confidence below which the large model classifies
  double router_cascade_min_mean_logprob = -1.0;  // tandem/cascade keeps the local answer at or above this
  std::string router_learned_examples = "";  // the large model's intent answers; empty = <data>/router/learned.jsonl
  int64_t router_relearn_every = 25;         // tandem serve retrains the intent head after this many (0: never)
  std::string router_cascade_outcomes = "";  // tandem/cascade's verdicts; empty = <data>/router/cascade_outcomes.jsonl

  // [cloud]: one OpenAI-compatible provider for the large model; the key comes from the environment
  std::string cloud_base_url = "";           // empty: no cloud
  std::string cloud_model = "";
  std::string cloud_name = "";
  std::string cloud_api_key_env = "";        // the variable's NAME, never the key itself
  double cloud_input_usd_per_mtok = 0;
  double cloud_output_usd_per_mtok = 0;
  int64_t cloud_timeout_ms = 120000;
  int64_t cloud_max_retries = 2;
  int64_t cloud_circuit_failures = 5;        // failed attempts in a row that open the circuit (0: never)
  int64_t cloud_circuit_cooldown_ms = 30000; // how long an open circuit keeps tandem/auto local

  // [knowledge]: the private knowledge base
  std::string knowledge_dir = "";            // empty = <data>/kb
  std::string knowledge_embedding_model = "";    // the base's own embedding GGUF; empty = engine.embedding_model
  std::string knowledge_embedding_scripts = "";  // the scripts that model reads; empty = engine.embedding_scripts
  int64_t knowledge_chunk_tokens = 200;      // per chunk, as the embedding model counts them
  int64_t knowledge_chunk_overlap = 32;      // tokens of whole sentences repeated between chunks
  int64_t knowledge_top_k = 5;               // passages given to the model
  int64_t knowledge_candidates = 50;         // taken from each of BM25 and dense before fusion
  std::string knowledge_fusion = "scores";    // hybrid search: "scores" (rescaled) or "rrf" (reciprocal ranks)
  int64_t knowledge_rerank = 2;               // hybrid: close leading hits re-ranked by the chat model
  double knowledge_rerank_margin = 0.25;      // "close": within this share of the best fused score
  double knowledge_bm25_weight = 1.0;        // hybrid search: weights of the rescaled scores
  double knowledge_dense_weight = 1.0;
  double knowledge_min_similarity = 0;       // below (and no shared word): "not found"; 0: the embedding model's
  int64_t knowledge_max_file_mb = 256;       // larger files are refused with a message

  // [privacy]: what happens to personal data in text that would go to the cloud
  std::string privacy_gazetteer = "";        // names/places list; empty = <cache>/models/pii-gazetteer.tsv
  std::string privacy_tagger = "";           // token tagger weights; empty = <cache>/models/pii-tagger.bin, "off" = rules only
  std::string privacy_block = "secret";      // types that keep a request on this device
  std::string privacy_allow = "location,date_time";  // types sent as they are; all others pseudonymized
  std::string privacy_audit_log = "";        // one entry per egress; empty = <data>/audit.log

  // [energy]
  double energy_cpu_tdp_w = 65;              // the CPU's thermal design power, for the estimate when RAPL cannot be read
  double energy_cloud_wh_per_1k_tokens = 0.6;  // cloud answers: ~0.3 Wh per typical ~500-token GPT-4o answer (Epoch AI, 2025)
  double energy_grid_gco2_per_kwh = 445;     // carbon intensity of the electricity (world average, IEA 2023)
  std::string energy_usage_log = "";         // every answer's usage; empty = <data>/usage.jsonl

  // [security]: encryption at rest (privacy/keyring.h)
  std::string security_encryption = "auto";  // auto | tpm | passphrase | local | off
  std::string security_keyring = "";         // empty = <config>/keyring.json (outside the data directory)
  std::string security_passphrase_env = "TANDEM_PASSPHRASE";  // the variable's NAME, never the passphrase
  std::string security_tpm_tcti = "device:/dev/tpmrm0";
  std::string security_tpm_pcrs = "16";  // comma-separated PCRs the master key is sealed to
  // [devices]: where each model runs (`tandem plan`); "auto" lets the placement planner choose
  std::string devices_chat = "auto";         // "auto", "cpu", or the devices for the offloaded layers: "CUDA0", "CUDA0,CUDA1"
  int64_t devices_chat_gpu_layers = -1;      // layers (the output layer counts) that leave the CPU; -1: as many as fit
  std::string devices_chat_tensor_split = "";  // ratios per device of devices.chat, e.g. "3,1"; empty: planned
  std::string devices_embedding = "auto";    // the embedder and the router's copy of it: "auto", "cpu" or a device
  std::string devices_rpc_servers = "";      // ggml RPC servers, "host:port,host:port": more devices
  std::string devices_throughput = "";       // measured tokens/s per device, "CPU=30,CUDA0=400"; others: defaults by kind
  std::string devices_chat_replicas = "";    // copies of the chat model, one per entry: "cpu;CUDA0" (empty: one, devices.chat)
  std::string devices_schedule = "fastest";  // which replica answers: "fastest" or "least_energy"
  std::string devices_watts = "";            // power per device while it works, "CPU=65,CUDA0=350", for least_energy

  // [log]
  std::string log_level = "info";
};

struct SettingInfo {
  std::string key;
  std::string type;
  std::string default_value;
  std::string help;
  std::string env;
};

// All settings with their defaults, for `tandem config` and the docs.
std::vector<SettingInfo> list_settings();

// The value of setting `key` in `config` as text ("" for an unknown key), for `tandem config show`.
std::string setting_value(const Config& config, std::string_view key);

// Reads `path` (may be empty: defaults only), then TANDEM_* environment variables, then overrides.
Result<Config> load_config(const std::string& path, const std::map<std::string, std::string>& overrides = {});

// The items of a comma-separated setting ("CUDA0, RPC0" -> {"CUDA0", "RPC0"}): spaces around
// items dropped, empty items skipped. Lists of lists use another separator ("cpu; CUDA0,CUDA1").
std::vector<std::string> split_setting_list(std::string_view text, char separator = ',');

// The default locations used when a path setting is empty.
std::string default_cache_dir();        // $TANDEM_CACHE or ~/.cache/tandem
std::string default_chat_model_path();  // <cache>/models/gemma-3-270m-q4_k_m.gguf
std::string default_embedding_model_path();
std::string default_intent_model_dir();  // <cache>/router/intents (trained by scripts/setup.sh)
std::string default_gazetteer_path();    // <cache>/models/pii-gazetteer.tsv (built by scripts/setup.sh)
std::string default_pii_tagger_path();   // <cache>/models/pii-tagger.bin (copied from data/pii/ by scripts/setup.sh)
std::string default_data_dir();         // $TANDEM_DATA or ~/.local/share/tandem: the user's own data
std::string default_config_dir();       // $XDG_CONFIG_HOME/tandem or ~/.config/tandem: the keyring

}  // namespace tandem
