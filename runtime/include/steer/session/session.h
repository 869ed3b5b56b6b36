//===- session.h - One way in: open a model, run it with its program -*- C++ -*-===//
//
// Every tool (steer-run, steer-eval, the coming steer-serve) opens what it
// runs through a Session: a checkpoint directory or a compiled artifact (a
// self-contained one on its own memory-mapped weights, a thin one on the
// checkpoint it names, verified against the recorded digests), with the
// artifact's steering program bound to the engine. The operations apply the
// program: generate() evaluates its guards in the prompt's prefill;
// steering() gives one request's steering to callers that run single
// forwards (perplexity, attribution).
//
// Lifetime and threads: a Session is immutable once open; its operations
// are const and may run concurrently (each generation owns its caches).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/artifact/artifact.h"
#include "steer/exec/engine.h"
#include "steer/exec/generate.h"
#include "steer/exec/program.h"
#include "steer/model/checkpoint.h"
#include "steer/text/tokenizer.h"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace steer {

class Session;

struct SessionOptions {
  /// A verify-key file (steer-run keygen): only an artifact signed by that
  /// key opens; a checkpoint directory is refused.
  std::string requireSignature;
  /// Sessions already open: an artifact compiled against the checkpoint
  /// one of them runs (the same files, by the digests the artifact
  /// records, and the same config) runs on that session's weights and
  /// engine instead of loading its own (steer-serve: the policies of one
  /// checkpoint share its memory and its batch). The sessions must outlive
  /// the new one's use; they keep what they share alive.
  std::vector<const Session *> shareWith;
};

/// A generation and what the program did to it.
struct SessionGeneration {
  GenerationResult result;
  AppliedPolicy policy; // no rules fired for a checkpoint
};

class Session {
public:
  static StatusOr<std::unique_ptr<Session>>
  open(const std::string &path, const SessionOptions &options = {});

  const std::string &path() const { return path_; }
  const Engine &engine() const { return *engine_; }
  const ModelConfig &config() const { return engine_->config(); }
  const Tokenizer &tokenizer() const { return *tokenizer_; }
  const Checkpoint &checkpoint() const { return *checkpoint_; }
  /// The artifact and its bound program; null for a checkpoint.
  const Artifact *artifact() const { return artifact_.get(); }
  const SteeringProgram *program() const {
    return program_ ? &*program_ : nullptr;
  }

  /// Text to token ids, refused (with the reason) when the model's
  /// vocabulary is smaller than the tokenizer's.
  StatusOr<std::vector<int64_t>> encode(std::string_view text) const;
  /// Token ids to text, lossy for invalid UTF-8; ids outside the
  /// tokenizer's vocabulary print as <id>.
  std::string decode(std::span<const int64_t> ids) const;

  /// Sets up `request` to run under the program (nothing for a
  /// checkpoint), for callers that drive generation themselves (a
  /// GenerationBatch); `applied` receives what the program did and must
  /// outlive the generation.
  Status prepare(GenerateRequest &request, AppliedPolicy &applied) const;

  /// Generates under the program (none for a checkpoint). `request.steering`
  /// must be null: steering comes from the artifact.
  StatusOr<SessionGeneration> generate(std::span<const int64_t> prompt,
                                       GenerateRequest request) const;

  /// The steering the program gives a request with this prompt (guards on a
  /// forward of the prompt), for single forwards; empty for a checkpoint.
  StatusOr<AppliedPolicy> steering(std::span<const int64_t> prompt) const;

private:
  Session() = default;

  /// The digests of the checkpoint this session runs: the files an
  /// artifact records, or those of a checkpoint directory (hashed).
  StatusOr<std::vector<std::pair<std::string, std::string>>>
  checkpointDigests() const;

  std::string path_;
  std::shared_ptr<Artifact> artifact_;
  // Shared with the sessions that run on the same weights; `weights_`
  // holds what the checkpoint's tensors point into (a self-contained
  // artifact), if not the checkpoint itself.
  std::shared_ptr<const void> weights_;
  std::shared_ptr<Checkpoint> checkpoint_;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<Tokenizer> tokenizer_;
  std::optional<SteeringProgram> program_;
};

/// Token ids to text as Session::decode does, with any tokenizer.
std::string decodeTokens(const Tokenizer &tokenizer,
                         std::span<const int64_t> ids);

} // namespace steer
