// The conformance suite's test bodies; see object_store_suite.h.
#include "objstore/object_store_suite.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tb::objstore {

void ObjectStoreConformance::SetUp() {
  store_ = GetParam().make ? GetParam().make() : nullptr;
  if (!store_) GTEST_SKIP() << "store \"" << GetParam().name << "\" is not available here";
}

void ObjectStoreConformance::TearDown() { store_.reset(); }

void ExpectOneCreateOnlyWinner(const std::vector<std::shared_ptr<ObjectStore>>& stores, const std::string& key,
                               const std::function<std::string(int)>& data) {
  const int n = static_cast<int>(stores.size());
  std::latch start(n);
  std::vector<std::string> bytes(n);
  std::vector<Status> results(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    bytes[i] = data(i);
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = stores[i]->Put(key, bytes[i], PutMode::kCreateOnly);
    });
  }
  for (std::thread& t : threads) t.join();
  int winner = -1, losers = 0;
  for (int i = 0; i < n; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(winner, -1) << "a second winner: writer " << i;
      winner = i;
    } else if (results[i].code() == StatusCode::kAlreadyExists) {
      ++losers;
    } else {
      ADD_FAILURE() << "writer " << i << ": " << results[i].ToString();
    }
  }
  ASSERT_NE(winner, -1) << "no writer won " << key;
  EXPECT_EQ(losers, n - 1);
  Result<std::string> stored = stores[0]->Get(key);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_TRUE(*stored == bytes[winner]) << "the object is not the winner's";
}

void ExpectReadsBack(ObjectStore& store, const std::string& key, const std::string& data) {
  Result<std::string> whole = store.Get(key);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_TRUE(*whole == data) << key << " differs";
  for (uint64_t offset : {uint64_t{0}, uint64_t{512 << 10} - 1, uint64_t{2 << 20} + 3, uint64_t{data.size() - 1}}) {
    Result<std::string> part = store.Get(key, offset, 100000);
    ASSERT_TRUE(part.ok()) << part.status().ToString();
    EXPECT_TRUE(*part == data.substr(offset, 100000)) << key << " at offset " << offset;
  }
}

std::string TestEnv(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

bool InCi() {
  const std::string ci = TestEnv("CI");
  return !ci.empty() && ci != "false" && ci != "0";
}

std::string Emulator::Missing() const {
  const std::string why = TestEnv(skipped_variable);
  return std::string(variable) + " is not set: no " + what + " for this test" + (why.empty() ? "" : " (" + why + ")") +
         ". " + how_to;
}

std::shared_ptr<ObjectStore> Emulator::StoreForSuite(
    const std::function<Result<std::shared_ptr<ObjectStore>>()>& open) const {
  if (!Available()) {
    if (MissingFails()) {
      ADD_FAILURE() << Missing();
    } else {
      [this] { GTEST_SKIP() << Missing(); }();
    }
    return nullptr;
  }
  Result<std::shared_ptr<ObjectStore>> store = open();
  if (!store.ok()) {
    ADD_FAILURE() << store.status().ToString();
    return nullptr;
  }
  return std::move(store).value();
}

std::string UniqueTestName(std::string_view tag) {
  static const std::string process = [] {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
    return std::to_string(getpid()) + "-" + std::to_string(ms);
  }();
  static std::atomic<int> n{0};
  return std::string(tag) + "-" + process + "-" + std::to_string(n++);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

namespace {

#define TB_EXPECT_OK(expr)                                        \
  do {                                                            \
    const ::tb::Status& tb_s_ = (expr);                           \
    EXPECT_TRUE(tb_s_.ok()) << #expr << ": " << tb_s_.ToString(); \
  } while (0)
#define TB_ASSERT_OK(expr)                                        \
  do {                                                            \
    const ::tb::Status& tb_s_ = (expr);                           \
    ASSERT_TRUE(tb_s_.ok()) << #expr << ": " << tb_s_.ToString(); \
  } while (0)

// Deterministic bytes of every value 0..255 (NUL included).
std::string Bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int b = 0; b < 8; ++b) s[i + b] = static_cast<char>(v >> (8 * b));
  }
  for (; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

std::string Key(const char* format, int i) {
  char buf[128];
  std::snprintf(buf, sizeof buf, format, i);
  return buf;
}

std::vector<std::string> Keys(const std::vector<ObjectInfo>& objects) {
  std::vector<std::string> keys;
  for (const ObjectInfo& o : objects) keys.push_back(o.key);
  return keys;
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <typename Fn>
void ParallelFor(int n, int threads, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
  for (std::thread& t : pool) t.join();
}

// Puts every key (value: the key itself), 8 at a time.
void PutAll(ObjectStore& store, const std::vector<std::string>& keys) {
  std::atomic<int> failures{0};
  ParallelFor(static_cast<int>(keys.size()), 8, [&](int i) {
    Status s = store.Put(keys[i], keys[i]);
    if (!s.ok() && failures++ < 5) ADD_FAILURE() << "put " << keys[i] << ": " << s.ToString();
  });
  ASSERT_EQ(failures.load(), 0);
}

// Follows pages of `max_keys`, checking page sizes and tokens; returns the keys.
std::vector<std::string> ListPaged(ObjectStore& store, std::string_view prefix, int max_keys) {
  std::vector<std::string> keys;
  std::string token;
  for (int pages = 0;; ++pages) {
    Result<ListPage> page = store.List(prefix, token, max_keys);
    if (!page.ok()) {
      ADD_FAILURE() << "list \"" << prefix << "\" max_keys=" << max_keys << ": " << page.status().ToString();
      return keys;
    }
    EXPECT_LE(page->objects.size(), static_cast<size_t>(max_keys));
    if (!page->next_token.empty()) {
      EXPECT_FALSE(page->objects.empty()) << "an empty page that is not the last";
    }
    for (ObjectInfo& o : page->objects) keys.push_back(std::move(o.key));
    if (page->next_token.empty()) return keys;
    if (page->next_token == token || pages > 100000) {
      ADD_FAILURE() << "list does not advance";
      return keys;
    }
    token = std::move(page->next_token);
  }
}

// ---------------------------------------------------------------------------------------------
// Put, Get, Head
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, DescribeIsNotEmpty) { EXPECT_FALSE(store().Describe().empty()); }

TEST_P(ObjectStoreConformance, PutGetRoundTrip) {
  TB_ASSERT_OK(store().Put("a", "hello"));
  Result<std::string> got = store().Get("a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "hello");
}

TEST_P(ObjectStoreConformance, BinaryContentRoundTrips) {
  const std::string data = Bytes(70000, 1) + std::string(3, '\0');
  TB_ASSERT_OK(store().Put("bin", data));
  Result<std::string> got = store().Get("bin");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data);
}

TEST_P(ObjectStoreConformance, EmptyObject) {
  TB_ASSERT_OK(store().Put("empty", ""));
  Result<std::string> got = store().Get("empty");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "");
  Result<ObjectInfo> info = store().Head("empty");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 0u);
  Result<std::string> zero = store().Get("empty", 0, 0);
  ASSERT_TRUE(zero.ok()) << zero.status().ToString();
  EXPECT_EQ(*zero, "");
  EXPECT_EQ(store().Get("empty", 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ObjectStoreConformance, OverwriteReplacesWholeObject) {
  TB_ASSERT_OK(store().Put("k", "a long first version"));
  TB_ASSERT_OK(store().Put("k", "short"));
  Result<std::string> got = store().Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "short");
  Result<ObjectInfo> info = store().Head("k");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, 5u);
}

TEST_P(ObjectStoreConformance, MissingObjectIsNotFound) {
  EXPECT_EQ(store().Get("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get("no/such/key", 3, 5).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get("nope", 0, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Head("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Head("no/such/key").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformance, HeadReportsKeyAndSize) {
  TB_ASSERT_OK(store().Put("dir/obj", std::string(1234, 'x')));
  Result<ObjectInfo> info = store().Head("dir/obj");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->key, "dir/obj");
  EXPECT_EQ(info->size, 1234u);
  // A "folder" of other keys is not an object.
  EXPECT_EQ(store().Head("dir").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get("dir").status().code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformance, RangedGets) {
  const std::string data = "0123456789abcdefghij";  // 20 bytes
  TB_ASSERT_OK(store().Put("r", data));
  struct Case {
    uint64_t offset, length;
    std::string want;
  };
  const Case cases[] = {
      {0, 5, "01234"},                  // start
      {7, 6, "789abc"},                 // middle
      {15, 100, "fghij"},               // past the end: cut short
      {15, kToEnd, "fghij"},            // to the end
      {19, 1, "j"},                     // last byte
      {0, kToEnd, data},                // whole
      {0, 20, data},                    // whole, explicit
      {0, 0, ""},                       // zero-length at the start
      {9, 0, ""},                       // zero-length in the middle
      {20, kToEnd, ""},                 // at the end: empty
      {20, 0, ""},                      // at the end, zero-length
      {3, kToEnd - 1, data.substr(3)},  // huge length
  };
  for (const Case& c : cases) {
    Result<std::string> got = store().Get("r", c.offset, c.length);
    ASSERT_TRUE(got.ok()) << "offset " << c.offset << " length " << c.length << ": " << got.status().ToString();
    EXPECT_EQ(*got, c.want) << "offset " << c.offset << " length " << c.length;
  }
  EXPECT_EQ(store().Get("r", 21).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Get("r", 21, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().Get("r", 1000, 5).status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Create-only
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, CreateOnlySecondWriterGetsAlreadyExists) {
  TB_ASSERT_OK(store().Put("c", "first", PutMode::kCreateOnly));
  Status second = store().Put("c", "second", PutMode::kCreateOnly);
  EXPECT_EQ(second.code(), StatusCode::kAlreadyExists) << second.ToString();
  Result<std::string> got = store().Get("c");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "first");
  // Overwrite still works, and after a delete the key can be created again.
  TB_ASSERT_OK(store().Put("c", "third"));
  TB_ASSERT_OK(store().Delete({"c"}));
  TB_ASSERT_OK(store().Put("c", "fourth", PutMode::kCreateOnly));
  got = store().Get("c");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "fourth");
}

TEST_P(ObjectStoreConformance, CreateOnlyRaceHasExactlyOneWinner) {
  if (!store().SupportsCreateOnly()) GTEST_SKIP() << "create-only is not atomic on " << store().Describe();
  const std::vector<std::shared_ptr<ObjectStore>> writers(16, store_);
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectOneCreateOnlyWinner(writers, Key("race/%d", round), [](int i) { return "writer " + std::to_string(i); });
  }
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, ListEmptyStore) {
  Result<ListPage> page = store().List("", "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->objects.empty());
  EXPECT_TRUE(page->next_token.empty());
  page = store().List("no/such/prefix/", "");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->objects.empty());
}

TEST_P(ObjectStoreConformance, ListFiltersByPrefixInKeyOrder) {
  // Byte order, not folder order: '-' (0x2d) < '/' (0x2f) < '0' (0x30).
  const std::vector<std::string> sorted = {"a-b", "a/b", "a/c/d", "a/c/e", "a0", "ab", "b/x/y/z", "b0"};
  std::vector<std::string> shuffled = sorted;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  for (const std::string& key : shuffled) TB_ASSERT_OK(store().Put(key, std::string(key.size(), 'v')));

  auto list = [&](std::string_view prefix) {
    Result<ListPage> page = store().List(prefix, "");
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return std::vector<std::string>{};
    EXPECT_TRUE(page->next_token.empty());
    for (const ObjectInfo& o : page->objects) EXPECT_EQ(o.size, o.key.size()) << o.key;
    return Keys(page->objects);
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(list(""), sorted);
  EXPECT_EQ(list("a"), (V{"a-b", "a/b", "a/c/d", "a/c/e", "a0", "ab"}));
  EXPECT_EQ(list("a/"), (V{"a/b", "a/c/d", "a/c/e"}));
  EXPECT_EQ(list("a/c"), (V{"a/c/d", "a/c/e"}));
  EXPECT_EQ(list("a/c/"), (V{"a/c/d", "a/c/e"}));
  EXPECT_EQ(list("a/c/d"), (V{"a/c/d"}));
  EXPECT_EQ(list("a-"), (V{"a-b"}));
  EXPECT_EQ(list("b"), (V{"b/x/y/z", "b0"}));
  EXPECT_EQ(list("b/x/"), (V{"b/x/y/z"}));
  EXPECT_EQ(list("zz"), V{});
  EXPECT_EQ(list("a/b/"), V{});  // "a/b" is an object, not a folder
  EXPECT_EQ(list("a/c/d/e"), V{});
}

TEST_P(ObjectStoreConformance, ListRejectsBadMaxKeys) {
  EXPECT_EQ(store().List("", "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().List("", "", -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store().List("", "", 1001).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(ObjectStoreConformance, ListPaginates) {
  // 2500 keys under "p/", a fifth of them one folder deeper, plus neighbours outside the prefix.
  std::vector<std::string> keys;
  for (int i = 0; i < 2500; ++i) keys.push_back(Key(i % 5 == 0 ? "p/x/%05d" : "p/%05d", i));
  std::vector<std::string> all = keys;
  for (const char* other : {"o", "p-", "p0", "pa/1", "q/1"}) all.push_back(other);
  ASSERT_NO_FATAL_FAILURE(PutAll(store(), all));
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());

  for (int max_keys : {1000, 999, 250, 7}) {
    EXPECT_EQ(ListPaged(store(), "p/", max_keys), want) << "max_keys " << max_keys;
  }
  // One key per page, over a part of them.
  std::vector<std::string> part;
  for (const std::string& k : want) {
    if (k.starts_with("p/000")) part.push_back(k);  // p/00001 .. p/00099 (p/00000 is under p/x/)
  }
  ASSERT_EQ(part.size(), 80u);
  EXPECT_EQ(ListPaged(store(), "p/000", 1), part);

  // A full first page names where the second starts.
  Result<ListPage> first = store().List("p/", "", 1000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_FALSE(first->next_token.empty());
  Result<ListPage> second = store().List("p/", first->next_token, 1000);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_FALSE(second->objects.empty());
  EXPECT_GT(second->objects.front().key, first->objects.back().key);

  // ListAll follows the pages.
  Result<std::vector<ObjectInfo>> listed = ListAll(store(), "p/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Keys(*listed), want);
  listed = ListAll(store(), "");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), all.size());
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, DeleteRemovesAndIgnoresMissing) {
  TB_ASSERT_OK(store().Put("d/1", "x"));
  TB_ASSERT_OK(store().Put("d/2", "y"));
  TB_ASSERT_OK(store().Put("d/sub/3", "z"));
  TB_ASSERT_OK(store().Delete({"d/1", "d/missing", "never/was", "d/sub/3"}));
  EXPECT_EQ(store().Head("d/1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store().Get("d/sub/3").status().code(), StatusCode::kNotFound);
  Result<std::vector<ObjectInfo>> left = ListAll(store(), "");
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(Keys(*left), std::vector<std::string>{"d/2"});
  TB_EXPECT_OK(store().Delete({}));
  TB_EXPECT_OK(store().Delete({"d/1"}));  // again
  // The key can be stored again, also below a folder that may have been pruned.
  TB_ASSERT_OK(store().Put("d/sub/3", "again"));
  EXPECT_EQ(store().Get("d/sub/3").value(), "again");
}

TEST_P(ObjectStoreConformance, DeleteMoreThan1000KeysInOneCall) {
  std::vector<std::string> keys;
  for (int i = 0; i < 2100; ++i) keys.push_back(Key("del/%05d", i));
  ASSERT_NO_FATAL_FAILURE(PutAll(store(), keys));
  TB_ASSERT_OK(store().Put("keep", "k"));
  keys.push_back("del/missing");
  TB_ASSERT_OK(store().Delete(keys));
  Result<std::vector<ObjectInfo>> left = ListAll(store(), "");
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(Keys(*left), std::vector<std::string>{"keep"});
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, UnusualKeyCharacters) {
  std::vector<std::string> keys = {
      "with space/a b",
      "plus+sign",
      "eq=ual",
      "tilde~x",
      "caf\xc3\xa9/\xc3\xa9t\xc3\xa9",
      "deep/nested/path/to/an/object",
      "percent%20x",
      "amp&and",
      "q?mark",
      "hash#tag",
      "colon:semi;comma,",
      "star*(paren)!",
      "quote'dollar$at@",
      "dots.in..name",
      "back\\slash",
      "emoji \xf0\x9f\x98\x80",
      "trailing.",
      "-dash_under",
  };
  if (!GetParam().backslash_keys) {
    Status refused = store().Put("back\\slash", "v");
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.ToString();
    std::erase(keys, "back\\slash");
  }
  for (const std::string& key : keys) TB_ASSERT_OK(store().Put(key, "v:" + key));
  for (const std::string& key : keys) {
    Result<std::string> got = store().Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().ToString();
    EXPECT_EQ(*got, "v:" + key);
    Result<ObjectInfo> info = store().Head(key);
    ASSERT_TRUE(info.ok()) << key << ": " << info.status().ToString();
    EXPECT_EQ(info->size, key.size() + 2);
  }
  std::vector<std::string> want = keys;
  std::sort(want.begin(), want.end());
  Result<std::vector<ObjectInfo>> listed = ListAll(store(), "");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Keys(*listed), want);
  // Prefixes with special characters.
  listed = ListAll(store(), "caf\xc3\xa9/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Keys(*listed), std::vector<std::string>{"caf\xc3\xa9/\xc3\xa9t\xc3\xa9"});
  listed = ListAll(store(), "with space/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Keys(*listed), std::vector<std::string>{"with space/a b"});
  TB_ASSERT_OK(store().Delete(keys));
  listed = ListAll(store(), "");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_TRUE(listed->empty());
}

// ---------------------------------------------------------------------------------------------
// Size and concurrency
// ---------------------------------------------------------------------------------------------

TEST_P(ObjectStoreConformance, LargeObjectRoundTrip) {
  const std::string data = Bytes(20 << 20, 42);
  TB_ASSERT_OK(store().Put("large/object", data));
  Result<ObjectInfo> info = store().Head("large/object");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, data.size());
  Result<std::string> got = store().Get("large/object");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data) << "20 MiB object differs";
  const uint64_t middle = 10 << 20;
  got = store().Get("large/object", middle - 3, 1 << 20);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data.substr(middle - 3, 1 << 20));
  got = store().Get("large/object", data.size() - 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data.substr(data.size() - 10));
}

TEST_P(ObjectStoreConformance, ConcurrentPutsAndGetsOfDifferentKeys) {
  constexpr int kThreads = 8, kPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = "t" + std::to_string(t) + "/k" + std::to_string(i);
        const std::string data = Bytes(100 + 37 * i, t * 1000 + i);
        Status put = store().Put(key, data);
        Result<std::string> got = store().Get(key);
        if (!put.ok() || !got.ok() || *got != data) {
          if (failures++ < 5) ADD_FAILURE() << key << ": " << put.ToString() << " / " << got.status().ToString();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Result<std::vector<ObjectInfo>> listed = ListAll(store(), "");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), static_cast<size_t>(kThreads * kPerThread));  // and nothing else (no temp files)
}

TEST_P(ObjectStoreConformance, ReadersSeeWholeObjectsDuringOverwrites) {
  const std::string a(256 << 10, 'a'), b(300 << 10, 'b');
  TB_ASSERT_OK(store().Put("flip", a));
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop) {
        Result<std::string> got = store().Get("flip");
        if (!got.ok()) {
          ++errors;
        } else if (*got != a && *got != b) {
          ++torn;
        }
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    Status s = store().Put("flip", i % 2 ? a : b);
    if (!s.ok()) ADD_FAILURE() << s.ToString();
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  Result<std::vector<ObjectInfo>> listed = ListAll(store(), "");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(Keys(*listed), std::vector<std::string>{"flip"});
}

}  // namespace
}  // namespace tb::objstore
