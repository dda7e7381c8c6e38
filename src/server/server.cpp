// The httplib glue: routes, limits, streaming and drain. Request bodies are parsed by
// openai_protocol, errors shaped by http_errors; the engines do the work.
#include "server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "core/log.h"
#include "energy/meters.h"
#include "energy/tracker.h"
#include "energy/usage_ledger.h"
#include "knowledge/grounding.h"
#include "pipeline/pipeline.h"
#include "server/budgets.h"
#include "server/deadline_watch.h"
#include "server/http_errors.h"
#include "server/http_reply.h"
#include "server/keys_api.h"
#include "server/knowledge_api.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server/rate_limiter.h"
#include "server/tenancy.h"
#include "server/usage_api.h"
#include "server/web_assets.h"

namespace tandem::server {
namespace {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

// Model ids the pipeline routes: the router decides, or the cloud is forced.
constexpr const char* kAutoModel = "tandem/auto";
constexpr const char* kCloudModel = "tandem/cloud";
constexpr const char* kCascadeModel = "tandem/cascade";

std::optional<router::RouteMode> routed_mode(const std::string& model) {
  if (model == kAutoModel) return router::RouteMode::kAuto;
  if (model == kCloudModel) return router::RouteMode::kCloud;
  if (model == kCascadeModel) return router::RouteMode::kCascade;
  return std::nullopt;
}

// The address and port of a socket's end, as httplib writes them in a Request.
std::pair<std::string, int> socket_end(int fd, bool peer) {
  sockaddr_storage address{};
  socklen_t size = sizeof(address);
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if ((peer ? getpeername(fd, raw, &size) : getsockname(fd, raw, &size)) != 0) return {"", -1};
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    return {text, ntohs(v4->sin_port)};
  }
  if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    return {text, ntohs(v6->sin6_port)};
  }
  return {"", -1};
}

// The socket a request arrived on, or -1. httplib 0.11 keeps it from handlers, so it is found
// among the process's open sockets by its two ends; the worker thread running the handler owns
// it, so it stays open (and is not reused) until the handler returns.
int connection_socket(const Request& req) {
  DIR* fds = opendir("/proc/self/fd");
  if (!fds) return -1;
  int found = -1;
  while (const dirent* entry = readdir(fds)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    struct stat info {};
    if (*end != '\0' || end == entry->d_name || fd == dirfd(fds) || fstat(static_cast<int>(fd), &info) != 0 ||
        !S_ISSOCK(info.st_mode)) {
      continue;
    }
    const int socket = static_cast<int>(fd);
    if (socket_end(socket, false) == std::pair(req.local_addr, req.local_port) &&
        socket_end(socket, true) == std::pair(req.remote_addr, req.remote_port)) {
      found = socket;
      break;
    }
  }
  closedir(fds);
  return found;
}

// A header value from text that may hold anything: printable ASCII only, bounded.
std::string header_safe(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

nlohmann::json attempts_json(const std::vector<pipeline::Attempt>& attempts) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : attempts) {
    nlohmann::json item = {{"route", router::route_target_name(a.target)},
                           {"provider", a.provider},
                           {"accepted", a.accepted},
                           {"cost_usd", a.cost_usd},
                           {"elapsed_ms", a.elapsed_ms}};
    if (a.confidence) {
      item["mean_logprob"] = a.confidence->mean_logprob;
      item["min_logprob"] = a.confidence->min_logprob;
      item["scored_tokens"] = a.confidence->tokens;
    }
    if (!a.error.empty()) item["error"] = a.error;
    out.push_back(std::move(item));
  }
  return out;
}

// Where a routed answer came from and why: the `tandem` object's additions.
nlohmann::json answer_json(const pipeline::Answer& answer) {
  const auto& d = answer.route.decision;
  nlohmann::json out = {{"route", router::route_target_name(answer.answered_by)},
                        {"mode", router::route_mode_name(d.mode)},
                        {"reasons", d.reasons},
                        {"router_ms", answer.route.router_ms},
                        {"estimates",
                         {{"prompt_tokens", answer.route.estimated_prompt_tokens},
                          {"local", {{"cost_usd", 0.0}}},
                          {"cloud", {{"cost_usd", answer.route.estimated_cloud_cost_usd}}}}},
                        {"model", answer.result.model},
                        {"provider", answer.result.provider},
                        {"cost_usd", answer.result.cost_usd},
                        {"fallback", answer.fallback}};
  if (!d.intent.empty()) {
    out["intent"] = {{"label", d.intent},
                     {"confidence", d.intent_confidence},
                     {"out_of_scope", d.out_of_scope},
                     {"source", d.intent_from_cloud ? "cloud" : "local"}};
    if (d.intent_from_cloud) out["intent"]["cost_usd"] = answer.route.intent_from_cloud_cost_usd;
  }
  if (d.local_good_enough) out["local_good_enough"] = *d.local_good_enough;
  if (answer.fallback) out["reasons"].push_back(answer.fallback_reason);
  if (!answer.attempts.empty()) out["attempts"] = attempts_json(answer.attempts);
  const nlohmann::json pseudonymized = privacy::counts_by_name(answer.egress.pseudonymized);
  nlohmann::json blocked = nlohmann::json::array();
  for (auto type : answer.route.blocked) blocked.push_back(privacy::entity_type_name(type));
  out["privacy"] = {{"sent_to_cloud", answer.egress.sent}, {"pseudonymized", pseudonymized}, {"blocked", blocked}};
  if (const auto& grounded = answer.route.grounded) {
    const auto check = knowledge::check_citations(answer.result.text, grounded->citations);
    nlohmann::json citations = nlohmann::json::array();
    for (const auto& c : grounded->citations) {
      const bool cited = std::find(check.cited.begin(), check.cited.end(), c.number) != check.cited.end();
      citations.push_back({{"number", c.number},
                           {"cited", cited},
                           {"document_id", c.document_id},
                           {"path", c.path},
                           {"title", c.title},
                           {"page", c.page},
                           {"char_start", c.char_start},
                           {"char_end", c.char_end},
                           {"snippet", c.snippet},
                           {"score", c.score}});
    }
    out["route"] = "knowledge";
    out["knowledge"] = {{"found", grounded->found},
                        {"retrieval_ms", answer.route.retrieval_ms},
                        {"citations", citations},
                        {"unknown_citations", check.unknown}};
  }
  return out;
}

// A provider's answer in the engine's result shape, which the OpenAI formatting reads.
engine::GenerationResult generation_result(const providers::ChatResult& r) {
  engine::GenerationResult out;
  out.text = r.text;
  out.finish_reason = r.finish_reason;
  if (r.usage) out.usage = *r.usage;
  out.timings.time_to_first_token_ms = r.time_to_first_token_ms;
  out.device = r.device;
  out.device_reason = r.device_reason;
  // First token to last, as the engine reports it (a provider's elapsed time includes the wait).
  out.timings.generation_ms = r.time_to_first_token_ms > 0 ? r.elapsed_ms - r.time_to_first_token_ms : r.elapsed_ms;
  return out;
}

// One generated answer and what the `tandem` object adds for it.
struct Generated {
  engine::GenerationResult result;
  nlohmann::json route = nlohmann::json::object();
};
using Generate = std::function<Result<Generated>(const engine::DeltaCallback* on_delta)>;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class HttpServer final : public Server {
 public:
  HttpServer(const Config& config, engine::ChatEngine& chat, engine::Embedder* embedder,
             const pipeline::Pipeline* pipeline, std::unique_ptr<ApiKeyStore> keys,
             std::unique_ptr<energy::EnergyTracker> energy, std::unique_ptr<energy::UsageLedger> usage_log,
             const std::optional<privacy::Key>& usage_key, std::unique_ptr<httplib::Server> http)
      : config_(config),
        keys_(std::move(keys)),
        auth_(keys_.get()),
        limiter_(
            {.requests_per_minute = config.server_rate_limit_rpm, .tokens_per_minute = config.server_rate_limit_tpm}),
        energy_(std::move(energy)),
        usage_log_(std::move(usage_log)),
        budgets_({.usd_per_day = config.server_budget_usd_per_day, .wh_per_day = config.server_budget_wh_per_day}),
        chat_(chat),
        embedder_(embedder),
        pipeline_(pipeline),
        chat_info_(chat.info()),
        limits_{.max_tokens = static_cast<int32_t>(config.engine_max_tokens),
                .default_max_tokens = static_cast<int32_t>(config.engine_default_max_tokens),
                .overflow = config.engine_overflow == "truncate" ? engine::OverflowPolicy::kTruncate
                                                                 : engine::OverflowPolicy::kError},
        started_at_(unix_now()),
        usage_key_(usage_key),
        http_(std::move(http)) {
    if (embedder_) embedding_info_ = embedder_->info();
    // Only budgets need what was spent before the start; without them the log is not read.
    if (config.server_budget_usd_per_day > 0 || config.server_budget_wh_per_day > 0) {
      if (auto spent = energy::read_usage(config.energy_usage_log, usage_key)) {
        budgets_.seed(*spent);
      } else {
        TANDEM_LOG(kWarn, "server", "daily budgets start from zero: {}", spent.error().message);
      }
    }
    configure();
  }

  ~HttpServer() override { stop_listener(); }

  Status start() override {
    const std::string& host = config_.server_host;
    int port = static_cast<int>(config_.server_port);
    if (port == 0) {
      port = http_->bind_to_any_port(host);
    } else if (!http_->bind_to_port(host, port)) {
      port = -1;
    }
    if (port < 0) {
      return make_error(ErrorCode::kUnavailable, fmt::format("cannot listen on {}:{} (address in use or not available)",
                                                             host, config_.server_port));
    }
    port_ = port;
    listener_ = std::thread([this] { http_->listen_after_bind(); });
    TANDEM_LOG(kInfo, "server", "serving {} on {}:{} with {} threads", chat_info_.name, host, port_,
               config_.server_threads);
    return {};
  }

  int port() const override { return port_; }

  void shutdown(std::chrono::milliseconds drain) override {
    if (draining_.exchange(true)) return;
    const auto deadline = std::chrono::steady_clock::now() + drain;
    TANDEM_LOG(kInfo, "server", "draining: {} requests running, waiting up to {} ms", chat_.active_requests(),
               drain.count());
    chat_.drain(drain);  // running generations finish, or are cancelled at the deadline
    {
      // The HTTP threads still have to write what the engine returned (and embeddings may run).
      constexpr auto kWriteGrace = std::chrono::seconds(2);
      std::unique_lock lock(in_flight_mutex_);
      in_flight_done_.wait_until(lock, std::max(deadline, std::chrono::steady_clock::now() + kWriteGrace),
                                 [&] { return in_flight_ == 0; });
    }
    stop_listener();
    TANDEM_LOG(kInfo, "server", "stopped");
  }

 private:
  // Counts a request from its arrival until its last byte is written (for drain).
  class InFlight {
   public:
    explicit InFlight(HttpServer& server) : server_(server) {
      std::lock_guard lock(server_.in_flight_mutex_);
      ++server_.in_flight_;
    }
    ~InFlight() {
      std::lock_guard lock(server_.in_flight_mutex_);
      if (--server_.in_flight_ == 0) server_.in_flight_done_.notify_all();
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    HttpServer& server_;
  };

  void configure() {
    const auto threads = static_cast<size_t>(config_.server_threads);
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_read_timeout(std::chrono::seconds(config_.server_read_timeout_s));
    http_->set_write_timeout(std::chrono::seconds(config_.server_read_timeout_s));
    http_->set_payload_max_length(static_cast<size_t>(config_.server_max_body_bytes));
    // httplib's default adds SO_REUSEPORT, which would let a second server share a busy port
    // silently; SO_REUSEADDR alone still allows a quick restart. TCP_NODELAY (inherited by the
    // accepted sockets) sends each small SSE chunk at once instead of waiting for Nagle.
    http_->set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    });

    // Runs before the body is read: a draining server refuses new work at once, and a request
    // without a valid API key goes no further (only /health and the web console's files are open).
    http_->set_pre_routing_handler([this](const Request& req, Response& res) {
      if (req.path == "/health") return HandlerResponse::Unhandled;
      if ((req.method == "GET" || req.method == "HEAD") && find_web_file(req.path)) return HandlerResponse::Unhandled;
      if (draining_) {
        reply_error(res, api_error(make_error(ErrorCode::kUnavailable, "the server is shutting down")));
        return HandlerResponse::Handled;
      }
      auto caller = auth_.authenticate(req);
      if (!caller) {
        reply_error(res, api_error(caller.error()));
        return HandlerResponse::Handled;
      }
      // A chat request is admitted by its handler, which knows how many tokens it may use.
      if (req.path != "/v1/chat/completions" && !admit(*caller, 0, res)) return HandlerResponse::Handled;
      return HandlerResponse::Unhandled;
    });
    // Errors httplib produces itself (413, 404, malformed HTTP) get the OpenAI error shape too.
    http_->set_error_handler(httplib::Server::HandlerWithResponse([this](const Request& req, Response& res) {
      if (!res.body.empty()) return HandlerResponse::Unhandled;  // already an API error
      reply_error(res, api_error_for_status(res.status, http_error_message(req, res.status)));
      return HandlerResponse::Handled;
    }));
    http_->set_exception_handler([](const Request& req, Response& res, std::exception_ptr error) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      TANDEM_LOG(kError, "server", "{} {} failed: {}", req.method, req.path, what);
      reply_error(res, api_error(make_error(ErrorCode::kInternal, "internal server error")));
    });
    http_->set_logger([](const Request& req, const Response& res) {
      TANDEM_LOG(kDebug, "server", "{} {} -> {}", req.method, req.path, res.status);
    });

    http_->Get("/health", [this](const Request&, Response& res) { handle_health(res); });
    http_->Get("/v1/models", [this](const Request&, Response& res) { reply_json(res, models()); });
    // Model ids hold slashes (tandem/auto), so the id is the rest of the path.
    http_->Get(R"(/v1/models/(.+))", [this](const Request& req, Response& res) {
      const std::string id = req.matches[1];
      const auto listed = models();
      for (const auto& model : listed["data"]) {
        if (model["id"] == id) return reply_json(res, model);
      }
      reply_error(res, unknown_model_error(id));
    });
    http_->Post("/v1/chat/completions", [this](const Request& req, Response& res) { handle_chat(req, res); });
    http_->Get("/metrics", [this](const Request& req, Response& res) {
      auto caller = auth_.authenticate(req);
      if (!caller) return reply_error(res, api_error(caller.error()));
      if (caller->scope != KeyScope::kAdmin) {
        return reply_error(res, api_error(make_error(ErrorCode::kPermissionDenied, "/metrics needs an admin key")));
      }
      auto text = metrics_.prometheus_text();
      if (auto relearning = pipeline_ ? pipeline_->relearning() : std::nullopt)
        text += relearning_prometheus_text(*relearning);
      res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    });
    http_->Post("/v1/embeddings", [this](const Request& req, Response& res) { handle_embeddings(req, res); });
    add_knowledge_routes(*http_, pipeline_ ? pipeline_->knowledge() : nullptr, auth_);
    add_keys_routes(*http_, keys_.get(), auth_);
    add_usage_routes(*http_,
                     {.usage_log = config_.energy_usage_log,
                      .usage_key = usage_key_,
                      .baseline = energy::cloud_baseline(config_)},
                     auth_);
    add_web_routes(*http_);
  }

  // False (with the 429 written) when the caller's key is over its per-minute limits or, for a
  // chat (tokens > 0), its daily budgets.
  bool admit(const Caller& caller, int64_t tokens, Response& res) {
    if (caller.key_id.empty()) return true;
    auto refusal = limiter_.admit(caller.key_id, tokens);
    if (!refusal && tokens > 0) refusal = budgets_.check(caller.key_id);
    if (!refusal) return true;
    const bool waiting_helps = refusal->retry_after_s > 0;
    ApiError error = api_error(
        make_error(waiting_helps ? ErrorCode::kResourceExhausted : ErrorCode::kInvalidArgument, refusal->message));
    error.retry_after_s = refusal->retry_after_s;
    reply_error(res, error);
    return false;
  }

  std::string http_error_message(const Request& req, int status) const {
    switch (status) {
      case 404:
        return fmt::format("no route for {} {}", req.method, req.path);
      case 413:
        // cpp-httplib refuses form-encoded bodies over 8 KiB before any handler runs; that is what
        // curl --data sends without a Content-Type.
        if (req.get_header_value("Content-Type").starts_with("application/x-www-form-urlencoded") &&
            std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) <=
                static_cast<unsigned long long>(config_.server_max_body_bytes)) {
          return "a form-encoded body (Content-Type application/x-www-form-urlencoded, what curl --data sends by "
                 "default) may hold at most 8192 bytes; send Content-Type: application/json, or "
                 "application/octet-stream for a document";
        }
        return fmt::format("the request body exceeds server.max_body_bytes ({} bytes)", config_.server_max_body_bytes);
      case 400:
        return "malformed HTTP request";
      default:
        return fmt::format("HTTP error {}", status);
    }
  }

  void handle_health(Response& res) {
    if (draining_) {
      reply_json(res, {{"status", "draining"}}, 503);
      return;
    }
    reply_json(res, {{"status", "ok"}, {"active_requests", chat_.active_requests()}, {"slots", chat_info_.slots}});
  }

  void handle_chat(const Request& req, Response& res) {
    auto in_flight = std::make_shared<InFlight>(*this);
    auto parsed = parse_chat_completion(req.body, limits_);
    if (auto* rejected = std::get_if<RequestError>(&parsed))
      return reply_error(res, api_error(rejected->error, rejected->param));
    auto& request = std::get<ChatCompletionRequest>(parsed);
    auto caller = auth_.authenticate(req);
    if (!caller) return reply_error(res, api_error(caller.error()));
    // Charged before it runs: the prompt's estimate plus all it may generate; what it did not use
    // is refunded when the answer is done.
    const int64_t reserved_tokens =
        engine::approximate_tokens(request.generation.messages) + request.generation.sampling.max_tokens;
    if (!admit(*caller, reserved_tokens, res)) return;
    auto mode = routed_mode(request.model);
    const bool local = request.model.empty() || request.model == chat_info_.name || request.model == kLocalModelAlias;
    // The local model grounded in the documents: the pipeline searches them, then answers here.
    if (local && pipeline_ && request.knowledge == "always") mode = router::RouteMode::kLocal;
    // A routed id without a cloud still reaches the pipeline, which says what is missing.
    if (!local && !(mode && pipeline_)) {
      return reply_error(res, unknown_model_error(request.model));
    }
    request.generation.cancel = std::make_shared<std::atomic<bool>>(false);
    auto deadline =
        deadlines_.watch(std::chrono::steady_clock::now() + std::chrono::seconds(config_.server_request_timeout_s),
                         request.generation.cancel, connection_socket(req));
    CompletionMeta meta{.id = new_completion_id(), .created = unix_now(), .model = chat_info_.name};
    Generate generate;
    if (!mode) {
      res.set_header("X-Tandem-Route", "local");
      generate = [this, generation = request.generation](const engine::DeltaCallback* on_delta) -> Result<Generated> {
        auto result = on_delta ? chat_.generate(generation, *on_delta) : chat_.generate(generation);
        if (!result) return result.error();
        return Generated{std::move(*result)};
      };
    } else {
      providers::ChatRequest routed;
      routed.messages = request.generation.messages;
      routed.sampling = request.generation.sampling;
      routed.cloud_sampling = request.cloud_sampling;
      routed.cancel = request.generation.cancel;
      pipeline::RouteOptions route_options;
      route_options.knowledge = request.knowledge == "always"  ? pipeline::KnowledgeUse::kAlways
                                : request.knowledge == "never" ? pipeline::KnowledgeUse::kNever
                                                               : pipeline::KnowledgeUse::kAuto;
      route_options.tenant = caller->audit_name();
      if (auto st = tenant_knowledge(*caller, request.collections, route_options); !st) {
        return reply_error(res, api_error(st.error(), "tandem.collections"));
      }
      auto route = pipeline_->route(routed, *mode, route_options);
      if (!route) return reply_error(res, api_error(route.error(), "model"));
      set_route_headers(res, *route);
      if (!local) meta.model = request.model;
      generate = [this, routed = std::move(routed), route = std::move(*route)](
                     const engine::DeltaCallback* on_delta) -> Result<Generated> {
        auto answer = pipeline_->answer(routed, route, on_delta);
        if (!answer) return answer.error();
        return Generated{generation_result(answer->result), answer_json(*answer)};
      };
    }
    generate = [this, inner = std::move(generate), arrived = std::chrono::steady_clock::now(), who = *caller,
                reserved_tokens](const engine::DeltaCallback* on_delta) -> Result<Generated> {
      const uint64_t ticket = energy_->begin();
      // A stream's first delta ends prompt processing: read the meter there.
      bool first = true;
      const engine::DeltaCallback marked = [&](std::string_view delta) {
        if (std::exchange(first, false)) energy_->first_token(ticket);
        return (*on_delta)(delta);
      };
      auto generated = inner(on_delta ? &marked : nullptr);
      auto measured = energy_->end(ticket);
      const auto& used = generated ? generated->result.usage : engine::Usage{};
      limiter_.refund(who.key_id, reserved_tokens - used.prompt_tokens - used.completion_tokens);
      if (!generated) return generated;
      measured.split_by_time(generated->result.timings.prompt_ms, generated->result.timings.generation_ms);
      if (const auto& r = generated->result; !r.device.empty()) {
        generated->route["device"] = {{"name", r.device}, {"reason", r.device_reason}};
      }
      add_energy_usage(*generated, measured);
      record_usage(*generated, who, std::chrono::steady_clock::now() - arrived);
      return generated;
    };
    if (request.stream) {
      stream_chat(res, request.include_usage, std::move(generate), std::move(meta), std::move(deadline),
                  std::move(request.generation.cancel), std::move(in_flight));
      return;
    }
    auto generated = generate(nullptr);
    if (deadline.hung_up()) {
      TANDEM_LOG(kInfo, "server", "the client hung up; its answer was cancelled");
      return reply_error(res, api_error(make_error(ErrorCode::kCancelled, "the client closed the connection")));
    }
    if (deadline.expired()) return reply_error(res, timeout_error());
    if (!generated) return reply_error(res, api_error(generated.error()));
    set_answered_headers(res, generated->route);
    reply_json(res, chat_completion_json(meta, generated->result, generated->route));
  }

  // The caller's collections for grounding (searchable_collections); a tenant without any has
  // nothing to ground in.
  Status tenant_knowledge(const Caller& caller, const std::vector<std::string>& asked,
                          pipeline::RouteOptions& options) const {
    knowledge::KnowledgeBase* kb = pipeline_->knowledge();
    if (!kb) return {};
    auto collections = searchable_collections(*kb, caller, asked);
    if (!collections) return collections.error();
    options.collections = std::move(*collections);
    if (options.collections.empty() && !caller.tenant.empty()) {
      if (options.knowledge == pipeline::KnowledgeUse::kAlways) {
        return make_error(ErrorCode::kNotFound, "you have no documents in the knowledge base yet");
      }
      options.knowledge = pipeline::KnowledgeUse::kNever;
    }
    return {};
  }

  // `tandem.usage`'s energy, carbon and cost: measured on this machine for local answers (the
  // device's energy while the request ran, shared with the requests that ran with it), estimated
  // from tokens for cloud answers. Every figure says how it was obtained.
  void add_energy_usage(Generated& generated, const energy::Attribution& measured) const {
    nlohmann::json& usage = generated.route["usage"];
    const bool cloud = generated.route.value("route", "local") == "cloud";
    double wh = measured.watt_hours();
    if (cloud) {
      const auto& u = generated.result.usage;
      int64_t tokens = u.prompt_tokens + u.completion_tokens;
      if (tokens == 0) {  // the cloud reported no usage
        tokens = engine::approximate_tokens(generated.result.text) +
                 generated.route["estimates"].value("prompt_tokens", int64_t{0});
      }
      wh = static_cast<double>(tokens) / 1000.0 * config_.energy_cloud_wh_per_1k_tokens;
      usage["energy_method"] = "estimate";
      usage["energy_scope"] = fmt::format("cloud: {} tokens x {} Wh per 1k tokens (energy.cloud_wh_per_1k_tokens)",
                                          tokens, config_.energy_cloud_wh_per_1k_tokens);
    } else {
      usage["energy_method"] = energy::energy_method_name(measured.method);
      usage["energy_scope"] = measured.scope;
      if (!measured.complete) usage["energy_complete"] = false;
      usage["energy_wh_prompt"] = measured.prompt_joules / 3600.0;
      usage["energy_wh_generation"] = measured.generation_joules() / 3600.0;
      usage["energy_split"] = measured.prompt_measured ? "first token" : "time share";
    }
    usage["energy_wh"] = wh;
    usage["co2_g"] = wh * config_.energy_grid_gco2_per_kwh / 1000.0;
    usage["cost_usd"] = generated.route.value("cost_usd", 0.0);
  }

  // Counts the answer for /metrics and the key's daily budgets, and keeps it in the usage log for
  // `tandem energy report`.
  void record_usage(const Generated& generated, const Caller& who, std::chrono::steady_clock::duration took) {
    const auto& usage = generated.route["usage"];
    const std::string route = generated.route.value("route", "local");
    const double energy_wh = usage.value("energy_wh", 0.0);
    const double cost_usd = usage.value("cost_usd", 0.0);
    metrics_.record({.route = route,
                     .prompt_tokens = generated.result.usage.prompt_tokens,
                     .completion_tokens = generated.result.usage.completion_tokens,
                     .seconds = std::chrono::duration<double>(took).count(),
                     .energy_wh = energy_wh,
                     .cost_usd = cost_usd});
    budgets_.charge(who.key_id, cost_usd, energy_wh);
    if (!usage_log_) return;
    auto kept = usage_log_->append({.tenant = who.audit_name(),
                                    .key_id = who.key_id,
                                    .route = route,
                                    .prompt_tokens = generated.result.usage.prompt_tokens,
                                    .completion_tokens = generated.result.usage.completion_tokens,
                                    .energy_wh = energy_wh,
                                    .energy_method = usage.value("energy_method", ""),
                                    .co2_g = usage.value("co2_g", 0.0),
                                    .cost_usd = cost_usd,
                                    .latency_ms = std::chrono::duration<double, std::milli>(took).count()});
    if (!kept) TANDEM_LOG(kWarn, "server", "usage not recorded: {}", kept.error().message);
  }

  // The model ids the pipeline answers here: tandem/auto, and the cloud's when one is configured.
  std::vector<std::string> routed_model_ids() const {
    if (!pipeline_) return {};
    if (!pipeline_->has_cloud()) return {kAutoModel};
    return {kAutoModel, kCloudModel, kCascadeModel};
  }

  nlohmann::json models() const {
    return models_json(chat_info_, embedding_info_ ? &*embedding_info_ : nullptr, started_at_, routed_model_ids());
  }

  ApiError unknown_model_error(const std::string& id) const {
    std::string ids = fmt::format("'{}' (alias '{}')", chat_info_.name, kLocalModelAlias);
    for (const auto& routed : routed_model_ids()) ids += fmt::format(", '{}'", routed);
    return api_error(
        make_error(ErrorCode::kNotFound, fmt::format("the model '{}' does not exist; this server has {}", id, ids)),
        "model");
  }

  // The decision travels in headers too, so a streaming client sees it before the first token.
  static void set_route_headers(Response& res, const pipeline::Route& route) {
    const auto& d = route.decision;
    res.set_header("X-Tandem-Route", route.grounded ? "knowledge" : std::string(router::route_target_name(d.target)));
    res.set_header("X-Tandem-Mode", std::string(router::route_mode_name(d.mode)));
    if (!d.intent.empty()) {
      res.set_header("X-Tandem-Intent", header_safe(fmt::format("{};confidence={:.3f}", d.intent, d.intent_confidence)));
    }
    if (d.local_good_enough) res.set_header("X-Tandem-Local-Quality", fmt::format("{:.3f}", *d.local_good_enough));
    if (!d.reasons.empty()) res.set_header("X-Tandem-Reason", header_safe(d.reasons.back()));
  }

  // A whole answer's headers say where it was answered in the end, as its body does: a cloud
  // that failed over to the local model, a cascade that escalated. (A stream's headers leave with
  // the decision, before either is known; its body's `tandem` object has the outcome.)
  static void set_answered_headers(Response& res, const nlohmann::json& answered) {
    if (!answered.contains("route") || res.get_header_value("X-Tandem-Route") == "knowledge") return;
    res.headers.erase("X-Tandem-Route");
    res.set_header("X-Tandem-Route", answered["route"].get<std::string>());
    if (answered.value("fallback", false)) res.set_header("X-Tandem-Fallback", "true");
  }

  // Generation runs inside httplib's content provider, on this request's HTTP thread, after the
  // 200 headers are out: later errors become an SSE error event.
  void stream_chat(Response& res, bool include_usage, Generate generate, CompletionMeta meta,
                   DeadlineWatch::Guard deadline, std::shared_ptr<std::atomic<bool>> cancel,
                   std::shared_ptr<InFlight> in_flight) {
    struct Stream {
      Generate generate;
      ChatChunkFormatter chunks;
      DeadlineWatch::Guard deadline;
      std::shared_ptr<std::atomic<bool>> cancel;
      std::shared_ptr<InFlight> in_flight;  // released with the response, after the last byte
    };
    auto stream = std::make_shared<Stream>(Stream{std::move(generate), ChatChunkFormatter(std::move(meta), include_usage),
                                                  std::move(deadline), std::move(cancel), std::move(in_flight)});
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, stream](size_t, httplib::DataSink& sink) {
      auto send = [&sink](const std::string& event) {
        return sink.is_writable() && sink.write(event.data(), event.size());
      };
      if (!send(stream->chunks.role_event())) return false;
      // A failed write means the client went away: returning false cancels the generation.
      const engine::DeltaCallback on_delta = [&](std::string_view delta) {
        return send(stream->chunks.content_event(delta));
      };
      auto generated = stream->generate(&on_delta);
      if (stream->cancel->load() && !stream->deadline.expired()) return false;  // client gone
      if (stream->deadline.expired()) {
        send(ChatChunkFormatter::error_event(error_body(timeout_error())));
      } else if (!generated) {
        send(ChatChunkFormatter::error_event(error_body(api_error(generated.error()))));
      } else if (!send(stream->chunks.final_events(generated->result, generated->route))) {
        return false;
      }
      sink.done();
      return true;
    });
  }

  ApiError timeout_error() const {
    return api_error(make_error(ErrorCode::kDeadlineExceeded,
                                fmt::format("the request did not finish within server.request_timeout_s = {} s",
                                            config_.server_request_timeout_s)));
  }

  void handle_embeddings(const Request& req, Response& res) {
    InFlight in_flight(*this);
    if (!embedder_) {
      return reply_error(res, api_error(make_error(ErrorCode::kUnavailable,
                                                   "no embedding model is loaded (see engine.embedding_model)")));
    }
    auto parsed = parse_embeddings(req.body);
    if (auto* rejected = std::get_if<RequestError>(&parsed))
      return reply_error(res, api_error(rejected->error, rejected->param));
    auto& request = std::get<EmbeddingsRequest>(parsed);
    if (!request.model.empty() && request.model != embedding_info_->name) {
      return reply_error(
          res, api_error(make_error(ErrorCode::kNotFound,
                                    fmt::format("the embedding model '{}' does not exist; this server has '{}'",
                                                request.model, embedding_info_->name)),
                         "model"));
    }
    if (request.dimensions != 0 && request.dimensions != embedder_->dimensions()) {
      return reply_error(
          res, api_error(make_error(ErrorCode::kInvalidArgument,
                                    fmt::format("dimensions must be {} for '{}', got {}", embedder_->dimensions(),
                                                embedding_info_->name, request.dimensions)),
                         "dimensions"));
    }
    auto result = embedder_->embed(request.inputs);
    if (!result) return reply_error(res, api_error(result.error(), "input"));
    reply_json(res, embeddings_json(embedding_info_->name, *result, request.base64));
  }

  void stop_listener() {
    http_->stop();
    if (listener_.joinable()) listener_.join();
  }

  const Config config_;
  const std::unique_ptr<ApiKeyStore> keys_;  // null: single-user local mode
  const Authenticator auth_;
  RateLimiter limiter_;
  const std::unique_ptr<energy::EnergyTracker> energy_;
  Metrics metrics_;
  const std::unique_ptr<energy::UsageLedger> usage_log_;  // null: it could not be opened (logged)
  DailyBudgets budgets_;
  engine::ChatEngine& chat_;
  engine::Embedder* embedder_;
  const pipeline::Pipeline* pipeline_;  // null: only the local model is served
  const engine::ModelInfo chat_info_;
  std::optional<engine::ModelInfo> embedding_info_;
  const ChatLimits limits_;
  const int64_t started_at_;
  const std::optional<privacy::Key> usage_key_;  // energy.usage_log's data key, for /tandem/v1/usage

  std::atomic<bool> draining_{false};
  std::mutex in_flight_mutex_;
  std::condition_variable in_flight_done_;
  int in_flight_ = 0;
  DeadlineWatch deadlines_;

  // Last: its threads use everything above. An httplib::SSLServer when server.tls_cert is set.
  const std::unique_ptr<httplib::Server> http_;
  std::thread listener_;
  int port_ = 0;
};

// 127.0.0.0/8, ::1 and localhost: the addresses no other machine can reach.
bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

Result<std::unique_ptr<Server>> Server::create(const Config& config, engine::ChatEngine& chat,
                                               engine::Embedder* embedder, const pipeline::Pipeline* pipeline,
                                               const StorageKeys& storage) {
  if (config.server_threads < 1) return make_error(ErrorCode::kInvalidArgument, "server.threads must be at least 1");
  std::unique_ptr<ApiKeyStore> keys;
  if (config.server_auth == "none") {
    if (!is_loopback_host(config.server_host)) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("server.auth = none (single-user local mode) is only allowed on a loopback host, "
                                    "not '{}'; create API keys with `tandem keys create` instead",
                                    config.server_host));
    }
    TANDEM_LOG(kInfo, "server", "single-user local mode: no API keys are asked for (server.auth = none)");
  } else {
    auto opened = ApiKeyStore::open(config.server_keys_file, storage.api_keys);
    if (!opened) return opened.error();
    keys = std::move(*opened);
    if (keys->active_keys() == 0) {
      TANDEM_LOG(kWarn, "server",
                 "no API keys in {}: every request will be refused until one is created (tandem keys create "
                 "--tenant NAME --scope admin), or run with --set server.auth=none for single-user local mode",
                 config.server_keys_file);
    }
  }
  std::unique_ptr<httplib::Server> http;
  if (config.server_tls_cert.empty() != config.server_tls_key.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "TLS needs both server.tls_cert and server.tls_key");
  }
  if (config.server_tls_cert.empty()) {
    http = std::make_unique<httplib::Server>();
  } else {
    auto tls = std::make_unique<httplib::SSLServer>(config.server_tls_cert.c_str(), config.server_tls_key.c_str());
    if (!tls->is_valid()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("cannot use the TLS certificate {} with the key {} (missing, unreadable, not PEM, "
                                    "or not a pair)",
                                    config.server_tls_cert, config.server_tls_key));
    }
    http = std::move(tls);
  }
  std::string why;
  auto meter = energy::best_cpu_meter(config.energy_cpu_tdp_w, &why);
  TANDEM_LOG(kInfo, "server", "energy: {}", why);
  auto tracker = std::make_unique<energy::EnergyTracker>(std::move(meter));
  auto usage_log = energy::UsageLedger::open(config.energy_usage_log, storage.usage);
  if (!usage_log) TANDEM_LOG(kWarn, "server", "{}: usage is not recorded", usage_log.error().message);
  return std::unique_ptr<Server>(
      std::make_unique<HttpServer>(config, chat, embedder, pipeline, std::move(keys), std::move(tracker),
                                   usage_log ? std::move(*usage_log) : nullptr, storage.usage, std::move(http)));
}

}  // namespace tandem::server
