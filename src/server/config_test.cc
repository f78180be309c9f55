#include "server/config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "objstore/retry_store.h"
#include "server/config_flags.h"
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
                        "limits: {max_spans_per_trace: 10, max_attribute_value_size: 1KiB, max_string_size: 512,\n"
                        "         max_array_values: 64}\n");
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
  EXPECT_EQ(c.limits.max_string_bytes, 512u);
  EXPECT_EQ(c.limits.max_array_values, 64u);
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

TEST(ConfigTest, LoadsTheSpool) {
  Config c;
  EXPECT_EQ(c.spool_dir, "");
  EXPECT_EQ(c.spool_max_bytes, 10ull << 30);
  ASSERT_TRUE(
      LoadConfigFile(WriteFile("tb_spool.yaml", "flush: {spool_dir: /var/spool/tb, spool_max_size: 2GiB}\n"), &c).ok());
  EXPECT_EQ(c.spool_dir, "/var/spool/tb");
  EXPECT_EQ(c.spool_max_bytes, 2ull << 30);
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_spool_bad.yaml", "flush: {spool_max_size: lots}\n"), &c).ok());
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

TEST(ConfigTest, LoadsNestedSettingsOfEveryKind) {
  Config c;
  auto path = WriteFile("tb_kinds.yaml",
                        "log: {format: json, level: debug, slow_query_threshold: 250ms}\n"
                        "http: {cors: {allowed_origins: [https://a.example, https://b.example]}}\n"
                        "health: {probe_interval_seconds: 3, shutdown_delay_seconds: 5}\n"
                        "s3: {path_style: yes}\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.slow_query_threshold, std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("40us"), std::chrono::microseconds(40));
  EXPECT_EQ(*ParseDuration("1m"), std::chrono::seconds(60));
  EXPECT_EQ(c.cors_allowed_origins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.health_probe_interval_seconds, 3u);
  EXPECT_EQ(c.shutdown_delay_seconds, 5u);
  EXPECT_TRUE(c.s3_path_style);
  auto section = LoadConfigFile(WriteFile("tb_section.yaml", "log: json\n"), &c);
  EXPECT_NE(section.message().find("log: expected a mapping"), std::string::npos) << section.message();
  auto leaf = LoadConfigFile(WriteFile("tb_leaf.yaml", "log: {format: {x: 1}}\n"), &c);
  EXPECT_NE(leaf.message().find("log.format: expected a value"), std::string::npos) << leaf.message();
  auto nested_typo = LoadConfigFile(WriteFile("tb_nested_typo.yaml", "log: {formt: json}\n"), &c);
  EXPECT_NE(nested_typo.message().find("unknown key 'log.formt'"), std::string::npos) << nested_typo.message();
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_badbool.yaml", "wal: {sync: maybe}\n"), &c).ok());
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_badcount.yaml", "limits: {max_events_per_span: -1}\n"), &c).ok());
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_baddur.yaml", "log: {slow_query_threshold: 5}\n"), &c).ok());
}

TEST(ConfigTest, RetentionIsADefaultWithPerTenantOverrides) {
  Config c;
  EXPECT_EQ(c.RetentionOf("default"), std::chrono::hours(24 * 14));
  ASSERT_TRUE(LoadConfigFile(WriteFile("tb_retention.yaml",
                                       "retention: {default: 7d, tenants: {default: 30d, team-b: 12h}}\n"
                                       "blocklist: {refresh_interval: 2s}\n"),
                             &c)
                  .ok());
  EXPECT_EQ(c.retention_default, std::chrono::hours(24 * 7));
  EXPECT_EQ(c.RetentionOf("default"), std::chrono::hours(24 * 30));
  EXPECT_EQ(c.RetentionOf("team-b"), std::chrono::hours(12));
  EXPECT_EQ(c.RetentionOf("other"), std::chrono::hours(24 * 7));
  EXPECT_EQ(c.blocklist_refresh_interval, std::chrono::seconds(2));
  std::string env_entry = "TRACEBUCKET_RETENTION_TENANTS=default=1d,x=0";
  char* environ_entries[] = {env_entry.data(), nullptr};
  ASSERT_TRUE(LoadEnvironment(&c, environ_entries).ok());
  EXPECT_EQ(c.RetentionOf("default"), std::chrono::hours(24));
  EXPECT_EQ(c.RetentionOf("x"), std::chrono::seconds(0));
  EXPECT_EQ(c.RetentionOf("team-b"), std::chrono::hours(24 * 7));  // the variable replaces the whole map
  auto bad = LoadConfigFile(WriteFile("tb_retention_bad.yaml", "retention: {tenants: {a: soon}}\n"), &c);
  EXPECT_NE(bad.message().find("retention.tenants"), std::string::npos) << bad.message();
  EXPECT_FALSE(LoadConfigFile(WriteFile("tb_retention_bad2.yaml", "retention: {tenants: [a]}\n"), &c).ok());
  EXPECT_FALSE(ParseDuration("99999999999d").ok());
}

TEST(ConfigTest, TenantLimitsAreDefaultsWithPerTenantOverrides) {
  Config c;
  EXPECT_EQ(c.LimitsOf("x").ingest.ingest_spans_per_second, 0u);
  EXPECT_EQ(c.LimitsOf("x").head_share_percent, 100u);
  ASSERT_TRUE(LoadConfigFile(WriteFile("tb_tenant_limits.yaml",
                                       "limits:\n"
                                       "  ingest_spans_per_second: 5000\n"
                                       "  head_share_percent: 50\n"
                                       "  max_tenants: 20\n"
                                       "  tenants:\n"
                                       "    team-a: {ingest_spans_per_second: 100, ingest_burst_spans: 400}\n"
                                       "    team-b: {head_share_percent: 10, max_spans_per_trace: 7}\n"),
                             &c)
                  .ok());
  EXPECT_EQ(c.max_tenants, 20u);
  const TenantLimits a = c.LimitsOf("team-a");
  EXPECT_EQ(a.ingest.ingest_spans_per_second, 100u);
  EXPECT_EQ(a.ingest.ingest_burst_spans, 400u);
  EXPECT_EQ(a.head_share_percent, 50u);  // the default share
  const TenantLimits b = c.LimitsOf("team-b");
  EXPECT_EQ(b.ingest.ingest_spans_per_second, 5000u);  // the default rate
  EXPECT_EQ(b.head_share_percent, 10u);
  EXPECT_EQ(b.ingest.max_spans_per_trace, 7u);
  EXPECT_EQ(c.LimitsOf("other").ingest.max_spans_per_trace, c.limits.max_spans_per_trace);
  // The environment variable takes the same YAML text, and `config show` prints it back.
  std::string env_entry = "TRACEBUCKET_LIMITS_TENANTS={team-c: {head_share_percent: 25}}";
  char* environ_entries[] = {env_entry.data(), nullptr};
  ASSERT_TRUE(LoadEnvironment(&c, environ_entries).ok());
  EXPECT_EQ(c.LimitsOf("team-c").head_share_percent, 25u);
  EXPECT_EQ(c.LimitsOf("team-a").ingest.ingest_spans_per_second, 5000u);  // the variable replaces the whole map
  EXPECT_NE(FormatConfig(c).find("limits.tenants: {team-c: {head_share_percent: 25}}"), std::string::npos)
      << FormatConfig(c);
  for (const auto& [yaml, why] : std::vector<std::pair<std::string, std::string>>{
           {"limits: {tenants: {a: {head_share_percent: 0}}}", "a.head_share_percent: 0 is not a percentage"},
           {"limits: {tenants: {a: {rate: 1}}}", "a.rate: unknown limit"},
           {"limits: {tenants: {a: {ingest_burst_spans: many}}}", "a.ingest_burst_spans"},
           {"limits: {tenants: {'bad/name': {ingest_burst_spans: 1}}}", "tenant"},
           {"limits: {tenants: [a]}", "expected a mapping"},
           {"limits: {tenants: {[a]: {head_share_percent: 5}}}", "plain name"},
           {"limits: {tenants: {a: {[x]: 5}}}", "unknown limit"}}) {
    Config fresh;
    const Status bad = LoadConfigFile(WriteFile("tb_tenant_limits_bad.yaml", yaml + "\n"), &fresh);
    EXPECT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.message().find("limits.tenants"), std::string::npos) << bad.message();
    EXPECT_NE(bad.message().find(why), std::string::npos) << bad.message();
  }
  Config share;
  share.head_share_percent = 101;
  EXPECT_NE(ValidateConfig(share).message().find("limits.head_share_percent"), std::string::npos);
  Config none;
  none.max_tenants = 0;
  EXPECT_NE(ValidateConfig(none).message().find("limits.max_tenants"), std::string::npos);
}

TEST(ConfigTest, EnvironmentVariablesOverlayTheFile) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteFile("tb_env.yaml", "head: {memory_budget: 64MiB}\nlog: {format: text}\n"), &c).ok());
  std::string budget = "TRACEBUCKET_HEAD_MEMORY_BUDGET=1GiB", format = "TRACEBUCKET_LOG_FORMAT=json",
              origins = "TRACEBUCKET_HTTP_CORS_ALLOWED_ORIGINS=https://a.example, *", other = "HOME=/root";
  char* env[] = {budget.data(), format.data(), origins.data(), other.data(), nullptr};
  ASSERT_TRUE(LoadEnvironment(&c, env).ok());
  EXPECT_EQ(c.head_memory_budget_bytes, 1ull << 30);
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.cors_allowed_origins, (std::vector<std::string>{"https://a.example", "*"}));

  std::string typo = "TRACEBUCKET_HEAD_MEMORY_BUDGT=1GiB";
  char* bad_name[] = {typo.data(), nullptr};
  auto unknown = LoadEnvironment(&c, bad_name);
  EXPECT_NE(unknown.message().find("TRACEBUCKET_HEAD_MEMORY_BUDGT names no setting"), std::string::npos)
      << unknown.message();
  std::string bad = "TRACEBUCKET_WAL_SYNC=perhaps";
  char* bad_value[] = {bad.data(), nullptr};
  auto refused = LoadEnvironment(&c, bad_value);
  EXPECT_NE(refused.message().find("TRACEBUCKET_WAL_SYNC"), std::string::npos) << refused.message();
}

// The flags that serve and the operator commands share: file < environment < flags, switches
// set their value, and a bad flag value is an error naming the flag.
TEST(ConfigTest, FlagsOverlayTheEnvironmentAndTheFile) {
  const std::string file = WriteFile("tb_flags.yaml", "storage: s3://from-file/x\ns3: {region: file-region}\n");
  std::string region = "TRACEBUCKET_S3_REGION=env-region", endpoint = "TRACEBUCKET_S3_ENDPOINT=http://env:7480";
  char* env[] = {region.data(), endpoint.data(), nullptr};
  const auto resolve = [&](std::vector<std::string> args) -> Result<Config> {
    CLI::App app;
    CLI::App* command = app.add_subcommand("verify");
    const ConfigFlags flags(command, "Configuration");
    std::vector<const char*> argv{"tracebucket", "verify"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return Status::InvalidArgument(e.what());
    }
    return flags.Resolve(env);
  };
  auto c = resolve({"--config", file, "--s3-region", "flag-region", "--no-background-flush", "--s3-path-style"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->storage, "s3://from-file/x");
  EXPECT_EQ(c->s3_endpoint, "http://env:7480");
  EXPECT_EQ(c->s3_region, "flag-region");
  EXPECT_FALSE(c->background_flush);
  EXPECT_TRUE(c->s3_path_style);
  c = resolve({"--config", file});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->s3_region, "env-region");
  EXPECT_TRUE(c->background_flush);
  const auto bad = resolve({"--cache-memory-size", "lots"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--cache-memory-size"), std::string::npos) << bad.status().ToString();
}

// What a setting's own parser cannot see is refused by ValidateConfig, naming the key.
TEST(ConfigTest, ValidationNamesTheKey) {
  EXPECT_TRUE(ValidateConfig(Config{}).ok());
  const auto message = [](void (*change)(Config&)) {
    Config c;
    change(c);
    return ValidateConfig(c).message();
  };
  EXPECT_NE(message([](Config& c) { c.log_level = "loud"; }).find("log.level: 'loud'"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.log_format = "xml"; }).find("log.format: 'xml'"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.grpc_listen = "nowhere"; }).find("grpc_listen: 'nowhere'"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.http_listen = "a:70000"; }).find("http_listen: 'a:70000'"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.storage = "ftp://x"; }).find("storage: 'ftp://x'"), std::string::npos);
  EXPECT_NE(message([](Config& c) {
              c.head_admission_wait = std::chrono::minutes(2);
            }).find("head.admission_wait: '120s' is more than 60s"),
            std::string::npos);
  EXPECT_NE(message([](Config& c) { c.storage = "s3:///x"; }).find("names no bucket"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.storage = "gs://"; }).find("names no bucket"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.storage = "azblob:///p"; }).find("names no container"), std::string::npos);
  EXPECT_NE(message([](Config& c) { c.storage = "azure://c"; }).find("gs:// or azblob://"), std::string::npos);
  Config azure;
  azure.storage = "azblob://traces/tb";
  azure.azure_endpoint = "http://127.0.0.1:10000/devstoreaccount1";
  EXPECT_TRUE(ValidateConfig(azure).ok());
  Config plugin;
  plugin.http_listen.clear();  // no HTTP door
  plugin.grpc_listen = "[::1]:0";
  EXPECT_TRUE(ValidateConfig(plugin).ok());
}

TEST(ConfigTest, EverySettingRoundTripsThroughItsText) {
  const Config defaults;
  for (const Setting& s : Settings()) {
    Config c;
    ASSERT_TRUE(s.set(c, s.show(defaults)).ok()) << s.key << " = " << s.show(defaults);
    EXPECT_EQ(FormatConfig(c), FormatConfig(defaults)) << s.key;
  }
  EXPECT_NE(FormatConfig(defaults).find("head.memory_budget: 320MiB\n"), std::string::npos);
}

// docs/configuration.md is the operator's reference: every setting the parser knows must have a
// row there with its key, flag, environment variable and default, and the doc must name no key
// the parser does not know.
TEST(ConfigTest, TheConfigurationReferenceListsEverySetting) {
  std::ifstream file(TB_CONFIGURATION_DOC);
  ASSERT_TRUE(file) << "cannot read " << TB_CONFIGURATION_DOC;
  std::map<std::string, std::string> rows;  // key → its table row
  std::string line;
  while (std::getline(file, line)) {
    if (!line.starts_with("| `")) continue;
    const size_t end = line.find('`', 3);
    rows[line.substr(3, end - 3)] = line;
  }
  const Config defaults;
  std::set<std::string> known;
  for (const Setting& s : Settings()) {
    const std::string key(s.key);
    known.insert(key);
    auto row = rows.find(key);
    ASSERT_NE(row, rows.end()) << key << " is missing from docs/configuration.md";
    const std::string& text = row->second;
    EXPECT_NE(text.find("`" + EnvironmentVariable(s) + "`"), std::string::npos) << key << ": environment variable";
    if (!s.flag.empty()) {
      EXPECT_NE(text.find("`" + std::string(s.flag) + "`"), std::string::npos) << key << ": flag";
    }
    const std::string shown = s.show(defaults);
    const std::string default_cell = shown.empty() ? "(empty)" : "`" + shown + "`";
    EXPECT_NE(text.find(default_cell), std::string::npos) << key << ": default " << default_cell;
  }
  for (const auto& [key, row] : rows) EXPECT_TRUE(known.contains(key)) << key << " is documented but not a setting";
}

TEST(ConfigTest, TenancyAndTokensFromYamlAndTheEnvironment) {
  const std::string hex(64, 'a');
  Config c;
  auto path = WriteFile("tb_auth.yaml",
                        "tenancy: {enabled: true, header: x-org, tenants: [team-a, team-b]}\n"
                        "auth:\n"
                        "  tokens:\n"
                        "    - token_sha256: \"" +
                            hex +
                            "\"\n"
                            "      tenants: [team-a]\n"
                            "      roles: [write, read]\n"
                            "    - token_file: /etc/tb/admin.token\n"
                            "      roles: [admin]\n");
  ASSERT_TRUE(LoadConfigFile(path, &c).ok());
  EXPECT_TRUE(c.tenancy_enabled);
  EXPECT_EQ(c.tenancy_header, "x-org");
  EXPECT_EQ(c.tenancy_tenants, (std::vector<std::string>{"team-a", "team-b"}));
  ASSERT_EQ(c.auth_tokens.size(), 2u);
  EXPECT_EQ(c.auth_tokens[0].sha256_hex, hex);
  EXPECT_EQ(c.auth_tokens[0].tenants, std::vector<std::string>{"team-a"});
  EXPECT_EQ(c.auth_tokens[0].roles, (std::vector<std::string>{"write", "read"}));
  EXPECT_EQ(c.auth_tokens[1].file, "/etc/tb/admin.token");
  EXPECT_TRUE(ValidateConfig(c).ok());
  // The effective configuration reads back the same.
  Config again;
  ASSERT_TRUE(LoadConfigFile(WriteFile("tb_auth_again.yaml", FormatConfig(c)), &again).ok());
  EXPECT_EQ(FormatConfig(again), FormatConfig(c));

  std::string env = "TRACEBUCKET_AUTH_TOKENS=[{token_file: /t, roles: [read]}]";
  char* entries[] = {env.data(), nullptr};
  Config from_env;
  ASSERT_TRUE(LoadEnvironment(&from_env, entries).ok());
  ASSERT_EQ(from_env.auth_tokens.size(), 1u);
  EXPECT_EQ(from_env.auth_tokens[0].roles, std::vector<std::string>{"read"});

  for (const auto& [yaml, mentions] : std::vector<std::pair<std::string, std::string>>{
           {"auth: {tokens: [{roles: [read]}]}", "exactly one of token_sha256 and token_file"},
           {"auth: {tokens: [{token_sha256: abc, roles: [read]}]}", "64 hex digits"},
           {"auth: {tokens: [{token_file: /t, roles: [root]}]}", "'root' is not write, read or admin"},
           {"auth: {tokens: [{token_file: /t}]}", "at least one of"},
           {"auth: {tokens: [{token_file: /t, roles: [read], tennants: [a]}]}", "unknown key 'tennants'"},
           {"auth: {tokens: [{token_file: /t, roles: [read], tenants: [../x]}]}", "not a tenant name"},
       }) {
    Config bad;
    const Status s = LoadConfigFile(WriteFile("tb_auth_bad.yaml", yaml), &bad);
    EXPECT_NE(s.message().find("auth.tokens"), std::string::npos) << yaml << ": " << s.ToString();
    EXPECT_NE(s.message().find(mentions), std::string::npos) << yaml << ": " << s.ToString();
  }
  // Token tenants without tenancy, and a header gRPC cannot carry, are refused by the check.
  Config no_tenancy;
  no_tenancy.auth_tokens = {{hex, "", {"team-a"}, {"read"}}};
  EXPECT_NE(ValidateConfig(no_tenancy).message().find("needs tenancy.enabled"), std::string::npos);
  Config bad_header;
  bad_header.tenancy_header = "X Tenant";
  EXPECT_NE(ValidateConfig(bad_header).message().find("tenancy.header"), std::string::npos);
}

TEST(ConfigTest, TlsFilesComeInPairsAndTheClientCaNeedsThem) {
  Config c;
  ASSERT_TRUE(LoadConfigFile(WriteFile("tb_tls.yaml",
                                       "tls: {cert_file: /etc/tb/tls.crt, key_file: /etc/tb/tls.key, "
                                       "client_ca_file: /etc/tb/ca.crt}\n"),
                             &c)
                  .ok());
  EXPECT_EQ(c.tls_cert_file, "/etc/tb/tls.crt");
  EXPECT_EQ(c.tls_key_file, "/etc/tb/tls.key");
  EXPECT_EQ(c.tls_client_ca_file, "/etc/tb/ca.crt");
  EXPECT_TRUE(ValidateConfig(c).ok());
  Config no_key = c;
  no_key.tls_key_file.clear();
  EXPECT_NE(ValidateConfig(no_key).message().find("give both or neither"), std::string::npos);
  Config no_cert;
  no_cert.tls_key_file = "/k";
  EXPECT_NE(ValidateConfig(no_cert).message().find("give both or neither"), std::string::npos);
  Config ca_alone;
  ca_alone.tls_client_ca_file = "/ca";
  EXPECT_NE(ValidateConfig(ca_alone).message().find("tls.client_ca_file: needs tls.cert_file"), std::string::npos);
}

// Plain http:// to S3 only on loopback unless s3.allow_insecure; https:// and other storage always.
TEST(ConfigTest, PlainHttpS3EndpointsOnlyOnLoopback) {
  const auto check = [](const std::string& endpoint, bool allow_insecure = false) {
    Config c;
    c.storage = "s3://bucket/prefix";
    c.s3_endpoint = endpoint;
    c.s3_allow_insecure = allow_insecure;
    return ValidateConfig(c);
  };
  for (const char* loopback : {"http://127.0.0.1:7480", "http://127.8.9.10", "http://localhost:9000/base",
                               "http://LOCALHOST", "http://[::1]:7480", "https://s3.example.com", ""})
    EXPECT_TRUE(check(loopback).ok()) << loopback;
  for (const char* remote : {"http://10.0.0.5:9000", "http://minio.internal:9000", "http://128.0.0.1",
                             "http://[::2]:7480", "http://localhost.example.com", "http://127.0.0.1.example.com"}) {
    const Status s = check(remote);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << remote;
    EXPECT_NE(s.message().find("s3.allow_insecure"), std::string::npos) << remote << ": " << s.message();
    EXPECT_TRUE(check(remote, /*allow_insecure=*/true).ok()) << remote;
  }
  // OpenStorage refuses it too, before any request, for every command that opens the bucket.
  Config c;
  c.storage = "s3://bucket/prefix";
  c.s3_endpoint = "http://10.0.0.5:9000";
  auto store = OpenStorage(c);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("s3.allow_insecure"), std::string::npos) << store.status().ToString();
  // The flag and YAML forms.
  Config yaml;
  ASSERT_TRUE(
      LoadConfigFile(WriteFile("tb_s3_tls.yaml", "s3: {ca_file: /etc/tb/s3-ca.pem, allow_insecure: true}\n"), &yaml)
          .ok());
  EXPECT_EQ(yaml.s3_ca_file, "/etc/tb/s3-ca.pem");
  EXPECT_TRUE(yaml.s3_allow_insecure);
}

// A TCP port of 127.0.0.1 on which nothing listens: every connection is refused.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// Sets an environment variable for the life of the object, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// storage_retry.* is the policy of every store OpenStorage opens: a file:// store is wrapped in a
// RetryingStore with it, and each bucket store (whose Open asks the service once) gives up on a
// refused connection after exactly its attempts.
TEST(ConfigTest, EveryStoreRetriesUnderTheStorageRetryPolicy) {
  Config c;
  c.storage_retry_max_attempts = 2;
  c.storage_retry_base_delay = std::chrono::milliseconds(1);
  c.storage_retry_max_delay = std::chrono::milliseconds(3);
  const objstore::RetryPolicy policy = StorageRetryPolicy(c);
  EXPECT_EQ(policy.max_attempts, 2);
  EXPECT_EQ(policy.base_delay, std::chrono::milliseconds(1));
  EXPECT_EQ(policy.max_delay, std::chrono::milliseconds(3));

  c.storage = "file://" + ::testing::TempDir() + "tb_storage_retry";
  auto local = OpenStorage(c);
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  const auto* retrying = dynamic_cast<const objstore::RetryingStore*>(local->get());
  ASSERT_NE(retrying, nullptr) << "file:// is not under the retry policy";
  EXPECT_EQ(retrying->policy().max_attempts, 2);
  EXPECT_EQ(retrying->policy().base_delay, std::chrono::milliseconds(1));

  const std::string endpoint = "127.0.0.1:" + std::to_string(ClosedPort());
  c.storage = "s3://bucket";
  c.s3_endpoint = "http://" + endpoint;
  const ScopedEnv access_key("AWS_ACCESS_KEY_ID", "AKTEST"), secret_key("AWS_SECRET_ACCESS_KEY", "secret");
  const ScopedEnv gcs_endpoint("STORAGE_EMULATOR_HOST", endpoint);
  const ScopedEnv azure(
      "AZURE_STORAGE_CONNECTION_STRING",
      "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://" + endpoint +
          "/devstoreaccount1");
  for (const char* storage : {"s3://bucket", "gs://bucket", "azblob://container"}) {
    c.storage = storage;
    auto store = OpenStorage(c);
    ASSERT_FALSE(store.ok()) << storage;
    EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << storage << ": " << store.status().ToString();
    EXPECT_NE(store.status().message().find("(after 2 attempts)"), std::string::npos)
        << storage << ": " << store.status().ToString();
  }
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
