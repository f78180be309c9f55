#include "server/config_flags.h"

namespace tb::server {

ConfigFlags::ConfigFlags(CLI::App* command, const std::string& group) : command_(command) {
  CLI::Option* file =
      command
          ->add_option("--config", config_file_, "YAML configuration file; environment variables and flags override it")
          ->check(CLI::ExistingFile);
  if (!group.empty()) file->group(group);
  const Config defaults;
  for (const Setting& setting : Settings()) {
    if (setting.flag.empty()) continue;
    const std::string help =
        std::string(setting.help) + " [" + std::string(setting.key) + ", " + EnvironmentVariable(setting) + "]";
    CLI::Option* option = setting.switch_sets.empty()
                              ? command->add_option(std::string(setting.flag), flag_text_[setting.flag], help)
                                    ->default_str(setting.show(defaults))
                              : command->add_flag(std::string(setting.flag), help);
    if (!group.empty()) option->group(group);
  }
}

Result<Config> ConfigFlags::Resolve(char** environ_entries) const {
  Config config;
  if (!config_file_.empty()) TB_RETURN_IF_ERROR(LoadConfigFile(config_file_, &config));
  TB_RETURN_IF_ERROR(LoadEnvironment(&config, environ_entries));
  for (const Setting& setting : Settings()) {
    if (setting.flag.empty() || command_->count(std::string(setting.flag)) == 0) continue;
    const std::string text =
        setting.switch_sets.empty() ? flag_text_.at(setting.flag) : std::string(setting.switch_sets);
    TB_RETURN_IF_ERROR(setting.set(config, text).WithContext(std::string(setting.flag)));
  }
  return config;
}

}  // namespace tb::server
