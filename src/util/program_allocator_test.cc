#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "util/allocator.h"

namespace tb {
namespace {

// Built only when the programs have an allocator of their own (tb_program_allocator in
// CMakeLists.txt): a binary linked the way `tracebucket` is runs on tcmalloc, although it names
// none of its symbols, and hands freed memory back through it.
TEST(ProgramAllocator, AProgramLinkedAsTheServerIsRunsOnTcmalloc) {
  EXPECT_STREQ(AllocatorName(), "tcmalloc");
  {
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 1024; ++i) blocks.push_back(std::make_unique<char[]>(64 << 10));
  }
  ReleaseFreeMemory();
}

}  // namespace
}  // namespace tb
