// MemoryStore and ValidateKey specifics (the generic behaviour is in the conformance suite).
#include "objstore/memory_store.h"

#include <gtest/gtest.h>

namespace tb::objstore {
namespace {

TEST(ValidateKeyTest, AcceptsPortableKeys) {
  for (std::string_view key : {"a", "a/b/c", "a..b", ".hidden/x", "x.", "with space", "caf\xc3\xa9"}) {
    EXPECT_TRUE(ValidateKey(key).ok()) << key;
  }
  EXPECT_TRUE(ValidateKey(std::string(1024, 'k')).ok());
}

TEST(ValidateKeyTest, RejectsNonPortableKeys) {
  for (std::string_view key : {"", "/a", "a/", "a//b", "..", "a/..", "../a", ".", "a/./b"}) {
    Status s = ValidateKey(key);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(ValidateKey(std::string("a\0b", 3)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateKey(std::string(1025, 'k')).code(), StatusCode::kInvalidArgument);
}

TEST(MemoryStoreTest, RejectsInvalidKeysLikeLocalStore) {
  MemoryStore store;
  EXPECT_EQ(store.Put("a//b", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Get("/a").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Head("..").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Delete({"a/"}).code(), StatusCode::kInvalidArgument);
}

TEST(MemoryStoreTest, TotalBytesAndExactPages) {
  MemoryStore store;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.Put("k" + std::to_string(i), std::string(i, 'x')).ok());
  EXPECT_EQ(store.TotalBytes(), 45u);
  // Exactly max_keys per page, and no token after the last key.
  Result<ListPage> page = store.List("k", "", 5);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 5u);
  EXPECT_EQ(page->next_token, "k4");
  page = store.List("k", page->next_token, 5);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects.size(), 5u);
  EXPECT_EQ(page->next_token, "");
  // A token before the prefix starts at the prefix.
  page = store.List("k5", "a", 1000);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "k5");
}

}  // namespace
}  // namespace tb::objstore
