// tracebucket config check FILE: validates a configuration file and prints the configuration
// `serve --config FILE` would run with (defaults, the file, then TRACEBUCKET_* variables) as
// server::FormatConfig writes it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/operator_commands.h"
#include "cli/output.h"
#include "objstore/azure_store.h"
#include "objstore/gcs_auth.h"
#include "server/config.h"

namespace tb::cli {
namespace {

// "AKIA****" for a set variable: enough to tell which key is in use, never the secret itself.
std::string MaskedEnvironment(const char* name, size_t shown) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == 0) return std::string(name) + " not set";
  const std::string text = value;
  return std::string(name) + "=" + text.substr(0, std::min(shown, text.size() / 4)) + "****";
}

// Where a gs:// store would take its credentials from, as the store itself chooses
// (objstore::gcs::TokenSourceFromEnvironment): names and paths only, never a secret. A key file
// that cannot be used is reported here already.
std::string GcsCredentialsSource() {
  Result<std::unique_ptr<objstore::gcs::TokenSource>> source = objstore::gcs::TokenSourceFromEnvironment();
  if (!source.ok()) return "unusable: " + source.status().message();
  if (*source == nullptr) return "none (STORAGE_EMULATOR_HOST is set: an emulator)";
  return (*source)->Describe();
}

// Where an azblob:// store would take its credentials from (objstore::AzureOptionsFromEnvironment):
// names only, never a secret.
std::string AzureCredentialsSource() {
  Result<objstore::AzureOptions> options = objstore::AzureOptionsFromEnvironment("", "");
  if (!options.ok()) return "unusable: " + options.status().message();
  return options->credentials_source;
}

int RunConfigCheck(const std::string& file) {
  server::Config config;
  Status s = server::LoadConfigFile(file, &config);
  if (s.ok()) s = server::LoadEnvironment(&config, environ);
  if (s.ok()) s = server::ValidateConfig(config).WithContext("config " + file);
  if (!s.ok()) return ReportError("config check", s, 1);
  std::fputs(server::FormatConfig(config).c_str(), stdout);
  if (config.storage.starts_with("s3://"))
    std::printf("# s3 credentials from the environment: %s, %s\n", MaskedEnvironment("AWS_ACCESS_KEY_ID", 4).c_str(),
                MaskedEnvironment("AWS_SECRET_ACCESS_KEY", 0).c_str());
  if (config.storage.starts_with("gs://")) std::printf("# gcs credentials: %s\n", GcsCredentialsSource().c_str());
  if (config.storage.starts_with("azblob://"))
    std::printf("# azure credentials: %s\n", AzureCredentialsSource().c_str());
  std::fprintf(stderr, "config check: %s is valid\n", file.c_str());
  return 0;
}

}  // namespace

Command AddConfigCommand(CLI::App& parent) {
  CLI::App* config = parent.add_subcommand("config", "Configuration tools");
  config->require_subcommand(1);
  CLI::App* check = config->add_subcommand(
      "check", "Validate a YAML configuration and print the effective one (every setting, defaults filled in)");
  auto file = std::make_shared<std::string>();
  check->add_option("FILE", *file, "YAML configuration file, as `serve --config` takes")
      ->required()
      ->check(CLI::ExistingFile);
  check->footer(
      "The effective configuration is the defaults, then FILE, then TRACEBUCKET_* environment variables, one\n"
      "'key: value' line per setting (docs/configuration.md). S3 credentials come from AWS_* variables and are\n"
      "shown masked; for gs:// and azblob:// storage a line names where GCS or Azure credentials would come from.\n"
      "Exit status: 0 valid (the effective configuration on stdout), 1 invalid (the reason, naming the key, on\n"
      "stderr).");
  return {config, [file] { return RunConfigCheck(*file); }};
}

}  // namespace tb::cli
