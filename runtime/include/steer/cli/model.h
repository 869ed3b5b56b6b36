//===- model.h - Opening what a tool is pointed at ---------------*- C++ -*-===//
//
// The runtime tools accept a checkpoint directory or a compiled artifact
// wherever they take a model. This opens either: a self-contained artifact
// runs on its own memory-mapped weights, a thin one on the checkpoint it
// names (verified against the recorded hashes).
//
//===----------------------------------------------------------------------===//

#pragma once

#include "steer/artifact/artifact.h"
#include "steer/exec/engine.h"
#include "steer/model/checkpoint.h"
#include "steer/text/tokenizer.h"

#include <memory>
#include <span>
#include <string>

namespace steer::cli {

struct LoadedModel {
  std::string path;
  std::unique_ptr<Artifact> artifact; // when the path is an artifact
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Tokenizer> tokenizer;
};

/// Opens a checkpoint directory or an artifact file. With `requireSignature`
/// (a verify-key file), only an artifact signed by that key opens.
StatusOr<LoadedModel> loadModel(const std::string &path,
                                const std::string &requireSignature = "");

/// Text of token ids, lossy for invalid UTF-8; ids outside the tokenizer's
/// vocabulary (small test vocabularies are not cl100k) print as <id>.
std::string decodeTokens(const Tokenizer &tokenizer,
                         std::span<const int64_t> ids);

} // namespace steer::cli
