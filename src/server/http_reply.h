// Writing JSON answers and API errors onto an httplib response: shared by the server's route
// files. Thread-safety: pure functions over the response they are given.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "server/http_errors.h"
#include "server/openai_protocol.h"

namespace tandem::server {

inline void reply_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  res.set_content(error_body(error), "application/json");
}

inline void reply_json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_content(to_text(body), "application/json");
}

}  // namespace tandem::server
