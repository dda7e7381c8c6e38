#include "providers/remote_provider.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>

#include "core/log.h"
#include "providers/sse_parser.h"

namespace tandem::providers {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view kLogComponent = "providers";
constexpr size_t kMaxBodyBytes = 16 << 20;  // a larger answer is refused rather than buffered
constexpr size_t kMaxQuotedChars = 300;     // of a server's error message in our errors

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

bool is_cancelled(const ChatRequest& request) {
  return request.cancel && request.cancel->load();
}

// Typed, non-throwing access to parsed JSON from an untrusted server.
const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> string_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value || !value->is_string()) return std::nullopt;
  return value->get<std::string>();
}

std::optional<int32_t> count_member(const json& object, const char* key) {
  const json* value = member(object, key);
  if (!value || !value->is_number_integer()) return std::nullopt;
  const auto n = value->get<int64_t>();
  if (n < 0 || n > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(n);
}

std::optional<Usage> parse_usage(const json& answer) {
  const json* usage_json = member(answer, "usage");
  if (!usage_json) return std::nullopt;
  auto prompt = count_member(*usage_json, "prompt_tokens");
  auto completion = count_member(*usage_json, "completion_tokens");
  if (!prompt || !completion) return std::nullopt;
  Usage usage;
  usage.prompt_tokens = *prompt;
  usage.completion_tokens = *completion;
  if (const json* details = member(*usage_json, "prompt_tokens_details")) {
    usage.cached_prompt_tokens = count_member(*details, "cached_tokens").value_or(0);
  }
  return usage;
}

// OpenAI also has "content_filter" and "tool_calls"; Tandem only distinguishes running out of tokens.
FinishReason parse_finish_reason(const std::optional<std::string>& reason) {
  return reason == "length" ? FinishReason::kLength : FinishReason::kStop;
}

std::string request_body(const std::string& model, const ChatRequest& request, bool streaming) {
  json messages = json::array();
  for (const auto& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  const SamplingParams& s = request.sampling;
  json body = {
      {"model", model}, {"messages", std::move(messages)}, {"max_tokens", s.max_tokens}, {"stream", streaming}};
  const CloudSampling& sent = request.cloud_sampling;
  if (sent.temperature) body["temperature"] = std::max(0.0f, s.temperature);
  if (sent.top_p) body["top_p"] = s.top_p;
  if (sent.frequency_penalty) body["frequency_penalty"] = s.frequency_penalty;
  if (sent.presence_penalty) body["presence_penalty"] = s.presence_penalty;
  if (s.seed) body["seed"] = *s.seed;
  if (!s.stop.empty()) body["stop"] = s.stop;
  if (streaming) body["stream_options"] = {{"include_usage", true}};
  if (!request.response_format.is_null()) body["response_format"] = request.response_format;
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string redact(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  constexpr std::string_view kRedacted = "[redacted]";
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + kRedacted.size())) {
    text.replace(at, secret.size(), kRedacted);
  }
  return text;
}

// A server's own words about an error, short, printable and without the key.
std::string quote_server_message(std::string_view body, const std::string& secret) {
  std::string message(body);
  const json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_discarded()) {
    const json* error = member(parsed, "error");
    if (error && error->is_string()) {
      message = error->get<std::string>();
    } else if (auto nested = error ? string_member(*error, "message") : std::nullopt) {
      message = *nested;
    } else if (auto top = string_member(parsed, "message")) {
      message = *top;
    }
  }
  message = redact(std::move(message), secret);
  if (message.size() > kMaxQuotedChars) message = message.substr(0, kMaxQuotedChars) + "...";
  std::replace_if(
      message.begin(), message.end(), [](unsigned char c) { return c < 0x20; }, ' ');
  return message.empty() ? "no message" : message;
}

// What one HTTP exchange produced; filled by libcurl's callbacks on the calling thread.
struct Attempt {
  CURL* curl = nullptr;
  const ChatRequest* request = nullptr;
  const DeltaCallback* on_delta = nullptr;  // null: not a stream
  Clock::time_point call_start;

  CURLcode curl_code = CURLE_OK;
  std::string curl_message;
  bool connected = false;
  long http_status = 0;
  std::optional<milliseconds> retry_after;
  std::string body;  // everything but a successful event stream
  size_t received_bytes = 0;
  bool body_too_large = false;

  SseParser events;
  std::string text;
  std::optional<std::string> finish_reason;
  std::optional<Usage> usage;
  std::string model;
  bool saw_done = false;
  bool delivered = false;  // a delta reached the caller: the attempt can no longer be retried
  bool stopped_by_caller = false;
  double time_to_first_token_ms = 0;
  std::optional<Error> stream_error;

  bool streaming_events() const { return on_delta && http_status >= 200 && http_status < 300; }
};

// Returns false to stop the transfer.
bool take_event(Attempt& a, std::string_view data) {
  if (a.saw_done) return true;
  if (data == "[DONE]") {
    a.saw_done = true;
    return true;
  }
  const json chunk = json::parse(data, nullptr, false);
  if (chunk.is_discarded() || !chunk.is_object()) {
    a.stream_error = make_error(ErrorCode::kInternal, "malformed JSON in a stream chunk");
    return false;
  }
  if (member(chunk, "error")) {
    a.stream_error = make_error(ErrorCode::kUnavailable, "the server reported an error mid-stream");
    return false;
  }
  if (auto model = string_member(chunk, "model")) a.model = std::move(*model);
  if (auto usage = parse_usage(chunk)) a.usage = usage;
  const json* choices = member(chunk, "choices");
  if (!choices || !choices->is_array() || choices->empty()) return true;  // e.g. the usage-only final chunk
  const json& choice = (*choices)[0];
  if (auto reason = string_member(choice, "finish_reason")) a.finish_reason = std::move(reason);
  const json* delta = member(choice, "delta");
  auto content = delta ? string_member(*delta, "content") : std::nullopt;
  if (!content || content->empty()) return true;
  if (is_cancelled(*a.request)) return false;  // no delta after the flag was set
  if (!a.delivered) a.time_to_first_token_ms = ms_since(a.call_start);
  a.delivered = true;
  a.text += *content;
  if (*a.on_delta && !(*a.on_delta)(*content)) {
    a.stopped_by_caller = true;
    return false;
  }
  return true;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& a = *static_cast<Attempt*>(user);
  const size_t n = size * count;
  if (a.http_status == 0) curl_easy_getinfo(a.curl, CURLINFO_RESPONSE_CODE, &a.http_status);
  a.received_bytes += n;
  if (a.received_bytes > kMaxBodyBytes) {
    a.body_too_large = true;
    return 0;
  }
  if (a.streaming_events()) {
    const bool keep_going = a.events.feed({data, n}, [&a](std::string_view event) { return take_event(a, event); });
    return keep_going ? n : 0;
  }
  a.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& a = *static_cast<Attempt*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response begins (after a 100 Continue, say)
    a.retry_after.reset();
    return n;
  }
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.size() < kRetryAfter.size() ||
      !std::equal(kRetryAfter.begin(), kRetryAfter.end(), line.begin(),
                  [](char x, char y) { return x == std::tolower(static_cast<unsigned char>(y)); })) {
    return n;
  }
  line.remove_prefix(kRetryAfter.size());
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  int64_t seconds = 0;
  // Only the delay-seconds form; an HTTP date falls back to our own back-off.
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), seconds);
  if (ec == std::errc() && seconds >= 0 && (end == line.data() + line.size() || *end == '\r' || *end == '\n')) {
    a.retry_after = std::chrono::seconds(seconds);
  }
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return is_cancelled(*static_cast<Attempt*>(user)->request) ? 1 : 0;
}

void perform(const std::string& endpoint, const std::string& body, const std::string& api_key,
             const RemoteProviderOptions& options, Attempt& a) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    a.curl_code = CURLE_FAILED_INIT;
    a.curl_message = "libcurl could not start a transfer";
    return;
  }
  a.curl = curl.get();
  curl_slist* raw_headers = nullptr;
  raw_headers = curl_slist_append(raw_headers, "Content-Type: application/json");
  raw_headers = curl_slist_append(raw_headers, a.on_delta ? "Accept: text/event-stream" : "Accept: application/json");
  raw_headers = curl_slist_append(raw_headers, "Expect:");  // no 100-continue round trip for large prompts
  if (!api_key.empty()) raw_headers = curl_slist_append(raw_headers, ("Authorization: Bearer " + api_key).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(raw_headers, curl_slist_free_all);

  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, endpoint.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // signals are process-wide; timeouts must not use them
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &a);

  a.curl_code = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.http_status);
  curl_off_t connect_time = 0;
  a.connected = curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_time) == CURLE_OK && connect_time > 0;
  a.curl_message = error_buffer[0] ? error_buffer : curl_easy_strerror(a.curl_code);
  a.curl = nullptr;
}

// How an attempt ended: an answer, or an error that may be worth another attempt.
struct Verdict {
  std::optional<ChatResult> answer;
  Error error{ErrorCode::kInternal, ""};
  bool retryable = false;
  CircuitBreaker::Outcome health = CircuitBreaker::Outcome::kFailure;
};

Verdict failure(ErrorCode code, std::string message, bool retryable,
                CircuitBreaker::Outcome health = CircuitBreaker::Outcome::kFailure) {
  return {std::nullopt, make_error(code, std::move(message)), retryable, health};
}

Verdict answer(ChatResult result, CircuitBreaker::Outcome health = CircuitBreaker::Outcome::kSuccess) {
  return {std::move(result), {}, false, health};
}

Verdict parse_completion(const Attempt& a) {
  const json parsed = json::parse(a.body, nullptr, false);
  if (parsed.is_discarded()) {
    return failure(ErrorCode::kInternal, "malformed JSON in the answer (" + std::to_string(a.body.size()) + " bytes)",
                   false);
  }
  const json* choices = member(parsed, "choices");
  if (!choices || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) {
    return failure(ErrorCode::kInternal, "an answer without choices", false);
  }
  const json& choice = (*choices)[0];
  const json* message = member(choice, "message");
  ChatResult result;
  result.text = message ? string_member(*message, "content").value_or("") : "";
  result.finish_reason = parse_finish_reason(string_member(choice, "finish_reason"));
  result.usage = parse_usage(parsed);
  result.model = string_member(parsed, "model").value_or("");
  return answer(std::move(result));
}

Verdict judge(const Attempt& a, const RemoteProviderOptions& options, const std::string& api_key) {
  if (a.stopped_by_caller || (a.curl_code != CURLE_OK && is_cancelled(*a.request))) {
    ChatResult partial;
    partial.text = a.text;
    partial.finish_reason = FinishReason::kCancelled;
    partial.model = a.model;
    partial.time_to_first_token_ms = a.time_to_first_token_ms;
    return answer(std::move(partial), CircuitBreaker::Outcome::kInconclusive);
  }
  if (a.stream_error) return failure(a.stream_error->code, a.stream_error->message, false);
  if (a.body_too_large) return failure(ErrorCode::kInternal, "an answer larger than 16 MiB", false);

  if (a.curl_code == CURLE_OPERATION_TIMEDOUT) {
    return failure(ErrorCode::kDeadlineExceeded,
                   a.connected ? "no complete answer within " + std::to_string(options.timeout_ms) + " ms"
                               : "no connection within " + std::to_string(options.connect_timeout_ms) + " ms",
                   false);
  }
  if (a.curl_code == CURLE_PEER_FAILED_VERIFICATION || a.curl_code == CURLE_SSL_CERTPROBLEM) {
    return failure(ErrorCode::kUnavailable, "TLS verification failed: " + redact(a.curl_message, api_key), false);
  }
  if (a.curl_code != CURLE_OK) {
    // Refused, reset, closed early, nothing received: the network or the server failed.
    std::string message = redact(a.curl_message, api_key);
    if (a.delivered) message += " (after part of the answer was streamed)";
    return failure(ErrorCode::kUnavailable, std::move(message), !a.delivered);
  }

  const long status = a.http_status;
  if (status >= 200 && status < 300) {
    if (!a.on_delta) return parse_completion(a);
    if (!a.saw_done && !a.finish_reason) {
      return failure(ErrorCode::kUnavailable, "the stream ended before [DONE]", !a.delivered);
    }
    ChatResult result;
    result.text = a.text;
    result.finish_reason = parse_finish_reason(a.finish_reason);
    result.usage = a.usage;
    result.model = a.model;
    result.time_to_first_token_ms = a.time_to_first_token_ms;
    return answer(std::move(result));
  }
  const std::string what = "HTTP " + std::to_string(status) + ": " + quote_server_message(a.body, api_key);
  if (status == 429) return failure(ErrorCode::kResourceExhausted, "rate limited (" + what + ")", true);
  if (status >= 500) return failure(ErrorCode::kUnavailable, what, true);
  // The server is up; the request or its credentials are wrong, and retrying would not change that.
  constexpr auto kUp = CircuitBreaker::Outcome::kSuccess;
  if (status == 401 || status == 403) {
    return failure(ErrorCode::kUnavailable, "the server refused the credentials (" + what + ")", false, kUp);
  }
  if (status == 404) return failure(ErrorCode::kNotFound, what, false, kUp);
  if (status >= 400) return failure(ErrorCode::kInvalidArgument, what, false, kUp);
  return failure(ErrorCode::kUnavailable, "unexpected " + what + " (redirects are not followed)", false);
}

milliseconds jittered_backoff(int32_t retry, const RemoteProviderOptions& options) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const double ceiling =
      std::min(static_cast<double>(options.max_backoff_ms),
               static_cast<double>(options.initial_backoff_ms) * std::ldexp(1.0, std::min(retry, 30)));
  return milliseconds(static_cast<int64_t>(std::uniform_real_distribution<double>(0, ceiling)(random)));
}

void sleep_unless_cancelled(milliseconds duration, const ChatRequest& request) {
  const auto until = Clock::now() + duration;
  while (!is_cancelled(request)) {
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(left, milliseconds(20)));
  }
}

Status validate_base_url(const std::string& base_url) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), curl_url_cleanup);
  if (!url || curl_url_set(url.get(), CURLUPART_URL, base_url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return make_error(ErrorCode::kInvalidArgument, "base_url is not a valid URL");
  }
  char* scheme = nullptr;
  curl_url_get(url.get(), CURLUPART_SCHEME, &scheme, 0);
  const std::string scheme_name = scheme ? scheme : "";
  curl_free(scheme);
  if (scheme_name != "http" && scheme_name != "https") {
    return make_error(ErrorCode::kInvalidArgument, "base_url must use http or https, not '" + scheme_name + "'");
  }
  char* user = nullptr;
  const bool has_credentials = curl_url_get(url.get(), CURLUPART_USER, &user, 0) == CURLUE_OK;
  curl_free(user);
  if (has_credentials) {
    return make_error(ErrorCode::kInvalidArgument,
                      "base_url must not hold credentials; name a variable in api_key_env");
  }
  return {};
}

Status validate(const RemoteProviderOptions& o) {
  auto invalid = [](const std::string& message) { return make_error(ErrorCode::kInvalidArgument, message); };
  if (o.model.empty()) return invalid("model is empty");
  if (o.timeout_ms <= 0) return invalid("timeout_ms must be positive");
  if (o.connect_timeout_ms <= 0) return invalid("connect_timeout_ms must be positive");
  if (o.max_retries < 0) return invalid("max_retries must not be negative");
  if (o.initial_backoff_ms < 0 || o.max_backoff_ms < 0) return invalid("back-off times must not be negative");
  if (o.input_usd_per_mtok < 0 || o.output_usd_per_mtok < 0) return invalid("prices must not be negative");
  return validate_base_url(o.base_url);
}

}  // namespace

Result<std::unique_ptr<RemoteProvider>> RemoteProvider::create(RemoteProviderOptions options) {
  static const CURLcode curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (options.name.empty()) options.name = "remote/" + options.model;
  const std::string who = "provider '" + options.name + "': ";
  if (curl_ready != CURLE_OK) return make_error(ErrorCode::kInternal, who + "libcurl failed to initialise");
  if (auto valid = validate(options); !valid) return make_error(valid.error().code, who + valid.error().message);

  std::string api_key;
  if (!options.api_key_env.empty()) {
    const char* value = std::getenv(options.api_key_env.c_str());
    if (!value || !*value) {
      return make_error(ErrorCode::kInvalidArgument,
                        who + "the environment variable " + options.api_key_env + " (api_key_env) is not set");
    }
    api_key = value;
  }
  std::string endpoint = options.base_url;
  while (endpoint.ends_with('/')) endpoint.pop_back();
  endpoint += "/chat/completions";
  return std::unique_ptr<RemoteProvider>(
      new RemoteProvider(std::move(options), std::move(api_key), std::move(endpoint)));
}

RemoteProvider::RemoteProvider(RemoteProviderOptions options, std::string api_key, std::string endpoint)
    : options_(std::move(options)),
      api_key_(std::move(api_key)),
      endpoint_(std::move(endpoint)),
      breaker_(options_.circuit) {}

Result<ChatResult> RemoteProvider::complete(const ChatRequest& request) {
  return call(request, nullptr);
}

Result<ChatResult> RemoteProvider::stream(const ChatRequest& request, const DeltaCallback& on_delta) {
  return call(request, &on_delta);
}

Result<ChatResult> RemoteProvider::call(const ChatRequest& request, const DeltaCallback* on_delta) {
  const auto start = Clock::now();
  const std::string who = "provider '" + options_.name + "': ";
  if (request.messages.empty())
    return make_error(ErrorCode::kInvalidArgument, who + "a chat needs at least one message");
  const std::string body = request_body(options_.model, request, on_delta != nullptr);
  auto finished = [&](ChatResult result, int32_t attempts) {
    result.provider = options_.name;
    if (result.model.empty()) result.model = options_.model;
    result.attempts = attempts;
    result.elapsed_ms = ms_since(start);
    if (result.usage) {
      result.cost_usd = cost_usd(result.usage->prompt_tokens, result.usage->completion_tokens);
    }
    return result;
  };

  for (int32_t attempt_number = 1;; ++attempt_number) {
    if (is_cancelled(request)) {
      ChatResult cancelled;
      cancelled.finish_reason = FinishReason::kCancelled;
      return finished(std::move(cancelled), attempt_number - 1);
    }
    if (!breaker_.try_acquire()) return make_error(ErrorCode::kUnavailable, who + "circuit open");

    Attempt attempt;
    attempt.request = &request;
    attempt.on_delta = on_delta;
    attempt.call_start = start;
    perform(endpoint_, body, api_key_, options_, attempt);
    Verdict verdict = judge(attempt, options_, api_key_);

    const auto state_before = breaker_.state();
    breaker_.record(verdict.health);
    if (const auto state_after = breaker_.state(); state_after != state_before) {
      TANDEM_LOG(kWarn, kLogComponent, "{}circuit {}", who, circuit_state_name(state_after));
    }
    if (verdict.answer) return finished(std::move(*verdict.answer), attempt_number);

    Error error = make_error(verdict.error.code, who + verdict.error.message);
    const int32_t retries_done = attempt_number - 1;
    if (!verdict.retryable || retries_done >= options_.max_retries) return error;
    if (attempt.retry_after && *attempt.retry_after > milliseconds(options_.max_backoff_ms)) {
      error.message += "; asked to retry after " +
                       std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*attempt.retry_after).count()) +
                       " s, more than max_backoff_ms allows";
      return error;
    }
    const milliseconds wait = attempt.retry_after.value_or(jittered_backoff(retries_done, options_));
    TANDEM_LOG(kWarn, kLogComponent, "{}; retry {} of {} in {} ms", error.message, retries_done + 1,
               options_.max_retries, wait.count());
    sleep_unless_cancelled(wait, request);
  }
}

double RemoteProvider::cost_usd(int64_t prompt_tokens, int64_t completion_tokens) const {
  return (static_cast<double>(prompt_tokens) * options_.input_usd_per_mtok +
          static_cast<double>(completion_tokens) * options_.output_usd_per_mtok) /
         1e6;
}

}  // namespace tandem::providers
