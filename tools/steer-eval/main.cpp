//===- steer-eval - Safety evaluation of a checkpoint or an artifact ------===//
//
// Attack success rate per harm category, over-refusal, the harm judge's
// false-positive rate, content accuracy and masked-token NLL, each with a
// bootstrap 95% interval (see steer/cli/eval.h and docs/evaluation.md).
// Exit status: 0 on success, 2 on error (nothing printed to stdout).
//
//===----------------------------------------------------------------------===//
#include "steer/cli/eval.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <unistd.h>

int main(int argc, char **argv) {
  CLI::App app{"steer-eval: attack success rate, over-refusal and fluency of "
               "a checkpoint or a compiled artifact"};
  steer::cli::EvalOptions o;
  app.add_option("eval_set", o.evalSet, "evaluation set (JSONL)")->required();
  app.add_option("--model", o.model, "checkpoint directory or artifact")
      ->required();
  app.add_option("--lexicons", o.lexicons,
                 "harm lexicons, frame and refusal phrases (JSON)")
      ->required();
  app.add_option("--fluency", o.fluency,
                 "held-out texts (JSONL) for masked-token NLL");
  app.add_option("--max-new-tokens", o.maxNewTokens, "tokens per answer")
      ->capture_default_str();
  app.add_option("--stop", o.stop,
                 "answers end at this text (one token); default newline");
  app.add_option("--bootstrap", o.bootstrap, "bootstrap resamples")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "bootstrap and masking seed")
      ->capture_default_str();
  app.add_option("--limit", o.limit, "evaluate the first N rows only");
  app.add_option("--samples", o.samples,
                 "write every answer with its judgements (JSONL)");
  app.add_flag("--json", o.json, "machine-readable report");
  app.add_flag("--markdown", o.markdown, "a markdown table");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  o.progress = ::isatty(2);
  auto report = steer::cli::evaluate(o);
  if (!report.ok()) {
    std::fprintf(stderr, "steer-eval: %s\n", report.status().toString().c_str());
    return 2;
  }
  std::fputs(report->c_str(), stdout);
  return 0;
}
