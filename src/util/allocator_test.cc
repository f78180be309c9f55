#include "util/allocator.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace tb {
namespace {

// The libraries take no allocator: a test binary, linked only with them, runs on the system's
// malloc, and handing freed memory back works there too.
TEST(Allocator, TheLibrariesLeaveTheChoiceToThePrograms) {
  EXPECT_STREQ(AllocatorName(), "system");
  {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 1024; ++i) blocks.push_back(std::make_unique<char[]>(4096));
  }
  ReleaseFreeMemory();
}

}  // namespace
}  // namespace tb
