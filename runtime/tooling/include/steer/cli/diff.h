//===- diff.h - Semantic diff of two compiled artifacts ---------*- C++ -*-===//
//
// What steer-diff reports: rules added, removed or changed (by name), with
// concept labels; strength, schedule, layer and guard changes; the cosine
// between injection directions; the vocabulary tokens whose folded bias
// changed most; the largest changes in target profiles. The output is
// deterministic so it can be reviewed and stored.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/artifact/artifact.h"

#include <string>

namespace steer::cli {

enum class DiffFormat { kText, kMarkdown, kJson };

struct DiffResult {
  bool equal = true;
  std::string report;
};

/// Compares two artifacts. `tokenizer` decodes vocabulary tokens (cl100k
/// base layout) in the report.
StatusOr<DiffResult> diffArtifacts(const Artifact &a, const Artifact &b,
                                   DiffFormat format);

/// A readable, deterministic rendering of one artifact (for git's textconv).
StatusOr<std::string> describeArtifact(const Artifact &a);

} // namespace steer::cli
