// The `tessera` command-line tool.
#include "CLI/CLI.hpp"
#include "client/adapters_command.h"
#include "client/bench_serve_command.h"
#include "client/chat_template_command.h"
#include "client/complete_command.h"
#include "client/generate_command.h"
#include "client/health_command.h"
#include "client/init_model_command.h"
#include "client/make_model_command.h"
#include "client/model_info_command.h"
#include "client/plan_command.h"
#include "client/tokenize_command.h"

int main(int argc, char** argv) {
  CLI::App app{"tessera: serve and run LLMs with many LoRA adapters"};
  app.require_subcommand(1);
  int exit_code = 0;
  tessera::AddGenerateCommand(app, &exit_code);
  tessera::AddInitModelCommand(app, &exit_code);
  tessera::AddMakeModelCommand(app, &exit_code);
  tessera::AddTokenizeCommand(app, &exit_code);
  tessera::AddCompleteCommand(app, &exit_code);
  tessera::AddHealthCommand(app, &exit_code);
  tessera::AddModelInfoCommand(app, &exit_code);
  tessera::AddAdaptersCommand(app, &exit_code);
  tessera::AddPlanCommand(app, &exit_code);
  tessera::AddBenchServeCommand(app, &exit_code);
  tessera::AddChatTemplateCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit with 2, as command-line tools conventionally do.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
