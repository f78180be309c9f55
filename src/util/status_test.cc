#include "util/status.h"

#include <gtest/gtest.h>

namespace tb {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd value " + std::to_string(v));
  return v / 2;
}

Result<int> Quarter(int v) {
  TB_ASSIGN_OR_RETURN(int half, Half(v));
  return Half(half);
}

Status CheckQuarter(int v) {
  TB_RETURN_IF_ERROR(Quarter(v).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = Status::ResourceExhausted("head is full");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.ToString(), "RESOURCE_EXHAUSTED: head is full");
  EXPECT_EQ(s.WithContext("export").message(), "export: head is full");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd value 3");
  EXPECT_TRUE(CheckQuarter(4).ok());
  EXPECT_EQ(CheckQuarter(2).code(), StatusCode::kInvalidArgument);
}

TEST(StatusTest, IoErrorNamesErrno) {
  Status s = Status::IoError("open /x", ENOENT);
  EXPECT_EQ(s.message(), "open /x: No such file or directory");
}

}  // namespace
}  // namespace tb
