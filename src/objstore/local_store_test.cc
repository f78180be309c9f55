// LocalStore specifics: key validation, the file layout, temp files, folders, reopening.
#include "objstore/local_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace tb::objstore {
namespace {

namespace fs = std::filesystem;

LocalStoreOptions NoCreate() {
  LocalStoreOptions o;
  o.create_root = false;
  return o;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (fs::temp_directory_path() / "tb-local-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    root_ = dir_ / "root";
    Result<std::shared_ptr<LocalStore>> store = LocalStore::Open(root_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = *store;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string ReadFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Every file and folder under the root, relative, sorted.
  std::vector<std::string> Tree() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_)) out.push_back(fs::relative(e.path(), root_).string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_, root_;
  std::shared_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, KeysMapToFiles) {
  ASSERT_TRUE(store_->Put("blocks/t1/0001/data", "payload").ok());
  EXPECT_EQ(ReadFile(root_ / "blocks/t1/0001/data"), "payload");
  EXPECT_EQ(Tree(), (std::vector<std::string>{"blocks", "blocks/t1", "blocks/t1/0001", "blocks/t1/0001/data"}));
  EXPECT_EQ(store_->Describe(), "file://" + root_.string());
}

TEST_F(LocalStoreTest, InvalidKeysAreRejected) {
  const std::string bad[] = {"",
                             "/abs",
                             "a//b",
                             "a/",
                             "a/../b",
                             "..",
                             ".",
                             "./a",
                             "a/.",
                             ".tmp-x",
                             "a/.tmp-1234/b",
                             std::string("a\0b", 3),
                             std::string(1025, 'k')};
  for (const std::string& key : bad) {
    EXPECT_EQ(store_->Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Put(key, "x", PutMode::kCreateOnly).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Head(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Delete({"ok", key}).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_TRUE(Tree().empty());
  // Allowed: dots inside names, ".tmp" without the dash, a 255-byte component.
  for (const std::string& key : {std::string("a..b/.c/x."), std::string(".tmp/y"), std::string(255, 'n')}) {
    EXPECT_TRUE(store_->Put(key, "x").ok()) << key;
  }
  // A component longer than the filesystem allows.
  EXPECT_EQ(store_->Put(std::string(300, 'n'), "x").code(), StatusCode::kInvalidArgument);
}

TEST_F(LocalStoreTest, ListNeverEscapesTheRoot) {
  ASSERT_TRUE(store_->Put("a/b", "x").ok());
  std::ofstream(dir_ / "outside") << "secret";
  for (std::string_view prefix : {"../", "/", "..", "a/../", "//", "a//", "./"}) {
    Result<ListPage> page = store_->List(prefix, "");
    ASSERT_TRUE(page.ok()) << prefix << ": " << page.status().ToString();
    if (prefix == "..") continue;  // a name prefix in the root: matches nothing here
    EXPECT_TRUE(page->objects.empty()) << prefix;
  }
}

TEST_F(LocalStoreTest, TempFilesAreInvisibleAndCleanedUp) {
  ASSERT_TRUE(store_->Put("d/obj", "x").ok());
  // Leftovers of a process that died mid-Put: one old, one fresh.
  std::ofstream(root_ / "d/.tmp-0123456789abcdef") << "partial";
  std::ofstream(root_ / ".tmp-fedcba9876543210") << "partial";
  const auto old = fs::file_time_type::clock::now() - std::chrono::hours(2);
  fs::last_write_time(root_ / "d/.tmp-0123456789abcdef", old);

  Result<ListPage> page = store_->List("", "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "d/obj");
  page = store_->List(".tmp", "");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());

  Result<int> removed = store_->RemoveStaleTempFiles(std::chrono::hours(1));
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(fs::exists(root_ / "d/.tmp-0123456789abcdef"));
  EXPECT_TRUE(fs::exists(root_ / ".tmp-fedcba9876543210"));
}

TEST_F(LocalStoreTest, PutsLeaveNoTempFiles) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store_->Put("x/" + std::to_string(i % 3), std::string(i * 100, 'z')).ok());
    ASSERT_TRUE(store_->Put("x/c" + std::to_string(i % 4), "c", PutMode::kCreateOnly).ok() || i >= 4);
  }
  EXPECT_EQ(Tree(), (std::vector<std::string>{"x", "x/0", "x/1", "x/2", "x/c0", "x/c1", "x/c2", "x/c3"}));
}

TEST_F(LocalStoreTest, AKeyCannotAlsoBeAFolder) {
  ASSERT_TRUE(store_->Put("file", "x").ok());
  EXPECT_EQ(store_->Put("file/child", "y").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Put("folder/child", "y").ok());
  EXPECT_EQ(store_->Put("folder", "z").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Put("folder", "z", PutMode::kCreateOnly).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Get("file/child").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Delete({"folder", "file/child"}).ok());  // neither is an object
  EXPECT_EQ(store_->Get("folder/child").value(), "y");
}

TEST_F(LocalStoreTest, DeletePrunesEmptyFolders) {
  ASSERT_TRUE(store_->Put("a/b/c/one", "1").ok());
  ASSERT_TRUE(store_->Put("a/two", "2").ok());
  ASSERT_TRUE(store_->Delete({"a/b/c/one"}).ok());
  EXPECT_EQ(Tree(), (std::vector<std::string>{"a", "a/two"}));
  ASSERT_TRUE(store_->Delete({"a/two"}).ok());
  EXPECT_TRUE(Tree().empty());
  EXPECT_TRUE(fs::exists(root_));
}

TEST_F(LocalStoreTest, SkipsSymlinksAndForeignFiles) {
  ASSERT_TRUE(store_->Put("real", "r").ok());
  fs::create_symlink(root_ / "real", root_ / "link");
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  Result<ListPage> page = store_->List("", "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "real");
  EXPECT_EQ(store_->Get("link").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("fifo").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Head("fifo").status().code(), StatusCode::kNotFound);
}

TEST_F(LocalStoreTest, ReopenSeesObjects) {
  ASSERT_TRUE(store_->Put("p/q", "persisted").ok());
  store_.reset();
  Result<std::shared_ptr<LocalStore>> again = LocalStore::Open(root_.string() + "/", NoCreate());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->Get("p/q").value(), "persisted");
  EXPECT_EQ((*again)->root(), root_.string());
}

TEST_F(LocalStoreTest, OpenWithoutCreateNeedsTheFolder) {
  Result<std::shared_ptr<LocalStore>> missing = LocalStore::Open((dir_ / "missing").string(), NoCreate());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LocalStore::Open("").status().code(), StatusCode::kInvalidArgument);
  Result<std::shared_ptr<LocalStore>> created = LocalStore::Open((dir_ / "new/deep").string());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(fs::is_directory(dir_ / "new/deep"));
}

TEST_F(LocalStoreTest, ConcurrentPutsAndDeletesInOneFolder) {
  // Deletes prune the folder while puts need it: every put must still land.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string key = "shared/sub/t" + std::to_string(t) + "-" + std::to_string(i);
        if (!store_->Put(key, "v").ok()) ++failures;
        if (store_->Get(key).status().code() != StatusCode::kOk) ++failures;
        if (!store_->Delete({key}).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(Tree().empty());
}

}  // namespace
}  // namespace tb::objstore
