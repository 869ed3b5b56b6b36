// Tests that statuses carry code, message and context, and that the
// propagation macros return early with context added.
#include "steer/base/status.h"

#include <gtest/gtest.h>

namespace steer {
namespace {

Status failsWith(StatusCode code) { return makeError(code, "bad value ", 42); }

Status propagates() {
  STEER_RETURN_IF_ERROR(failsWith(StatusCode::kOutOfRange), "while reading ",
                        "x.json");
  return makeError(StatusCode::kInternal, "not reached");
}

StatusOr<int> half(int v) {
  if (v % 2)
    return makeError(StatusCode::kInvalidArgument, v, " is odd");
  return v / 2;
}

StatusOr<int> quarter(int v) {
  STEER_ASSIGN_OR_RETURN(int h, half(v), "while halving ", v);
  STEER_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.toString(), "ok");
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());
}

TEST(Status, MessageAndContext) {
  Status s = propagates();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "bad value 42");
  ASSERT_EQ(s.context().size(), 1u);
  EXPECT_EQ(s.context()[0], "while reading x.json");
  EXPECT_EQ(s.toString(), "error: bad value 42\n  while reading x.json");
}

TEST(Status, CopiesDoNotShareContext) {
  Status a = failsWith(StatusCode::kIo);
  Status b = a;
  b.withContext("only in b");
  EXPECT_TRUE(a.context().empty());
  EXPECT_EQ(b.context().size(), 1u);
}

TEST(StatusOr, ValueAndError) {
  StatusOr<int> q = quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  StatusOr<int> bad = quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "3 is odd");
  EXPECT_TRUE(bad.status().context().empty());
  StatusOr<int> bad2 = quarter(5);
  ASSERT_FALSE(bad2.ok());
  ASSERT_EQ(bad2.status().context().size(), 1u);
  EXPECT_EQ(bad2.status().context()[0], "while halving 5");
}

TEST(Status, FloatPieces) {
  EXPECT_EQ(makeError(StatusCode::kInvalidArgument, 0.5).message(), "0.5");
  EXPECT_EQ(statusCodeName(StatusCode::kDataLoss), "data loss");
}

} // namespace
} // namespace steer
