// Checks every Provider must pass the same way, so local and remote stay interchangeable.
//
//   TEST_F(MyProviderTest, Cancellation) { expect_cancellation_contract(my_provider); }
//
// Thread-safety: call from a test body.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "providers/provider.h"

namespace tandem::providers {

inline ChatRequest greedy_request(const std::string& question, int32_t max_tokens) {
  ChatRequest request;
  request.messages = {{"user", question}};
  request.sampling.temperature = 0;
  request.sampling.max_tokens = max_tokens;
  return request;
}

// A stopped stream returns exactly the deltas the caller accepted, as kCancelled, not an error.
inline void expect_cancellation_contract(Provider& provider) {
  SCOPED_TRACE(provider.name());
  for (const bool by_flag : {false, true}) {
    SCOPED_TRACE(by_flag ? "cancel flag set from the callback" : "callback returned false");
    auto request = greedy_request("Count from one to twenty.", 24);
    request.cancel = std::make_shared<std::atomic<bool>>(false);
    std::string accepted;
    int calls = 0;
    auto stopped = provider.stream(request, [&](std::string_view delta) {
      accepted += delta;
      ++calls;
      request.cancel->store(by_flag);  // as another thread would
      return by_flag;
    });
    ASSERT_TRUE(stopped) << stopped.error().message;
    EXPECT_EQ(stopped->finish_reason, FinishReason::kCancelled);
    EXPECT_EQ(calls, 1) << "no delta after the stop";
    EXPECT_EQ(stopped->text, accepted);
  }

  auto cancelled_before = greedy_request("Hi", 8);
  cancelled_before.cancel = std::make_shared<std::atomic<bool>>(true);
  auto nothing = provider.complete(cancelled_before);
  ASSERT_TRUE(nothing) << nothing.error().message;
  EXPECT_EQ(nothing->finish_reason, FinishReason::kCancelled);
  EXPECT_TRUE(nothing->text.empty());
}

}  // namespace tandem::providers
