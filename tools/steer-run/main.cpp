//===- steer-run - Run Steerling checkpoints and Steer artifacts ----------===//
//
// A thin main over the runtime library; it links no LLVM or MLIR. Exit
// status: 0 on success, 2 on bad input or a failed run, with a message that
// names the file, field and position; nothing is printed to stdout then.
//
//===----------------------------------------------------------------------===//
#include "steer/artifact/artifact.h"
#include "steer/hal/device.h"
#include "steer/text/utf8.h"
#include "steer/cli/commands.h"
#include "../common/flags.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <unistd.h>

namespace {

int runDevices() {
  auto cpu = steer::hal::createCpuDevice();
  if (!cpu.ok()) {
    std::fprintf(stderr, "steer-run: %s\n",
                 cpu.status().toString().c_str());
    return 1;
  }
  steer::hal::DeviceInfo info = (*cpu)->info();
  std::printf("cpu:  %s (%s)\n", info.name.c_str(), info.detail.c_str());
  auto cuda = steer::hal::probeCudaDevices();
  if (!cuda.ok()) {
    std::printf("cuda: not available: %s\n",
                std::string(cuda.status().message()).c_str());
    return 0;
  }
  for (const steer::hal::DeviceInfo &d : *cuda)
    std::printf("cuda: %s (%s, %.1f GiB)\n", d.name.c_str(), d.detail.c_str(),
                d.memoryBytes / 1073741824.0);
  return 0;
}

int finish(const steer::StatusOr<std::string> &result) {
  if (!result.ok()) {
    std::fprintf(stderr, "steer-run: %s\n", result.status().toString().c_str());
    return 2;
  }
  // Generated text is data: on a terminal, a control character a model
  // produced (an ANSI escape) is shown escaped instead of acted on; pipes
  // and files get the bytes as they are.
  const std::string &text = *result;
  std::fputs(isatty(STDOUT_FILENO) ? steer::displayText(text).c_str()
                                   : text.c_str(),
             stdout);
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

  // Commands that run a model share the input and generation options.
  auto addInput = [](CLI::App *cmd, steer::cli::ModelInput &in) {
    cmd->add_option("model", in.dir, "checkpoint directory or compiled artifact (.steer)")->required();
    cmd->add_option("--require-signature", in.requireSignature,
                    "verify-key file (steer-run keygen): run only an "
                    "artifact signed with its key");
    auto *prompt = cmd->add_option("--prompt", in.prompt, "prompt text");
    auto *ids =
        cmd->add_option("--ids", in.ids, "prompt token ids, e.g. 1,2,3");
    prompt->excludes(ids);
  };
  auto addGeneration = [&](CLI::App *cmd, steer::cli::GenerateOptions &g) {
    addInput(cmd, g.input);
    cmd->add_option("--max-new-tokens", g.maxNewTokens,
                    "tokens to generate (a multiple of diff_block_size)")
        ->capture_default_str();
    cmd->add_option("--steps", g.steps,
                    "denoising steps (default: max-new-tokens)");
    auto *greedy = cmd->add_flag("--greedy", g.greedy, "argmax decoding");
    auto *temp = cmd->add_option("--temperature", g.temperature,
                                 "sampling temperature (top-p sampling)");
    auto *topp = cmd->add_option("--top-p", g.topP, "nucleus mass");
    greedy->excludes(temp)->excludes(topp);
    cmd->add_option("--seed", g.seed, "random seed")
        ->check(steer::tools::unsigned64());
    cmd->add_option("--repetition-penalty", g.repetitionPenalty,
                    "penalty on tokens already in the sequence")
        ->capture_default_str();
    cmd->add_option("--cfg-scale", g.cfgScale,
                    "classifier-free guidance scale (0: off)");
    cmd->add_option("--stop-tokens", g.stopTokens,
                    "ids that end generation after their block");
    cmd->add_option("--stop", g.stopText,
                    "text that ends the output (repeatable; \\n, \\t "
                    "escapes): generation stops after the block holding it "
                    "and the text is cut before it");
    cmd->add_flag("--no-cache", g.noCache,
                  "recompute every row at every step (for comparison)");
    cmd->add_flag("--json", g.json, "machine-readable output with timings");
  };

  steer::cli::GenerateOptions generate;
  CLI::App *generateCmd = app.add_subcommand(
      "generate", "generate text by block-diffusion unmasking; without "
                  "sampling flags, the reference's entropy-adaptive sampler");
  addGeneration(generateCmd, generate);

  steer::cli::ExplainOptions explain;
  CLI::App *explainCmd = app.add_subcommand(
      "explain", "generate and attribute each chunk to its top concepts");
  addGeneration(explainCmd, explain.generation);
  explainCmd->add_option("--labels", explain.labels, "concept label file");
  explainCmd->add_option("--top", explain.top, "concepts per chunk")
      ->capture_default_str();

  steer::cli::AttributeInputOptions attrIn;
  CLI::App *attrInCmd = app.add_subcommand(
      "attribute-input",
      "generate and attribute each generated token to the prompt tokens "
      "(integrated gradients on the snapshot it was committed from)");
  addGeneration(attrInCmd, attrIn.generation);
  attrInCmd->add_option("--ig-steps", attrIn.igSteps,
                        "Riemann steps: 32 for faithful magnitudes, 1 "
                        "(input x gradient) for rankings")
      ->capture_default_str();
  attrInCmd->add_option("--baseline", attrIn.baseline,
                        "mask (the reference's), pad or zero")
      ->capture_default_str();
  attrInCmd->add_option("--top", attrIn.top, "prompt tokens listed per chunk")
      ->capture_default_str();
  attrInCmd->add_flag("--per-token", attrIn.perToken,
                      "also rank the prompt for every generated token");

  steer::cli::ForwardOptions forward;
  CLI::App *forwardCmd = app.add_subcommand(
      "forward", "one forward pass, every output dumped to safetensors");
  addInput(forwardCmd, forward.input);
  forwardCmd->add_option("--dump", forward.dump, "output .safetensors file")
      ->required();
  forwardCmd->add_option("--intervene", forward.intervene,
                         "also run with known-weight overrides ID:VALUE,...");

  steer::cli::EmbedOptions embed;
  CLI::App *embedCmd =
      app.add_subcommand("embed", "attribution embeddings of a text");
  addInput(embedCmd, embed.input);
  embedCmd->add_option("--type", embed.type, "hidden, composed, known, unknown")
      ->capture_default_str();
  embedCmd->add_option("--pooling", embed.pooling, "mean, first, last, none")
      ->capture_default_str();
  embedCmd->add_flag("--json", embed.json, "JSON output");

  std::string keyPrefix;
  CLI::App *keygenCmd = app.add_subcommand(
      "keygen", "make an Ed25519 key pair for signing artifacts: PREFIX.key "
                "(secret, for steerc --sign-key) and PREFIX.pub (for "
                "--require-signature)");
  keygenCmd->add_option("prefix", keyPrefix, "output path prefix")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // Help and version exit 0; every usage error is bad input: exit 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (*devices)
    return runDevices();
  if (*keygenCmd) {
    steer::Status s = steer::generateSigningKey(keyPrefix);
    if (!s.ok()) {
      std::fprintf(stderr, "steer-run: %s\n", s.toString().c_str());
      return 2;
    }
    std::printf("wrote %s.key (secret: keep it with the compiler) and "
                "%s.pub (give it to deployments)\n",
                keyPrefix.c_str(), keyPrefix.c_str());
    return 0;
  }
  if (*inspectCmd)
    return finish(steer::cli::inspect(inspect));
  if (*tokenizeCmd)
    return finish(steer::cli::tokenize(tokenize));
  if (*detokenizeCmd)
    return finish(steer::cli::detokenize(detokenize));
  const bool terminal = isatty(STDERR_FILENO);
  if (*generateCmd) {
    generate.progress = terminal;
    return finish(steer::cli::generate(generate));
  }
  if (*explainCmd) {
    explain.generation.progress = terminal;
    return finish(steer::cli::explain(explain));
  }
  if (*attrInCmd) {
    attrIn.generation.progress = terminal;
    return finish(steer::cli::attributeInput(attrIn));
  }
  if (*forwardCmd)
    return finish(steer::cli::forward(forward));
  if (*embedCmd)
    return finish(steer::cli::embed(embed));
  return 2;
}
