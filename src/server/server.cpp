// The httplib glue: routes, limits, streaming and drain. Request bodies are parsed by
// openai_protocol, errors shaped by http_errors; the engines do the work.
#include "server/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "core/log.h"
#include "server/deadline_watch.h"
#include "server/http_errors.h"
#include "server/openai_protocol.h"

namespace tandem::server {
namespace {

using httplib::Request;
using httplib::Response;
using HandlerResponse = httplib::Server::HandlerResponse;

// The model id every client may use for the local chat model, whatever its file is called.
constexpr const char* kLocalModelAlias = "tandem/local";

void reply_error(Response& res, const ApiError& error) {
  res.status = error.status;
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  res.set_content(error_body(error), "application/json");
}

void reply_json(Response& res, const nlohmann::json& body) {
  res.set_content(to_text(body), "application/json");
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class HttpServer final : public Server {
 public:
  HttpServer(const Config& config, engine::ChatEngine& chat, engine::Embedder* embedder)
      : config_(config),
        chat_(chat),
        embedder_(embedder),
        chat_info_(chat.info()),
        limits_{.max_tokens = static_cast<int32_t>(config.engine_max_tokens),
                .default_max_tokens = static_cast<int32_t>(config.engine_default_max_tokens),
                .overflow = config.engine_overflow == "truncate" ? engine::OverflowPolicy::kTruncate
                                                                 : engine::OverflowPolicy::kError},
        started_at_(unix_now()) {
    if (embedder_) embedding_info_ = embedder_->info();
    configure();
  }

  ~HttpServer() override { stop_listener(); }

  Status start() override {
    const std::string& host = config_.server_host;
    int port = static_cast<int>(config_.server_port);
    if (port == 0) {
      port = http_.bind_to_any_port(host);
    } else if (!http_.bind_to_port(host, port)) {
      port = -1;
    }
    if (port < 0) {
      return make_error(ErrorCode::kUnavailable, fmt::format("cannot listen on {}:{} (address in use or not available)",
                                                             host, config_.server_port));
    }
    port_ = port;
    listener_ = std::thread([this] { http_.listen_after_bind(); });
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
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_.set_read_timeout(std::chrono::seconds(config_.server_read_timeout_s));
    http_.set_write_timeout(std::chrono::seconds(config_.server_read_timeout_s));
    http_.set_payload_max_length(static_cast<size_t>(config_.server_max_body_bytes));
    // httplib's default adds SO_REUSEPORT, which would let a second server share a busy port
    // silently; SO_REUSEADDR alone still allows a quick restart. TCP_NODELAY (inherited by the
    // accepted sockets) sends each small SSE chunk at once instead of waiting for Nagle.
    http_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    });

    // Runs before the body is read: a draining server refuses new work at once.
    http_.set_pre_routing_handler([this](const Request& req, Response& res) {
      if (!draining_ || req.path == "/health") return HandlerResponse::Unhandled;
      reply_error(res, api_error(make_error(ErrorCode::kUnavailable, "the server is shutting down")));
      return HandlerResponse::Handled;
    });
    // Errors httplib produces itself (413, 404, malformed HTTP) get the OpenAI error shape too.
    http_.set_error_handler(httplib::Server::HandlerWithResponse([this](const Request& req, Response& res) {
      if (!res.body.empty()) return HandlerResponse::Unhandled;  // already an API error
      reply_error(res, api_error_for_status(res.status, http_error_message(req, res.status)));
      return HandlerResponse::Handled;
    }));
    http_.set_exception_handler([](const Request& req, Response& res, std::exception_ptr error) {
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
    http_.set_logger([](const Request& req, const Response& res) {
      TANDEM_LOG(kDebug, "server", "{} {} -> {}", req.method, req.path, res.status);
    });

    http_.Get("/health", [this](const Request&, Response& res) { handle_health(res); });
    http_.Get("/v1/models", [this](const Request&, Response& res) {
      reply_json(res, models_json(chat_info_, embedding_info_ ? &*embedding_info_ : nullptr, started_at_));
    });
    http_.Post("/v1/chat/completions", [this](const Request& req, Response& res) { handle_chat(req, res); });
    http_.Post("/v1/embeddings", [this](const Request& req, Response& res) { handle_embeddings(req, res); });
  }

  std::string http_error_message(const Request& req, int status) const {
    switch (status) {
      case 404:
        return fmt::format("no route for {} {}", req.method, req.path);
      case 413:
        return fmt::format("the request body exceeds server.max_body_bytes ({} bytes)", config_.server_max_body_bytes);
      case 400:
        return "malformed HTTP request";
      default:
        return fmt::format("HTTP error {}", status);
    }
  }

  void handle_health(Response& res) {
    if (draining_) {
      res.status = 503;
      reply_json(res, {{"status", "draining"}});
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
    if (!request.model.empty() && request.model != chat_info_.name && request.model != kLocalModelAlias) {
      return reply_error(
          res, api_error(make_error(ErrorCode::kNotFound,
                                    fmt::format("the model '{}' does not exist; this server has '{}' (alias '{}')",
                                                request.model, chat_info_.name, kLocalModelAlias)),
                         "model"));
    }
    res.set_header("X-Tandem-Route", "local");
    request.generation.cancel = std::make_shared<std::atomic<bool>>(false);
    auto deadline =
        deadlines_.watch(std::chrono::steady_clock::now() + std::chrono::seconds(config_.server_request_timeout_s),
                         request.generation.cancel);
    CompletionMeta meta{.id = new_completion_id(), .created = unix_now(), .model = chat_info_.name};
    if (request.stream) {
      stream_chat(res, std::move(request), std::move(meta), std::move(deadline), std::move(in_flight));
      return;
    }
    auto result = chat_.generate(request.generation);
    if (deadline.expired()) return reply_error(res, timeout_error());
    if (!result) return reply_error(res, api_error(result.error()));
    reply_json(res, chat_completion_json(meta, *result));
  }

  // Generation runs inside httplib's content provider, on this request's HTTP thread, after the
  // 200 headers are out: later errors become an SSE error event.
  void stream_chat(Response& res, ChatCompletionRequest request, CompletionMeta meta, DeadlineWatch::Guard deadline,
                   std::shared_ptr<InFlight> in_flight) {
    struct Stream {
      ChatCompletionRequest request;
      ChatChunkFormatter chunks;
      DeadlineWatch::Guard deadline;
      std::shared_ptr<InFlight> in_flight;  // released with the response, after the last byte
    };
    const bool include_usage = request.include_usage;
    auto stream =
        std::make_shared<Stream>(Stream{std::move(request), ChatChunkFormatter(std::move(meta), include_usage),
                                        std::move(deadline), std::move(in_flight)});
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, stream](size_t, httplib::DataSink& sink) {
      auto send = [&sink](const std::string& event) {
        return sink.is_writable() && sink.write(event.data(), event.size());
      };
      if (!send(stream->chunks.role_event())) return false;
      // A failed write means the client went away: returning false cancels the generation.
      auto result = chat_.generate(stream->request.generation,
                                   [&](std::string_view delta) { return send(stream->chunks.content_event(delta)); });
      if (stream->request.generation.cancel->load() && !stream->deadline.expired()) return false;  // client gone
      if (stream->deadline.expired()) {
        send(ChatChunkFormatter::error_event(error_body(timeout_error())));
      } else if (!result) {
        send(ChatChunkFormatter::error_event(error_body(api_error(result.error()))));
      } else if (!send(stream->chunks.final_events(*result))) {
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
    http_.stop();
    if (listener_.joinable()) listener_.join();
  }

  const Config config_;
  engine::ChatEngine& chat_;
  engine::Embedder* embedder_;
  const engine::ModelInfo chat_info_;
  std::optional<engine::ModelInfo> embedding_info_;
  const ChatLimits limits_;
  const int64_t started_at_;

  std::atomic<bool> draining_{false};
  std::mutex in_flight_mutex_;
  std::condition_variable in_flight_done_;
  int in_flight_ = 0;
  DeadlineWatch deadlines_;

  httplib::Server http_;  // last: its threads use everything above
  std::thread listener_;
  int port_ = 0;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::create(const Config& config, engine::ChatEngine& chat,
                                               engine::Embedder* embedder) {
  if (config.server_threads < 1) return make_error(ErrorCode::kInvalidArgument, "server.threads must be at least 1");
  return std::unique_ptr<Server>(std::make_unique<HttpServer>(config, chat, embedder));
}

}  // namespace tandem::server
