// The ErrorCode -> HTTP mapping and the OpenAI error shape.
#include "server/http_errors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace tandem::server {
namespace {

TEST(HttpErrorsTest, EveryCodeMapsToItsStatus) {
  const std::vector<std::pair<ErrorCode, int>> expected = {
      {ErrorCode::kInvalidArgument, 400},   {ErrorCode::kContextOverflow, 400}, {ErrorCode::kNotFound, 404},
      {ErrorCode::kResourceExhausted, 429}, {ErrorCode::kUnavailable, 503},     {ErrorCode::kDeadlineExceeded, 504},
      {ErrorCode::kCancelled, 499},         {ErrorCode::kDataLoss, 500},        {ErrorCode::kInternal, 500},
      {ErrorCode::kUnimplemented, 501},
  };
  for (const auto& [code, status] : expected) {
    EXPECT_EQ(api_error(make_error(code, "x")).status, status) << error_code_name(code);
  }
}

TEST(HttpErrorsTest, RetryLaterCodesCarryRetryAfter) {
  EXPECT_GT(api_error(make_error(ErrorCode::kResourceExhausted, "busy")).retry_after_s, 0);
  EXPECT_GT(api_error(make_error(ErrorCode::kUnavailable, "draining")).retry_after_s, 0);
  EXPECT_EQ(api_error(make_error(ErrorCode::kInvalidArgument, "bad")).retry_after_s, 0);
}

TEST(HttpErrorsTest, ContextOverflowHasOpenAICode) {
  ApiError e = api_error(make_error(ErrorCode::kContextOverflow, "the prompt has 9000 tokens"));
  EXPECT_EQ(e.code, "context_length_exceeded");
  EXPECT_EQ(e.type, "invalid_request_error");
}

TEST(HttpErrorsTest, UnknownModelIsModelNotFound) {
  EXPECT_EQ(api_error(make_error(ErrorCode::kNotFound, "no such model"), "model").code, "model_not_found");
  EXPECT_EQ(api_error(make_error(ErrorCode::kNotFound, "no such adapter"), "lora").code, "not_found");
}

TEST(HttpErrorsTest, BodyHasOpenAIShapeWithNulls) {
  auto body = nlohmann::json::parse(
      error_body(api_error(make_error(ErrorCode::kInvalidArgument, "temperature must be a number"))));
  ASSERT_TRUE(body.contains("error"));
  EXPECT_EQ(body["error"]["message"], "temperature must be a number");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(body["error"]["param"].is_null());
  EXPECT_TRUE(body["error"]["code"].is_null());
}

TEST(HttpErrorsTest, BodyNamesTheParam) {
  auto body =
      nlohmann::json::parse(error_body(api_error(make_error(ErrorCode::kInvalidArgument, "bad"), "messages[0].role")));
  EXPECT_EQ(body["error"]["param"], "messages[0].role");
}

TEST(HttpErrorsTest, InvalidUtf8InMessageDoesNotThrow) {
  std::string body = error_body(api_error(make_error(ErrorCode::kInvalidArgument, "got '\xff\xfe'")));
  EXPECT_TRUE(nlohmann::json::accept(body));
}

TEST(HttpErrorsTest, HttpLayerStatuses) {
  ApiError too_large = api_error_for_status(413, "too large");
  EXPECT_EQ(too_large.status, 413);
  EXPECT_EQ(too_large.code, "request_too_large");
  EXPECT_EQ(too_large.type, "invalid_request_error");
  EXPECT_EQ(api_error_for_status(404, "no route").code, "not_found");
  EXPECT_EQ(api_error_for_status(500, "oops").type, "server_error");
}

}  // namespace
}  // namespace tandem::server
