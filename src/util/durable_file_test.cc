#include "util/durable_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace tb {
namespace {

class DurableFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = ::testing::TempDir() + "tb_durable_XXXXXX";
    ASSERT_NE(mkdtemp(root_.data()), nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string root_;
};

TEST_F(DurableFileTest, CreatesEveryMissingFolderAndAcceptsOnesThatExist) {
  const std::string deep = root_ + "/a/b/c";
  ASSERT_TRUE(CreateDirectoriesDurably(deep).ok());
  EXPECT_TRUE(std::filesystem::is_directory(deep));
  EXPECT_TRUE(CreateDirectoriesDurably(deep).ok());
  EXPECT_TRUE(CreateDirectoriesDurably(root_).ok());
}

TEST_F(DurableFileTest, ReplacesAFileWholeAndLeavesNoTemporaryBehind) {
  const std::string path = root_ + "/INSTANCE";
  ASSERT_TRUE(WriteFileDurably(path, "first\n").ok());
  EXPECT_EQ(Read(path), "first\n");
  ASSERT_TRUE(WriteFileDurably(path, "second\n").ok());
  EXPECT_EQ(Read(path), "second\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(DurableFileTest, FailuresNameThePathAndTheCause) {
  const std::string file = root_ + "/plain";
  ASSERT_TRUE(WriteFileDurably(file, "x").ok());
  const Status under_file = CreateDirectoriesDurably(file + "/sub");
  ASSERT_FALSE(under_file.ok());
  EXPECT_NE(under_file.message().find(file + "/sub"), std::string::npos) << under_file.ToString();
  const Status missing = WriteFileDurably(root_ + "/no/such/dir/file", "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("No such file"), std::string::npos) << missing.ToString();
}

}  // namespace
}  // namespace tb
