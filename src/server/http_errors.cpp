#include "server/http_errors.h"

#include <nlohmann/json.hpp>

namespace tandem::server {

ApiError api_error(const Error& error, std::string param) {
  ApiError out;
  out.message = error.message;
  out.param = std::move(param);
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
      out.status = 400;
      out.type = "invalid_request_error";
      break;
    case ErrorCode::kContextOverflow:
      out.status = 400;
      out.type = "invalid_request_error";
      out.code = "context_length_exceeded";
      if (out.param.empty()) out.param = "messages";
      break;
    case ErrorCode::kNotFound:
      out.status = 404;
      out.type = "invalid_request_error";
      out.code = out.param == "model" ? "model_not_found" : "not_found";
      break;
    case ErrorCode::kUnauthenticated:
      out.status = 401;
      out.type = "invalid_request_error";
      out.code = "invalid_api_key";
      break;
    case ErrorCode::kPermissionDenied:
      out.status = 403;
      out.type = "invalid_request_error";
      out.code = "permission_denied";
      break;
    case ErrorCode::kResourceExhausted:
      out.status = 429;
      out.type = "rate_limit_error";
      out.code = "rate_limit_exceeded";
      out.retry_after_s = 1;
      break;
    case ErrorCode::kUnavailable:
      out.status = 503;
      out.type = "server_error";
      out.code = "service_unavailable";
      out.retry_after_s = 5;
      break;
    case ErrorCode::kDeadlineExceeded:
      out.status = 504;
      out.type = "timeout_error";
      out.code = "timeout";
      break;
    case ErrorCode::kCancelled:
      out.status = 499;  // nginx's "client closed request": nobody is left to read it
      out.type = "invalid_request_error";
      out.code = "request_cancelled";
      break;
    case ErrorCode::kUnimplemented:
      out.status = 501;
      out.type = "invalid_request_error";
      out.code = "not_implemented";
      break;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal:
      out.status = 500;
      out.type = "server_error";
      out.code = "internal_error";
      break;
  }
  return out;
}

ApiError api_error_for_status(int http_status, std::string message) {
  ApiError out;
  out.status = http_status;
  out.message = std::move(message);
  out.type = http_status >= 500 ? "server_error" : "invalid_request_error";
  switch (http_status) {
    case 404:
      out.code = "not_found";
      break;
    case 413:
      out.code = "request_too_large";
      break;
    default:
      break;
  }
  return out;
}

std::string error_body(const ApiError& error) {
  auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  nlohmann::json body = {{"error",
                          {{"message", error.message},
                           {"type", error.type},
                           {"param", or_null(error.param)},
                           {"code", or_null(error.code)}}}};
  // Messages may quote client input; never let a stray byte turn an error into an exception.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tandem::server
