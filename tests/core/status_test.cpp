#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace tandem {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error(ErrorCode::kInvalidArgument, "must be positive");
  return v;
}

TEST(Result, HoldsValueOrError) {
  auto ok = parse_positive(3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  EXPECT_TRUE(ok.status().ok());

  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().to_string(), "invalid_argument: must be positive");
  EXPECT_FALSE(bad.status().ok());
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(7));
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(Status, DefaultIsOk) {
  Status st;
  EXPECT_TRUE(st.ok());
  Status err = make_error(ErrorCode::kNotFound, "x");
  EXPECT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(error_code_name(ErrorCode::kResourceExhausted), "resource_exhausted");
}

}  // namespace
}  // namespace tandem
