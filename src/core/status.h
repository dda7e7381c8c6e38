// Errors as values at module boundaries: Status (no value) and Result<T> (a value or an Error).
//
//   Result<int> parse_port(std::string_view s);
//   auto port = parse_port("8080");
//   if (!port) return port.error();          // propagate
//   use(*port);
//
// One fixed set of codes; server/http_errors.cpp maps them to HTTP status in one place.
// Thread-safety: value types, no shared state.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem {

enum class ErrorCode {
  kInvalidArgument,    // the caller sent something malformed or out of range
  kNotFound,           // unknown model, missing file
  kUnauthenticated,    // no API key, or one that is unknown or revoked
  kPermissionDenied,   // a valid key whose scope does not allow this
  kContextOverflow,    // prompt + max_tokens do not fit the context window
  kResourceExhausted,  // queue full, rate limited: retry later
  kUnavailable,        // shutting down, dependency down
  kCancelled,          // the client went away
  kDeadlineExceeded,   // request timed out
  kDataLoss,           // corrupt or truncated file
  kUnimplemented,      // a capability that is not built yet
  kInternal,           // a bug or an unexpected library failure
};

std::string_view error_code_name(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;

  std::string to_string() const { return std::string(error_code_name(code)) + ": " + message; }
};

inline Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : data_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(data_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(data_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(data_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(data_);
  }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> data_;
};

}  // namespace tandem
