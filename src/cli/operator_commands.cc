#include "cli/operator_commands.h"

namespace tb::cli {

OperatorCommands::OperatorCommands(CLI::App& app)
    : commands_{AddBlocksCommand(app), AddInspectCommand(app), AddVerifyCommand(app), AddExportCommand(app),
                AddImportCommand(app), AddConfigCommand(app),  AddVersionCommand(app)} {}

std::optional<int> OperatorCommands::Run() const {
  for (const Command& c : commands_)
    if (c.app->parsed()) return c.run();
  return std::nullopt;
}

}  // namespace tb::cli
