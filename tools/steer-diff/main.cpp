//===- steer-diff - Semantic diff of two compiled Steer artifacts ---------===//
//
// Exit status: 0 when the artifacts are semantically equal, 1 when they
// differ, 2 on error. `--textconv FILE` prints one artifact readably, for
// git's textconv (docs/review.md).
//
//===----------------------------------------------------------------------===//
#include "steer/cli/diff.h"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char **argv) {
  CLI::App app{"steer-diff: what changed between two compiled policies"};
  std::vector<std::string> files;
  bool json = false, markdown = false, textconv = false;
  app.add_option("artifacts", files, "A B (or one file with --textconv)")
      ->required();
  auto *jsonFlag = app.add_flag("--json", json, "machine-readable output");
  auto *mdFlag = app.add_flag("--markdown", markdown, "a table for code review")
                     ->excludes(jsonFlag);
  app.add_flag("--textconv", textconv,
               "print one artifact readably (git diff textconv)")
      ->excludes(jsonFlag)
      ->excludes(mdFlag);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto fail = [](const steer::Status &s) {
    std::fprintf(stderr, "steer-diff: %s\n", s.toString().c_str());
    return 2;
  };
  if (textconv) {
    if (files.size() != 1)
      return fail(steer::makeError(steer::StatusCode::kInvalidArgument,
                                   "--textconv takes one artifact"));
    auto a = steer::Artifact::open(files[0]);
    if (!a.ok())
      return fail(a.status());
    auto text = steer::cli::describeArtifact(**a);
    if (!text.ok())
      return fail(text.status());
    std::fputs(text->c_str(), stdout);
    return 0;
  }
  if (files.size() != 2)
    return fail(steer::makeError(steer::StatusCode::kInvalidArgument,
                                 "give two artifacts: steer-diff A B"));
  auto a = steer::Artifact::open(files[0]);
  if (!a.ok())
    return fail(a.status());
  auto b = steer::Artifact::open(files[1]);
  if (!b.ok())
    return fail(b.status());
  auto d =
      steer::cli::diffArtifacts(**a, **b,
                                json       ? steer::cli::DiffFormat::kJson
                                : markdown ? steer::cli::DiffFormat::kMarkdown
                                           : steer::cli::DiffFormat::kText);
  if (!d.ok())
    return fail(d.status());
  std::fputs(d->report.c_str(), stdout);
  return d->equal ? 0 : 1;
}
