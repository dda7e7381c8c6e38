// SseParser on event streams split at every possible byte boundary.
#include "providers/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::providers {
namespace {

std::vector<std::string> parse_in_pieces(std::string_view stream, size_t piece) {
  SseParser parser;
  std::vector<std::string> events;
  for (size_t at = 0; at < stream.size(); at += piece) {
    EXPECT_TRUE(parser.feed(stream.substr(at, piece), [&](std::string_view data) {
      events.emplace_back(data);
      return true;
    }));
  }
  return events;
}

TEST(SseParserTest, SameEventsWhateverTheSplit) {
  const std::string stream =
      ": keep-alive comment\r\n\r\n"
      "data: {\"a\":1}\r\n\r\n"
      "event: message\nid: 7\ndata:{\"b\":2}\n\n"
      "data: first line\ndata: second line\n\n"
      "data: [DONE]\r\n\r\n";
  const std::vector<std::string> expected = {"{\"a\":1}", "{\"b\":2}", "first line\nsecond line", "[DONE]"};
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    EXPECT_EQ(parse_in_pieces(stream, piece), expected) << "pieces of " << piece << " bytes";
  }
}

TEST(SseParserTest, UnterminatedEventIsHeldBack) {
  SseParser parser;
  int events = 0;
  auto count = [&](std::string_view) {
    ++events;
    return true;
  };
  EXPECT_TRUE(parser.feed("data: {\"a\":1}\n\ndata: {\"cut", count));
  EXPECT_EQ(events, 1);
  EXPECT_TRUE(parser.has_partial_event());
}

TEST(SseParserTest, CallbackCanStopParsing) {
  SseParser parser;
  std::vector<std::string> seen;
  EXPECT_FALSE(parser.feed("data: one\n\ndata: two\n\n", [&](std::string_view data) {
    seen.emplace_back(data);
    return false;
  }));
  EXPECT_EQ(seen, std::vector<std::string>{"one"});
}

}  // namespace
}  // namespace tandem::providers
