#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "server/http_server.h"

namespace tb::server {
namespace {

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigTest, ParsesByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096u);
  EXPECT_EQ(*ParseByteSize("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseByteSize("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseByteSize("10MB"), 10'000'000u);
  EXPECT_FALSE(ParseByteSize("lots").ok());
  EXPECT_FALSE(ParseByteSize("12parsecs").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999999999GiB").ok());
}

TEST(ConfigTest, LoadsYamlOverDefaults) {
  Config c;
  auto path = WriteFile("tb_config.yaml",
                        "data_dir: /tmp/x\n"
                        "grpc_listen: 127.0.0.1:1\n"
                        "enable_purge: true\n"
                        "head: {memory_budget: 64MiB}\n"
                        "wal: {sync: false}\n"
                        "flush: {every_write: true}\n"
                        "limits: {max_spans_per_trace: 10, max_attribute_value_size: 1KiB}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.data_dir, "/tmp/x");
  EXPECT_EQ(c.grpc_listen, "127.0.0.1:1");
  EXPECT_EQ(c.http_listen, "0.0.0.0:4318");  // untouched default
  EXPECT_TRUE(c.enable_purge);
  EXPECT_EQ(c.head_memory_budget_bytes, 64ull << 20);
  EXPECT_FALSE(c.wal_sync);
  EXPECT_TRUE(c.flush_every_write);
  EXPECT_TRUE(c.background_flush);  // untouched default
  EXPECT_EQ(c.limits.max_spans_per_trace, 10u);
  EXPECT_EQ(c.limits.max_attribute_value_bytes, 1024u);
}

TEST(ConfigTest, LoadsCacheTiers) {
  Config c;
  EXPECT_EQ(c.cache_disk_bytes, 1ull << 30);
  EXPECT_EQ(c.cache_dir, "");
  auto path = WriteFile("tb_cache.yaml", "cache: {memory: 512MiB, disk_size: 20GiB, dir: /var/cache/tb}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.cache_bytes, 512ull << 20);
  EXPECT_EQ(c.cache_disk_bytes, 20ull << 30);
  EXPECT_EQ(c.cache_dir, "/var/cache/tb");
  auto bad = LoadConfigFile(WriteFile("tb_cache_bad.yaml", "cache: {disk_size: big}\n"), &c);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
}

TEST(ConfigTest, UnknownKeysAndBadValuesAreErrors) {
  Config c;
  auto typo = LoadConfigFile(WriteFile("tb_typo.yaml", "data_dri: /x\n"), &c);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find("unknown key 'data_dri'"), std::string::npos) << typo.message();
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_bad.yaml", "head: {memory_budget: lots}\n"), &c).ok());
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_syntax.yaml", "head: [\n"), &c).ok());
  EXPECT_FALSE(LoadConfigFile("/nonexistent/tb.yaml", &c).ok());
}

TEST(ConfigTest, SplitsListenAddresses) {
  std::string host;
  int port = 0;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:4318", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 4318);
  ASSERT_TRUE(SplitHostPort("[::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  ASSERT_TRUE(SplitHostPort(":9", &host, &port).ok());
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_FALSE(SplitHostPort("localhost", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:99999", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:12x", &host, &port).ok());
}

}  // namespace
}  // namespace tb::server
