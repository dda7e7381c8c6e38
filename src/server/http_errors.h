// The one place where Tandem's ErrorCodes become HTTP statuses and OpenAI-shaped error bodies.
//
//   ApiError e = api_error(make_error(ErrorCode::kContextOverflow, "the prompt has 9000 tokens ..."));
//   res.status = e.status;                       // 400
//   res.set_content(error_body(e), "application/json");
//   // {"error":{"message":"the prompt has ...","type":"invalid_request_error","param":null,
//   //           "code":"context_length_exceeded"}}
//
// Thread-safety: pure functions over values.
#pragma once

#include <string>

#include "core/status.h"

namespace tandem::server {

struct ApiError {
  int status = 500;
  std::string type;   // OpenAI's error.type, e.g. "invalid_request_error"
  std::string code;   // OpenAI's error.code, e.g. "model_not_found"; empty -> null
  std::string param;  // the request field at fault; empty -> null
  std::string message;
  int retry_after_s = 0;  // > 0: send a Retry-After header
};

// `param` names the request field the error is about (may be empty).
ApiError api_error(const Error& error, std::string param = {});

// An error raised by the HTTP layer itself (unknown route, body too large, unparsable request),
// where only the HTTP status is known.
ApiError api_error_for_status(int http_status, std::string message);

// {"error":{"message","type","param","code"}}
std::string error_body(const ApiError& error);

}  // namespace tandem::server
