//===- steer-run - Run Steerling checkpoints and Steer artifacts ----------===//
//
// A thin main over the runtime library; it links no LLVM or MLIR. Exit
// status: 0 on success, 2 on bad input or a failed run, with a message that
// names the file, field and position; nothing is printed to stdout then.
//
//===----------------------------------------------------------------------===//
#include "steer/backend/backend.h"
#include "steer/cli/commands.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

int runDevices() {
  auto cpu = steer::createCpuBackend();
  steer::DeviceInfo info = cpu->device();
  std::printf("cpu:  %s (%s)\n", info.name.c_str(), info.detail.c_str());
  auto cuda = steer::probeCudaDevices();
  if (!cuda.ok()) {
    std::printf("cuda: not available: %s\n",
                std::string(cuda.status().message()).c_str());
    return 0;
  }
  for (const steer::DeviceInfo &d : *cuda)
    std::printf("cuda: %s (%s, %.1f GiB)\n", d.name.c_str(), d.detail.c_str(),
                d.memoryBytes / 1073741824.0);
  return 0;
}

int finish(const steer::StatusOr<std::string> &result) {
  if (!result.ok()) {
    std::fprintf(stderr, "steer-run: %s\n", result.status().toString().c_str());
    return 2;
  }
  std::fputs(result->c_str(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 2;
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"steer-run: run Steerling checkpoints and Steer artifacts"};
  app.require_subcommand(1);

  CLI::App *devices =
      app.add_subcommand("devices", "list the devices this machine can run on");

  steer::cli::InspectOptions inspect;
  CLI::App *inspectCmd = app.add_subcommand(
      "inspect", "summarise a checkpoint: config, parameters, dtypes, files");
  inspectCmd->add_option("dir", inspect.dir, "checkpoint directory")
      ->required();
  inspectCmd->add_option("--labels", inspect.labels,
                         "concept label file (.csv or .jsonl); default: "
                         "DIR/concept_labels.csv or .jsonl when present");
  inspectCmd->add_flag("--json", inspect.json, "machine-readable output");

  steer::cli::TokenizeOptions tokenize;
  CLI::App *tokenizeCmd = app.add_subcommand(
      "tokenize", "text to cl100k token ids (Steerling layout)");
  tokenizeCmd->add_option("--text", tokenize.text, "the text")->required();
  tokenizeCmd->add_flag("--instruct", tokenize.instruct,
                        "instruct layout (vocab 100284)");
  tokenizeCmd->add_flag("--bos-eos", tokenize.bosEos,
                        "wrap in <|bos|> ... <|endoftext|> like the "
                        "reference's encode default");
  tokenizeCmd->add_flag("--json", tokenize.json, "ids and token texts as JSON");

  steer::cli::DetokenizeOptions detokenize;
  CLI::App *detokenizeCmd =
      app.add_subcommand("detokenize", "token ids to text");
  detokenizeCmd->add_option("--ids", detokenize.ids, "ids, e.g. 9906,1917")
      ->required();
  detokenizeCmd->add_flag("--instruct", detokenize.instruct,
                          "instruct layout (vocab 100284)");
  detokenizeCmd->add_flag("--skip-special", detokenize.skipSpecial,
                          "leave special tokens out of the text");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Help and version exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*devices)
    return runDevices();
  if (*inspectCmd)
    return finish(steer::cli::inspect(inspect));
  if (*tokenizeCmd)
    return finish(steer::cli::tokenize(tokenize));
  if (*detokenizeCmd)
    return finish(steer::cli::detokenize(detokenize));
  return 2;
}
