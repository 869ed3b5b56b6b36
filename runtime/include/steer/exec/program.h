//===- program.h - The executor of an artifact's steering program -*- C++ -*-===//
//
// An artifact holds the steering program steerc compiled (schema::Program in
// runtime/schema/artifact.proto): guard tests over the prompt and
// interventions at their sites of the forward. This executor runs exactly
// those ops and nothing else (the policy's source rules are never read):
//
//   1. detect: each listed concept's largest known weight over the prompt
//      (after the head's top-k) is read once; every test defines a guard
//      value.
//   2. The remaining ops, in program order, each only when its guard value
//      is true (or it has none), become what the generation loop applies at
//      their sites: the known-weight row at generated positions
//      (target_profile replaces it, override_weights sets entries: later
//      ops win), the known features (fixed_features), the epsilon
//      correction (compose), the residual stream (inject, in order, each
//      with its schedule) and the logits (the logit_bias ops that apply,
//      summed in order, then subtracted).
//
// The program was validated when the artifact was opened
// (validateManifest); binding it checks it once more against the engine it
// will run on.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/artifact/artifact.h"
#include "steer/exec/generate.h"

#include <span>
#include <string>
#include <vector>

namespace steer {

/// What a program does to one request.
struct AppliedPolicy {
  ResolvedSteering steering;
  std::vector<std::string> fired; // rule names, in policy order
  std::vector<uint8_t> guards;    // every guard value
  bool any() const { return !fired.empty(); }
};

class SteeringProgram {
public:
  /// The program of `artifact`, with its constants, for `engine` (the
  /// artifact's model).
  static StatusOr<SteeringProgram> bind(const Artifact &artifact,
                                        const Engine &engine);
  /// The same without an engine (for tools that compare programs): sizes
  /// and ids are checked against `config` alone.
  static StatusOr<SteeringProgram> bind(const Artifact &artifact,
                                        const ModelConfig &config);

  /// Known concepts whose prompt activation the guards read (sorted,
  /// distinct); empty when the program has no guard.
  const std::vector<int64_t> &guardConcepts() const { return guardConcepts_; }

  /// Guard values from the prompt's activation of each guardConcepts()
  /// entry.
  std::vector<uint8_t> evaluateGuards(std::span<const float> activation) const;
  /// The same from dense known weights of the prompt's rows ([rows,
  /// n_concepts]): each concept's activation is its largest weight.
  std::vector<uint8_t> evaluateGuards(std::span<const float> knownWeights,
                                      int64_t rows, int64_t nConcepts) const;

  /// The steering a request with these guard values gets.
  AppliedPolicy run(std::span<const uint8_t> guards) const;

  /// Evaluates the guards on a forward of `prompt` alone, then runs (for
  /// callers that steer a single forward, not a generation).
  StatusOr<AppliedPolicy> apply(const Engine &engine,
                                std::span<const int64_t> prompt) const;

  /// Generates under the program: the guards are evaluated in the prompt's
  /// prefill (GenerateRequest::decideSteering), not by a forward of their
  /// own. `applied` receives what ran; `request.steering` must be null.
  StatusOr<GenerationResult> generate(const Engine &engine,
                                      std::span<const int64_t> prompt,
                                      GenerateRequest request,
                                      AppliedPolicy &applied) const;
  /// Sets up `request` to run under the program, as generate() does, for
  /// callers that drive the generation themselves (a GenerationBatch): a
  /// fixed steering when the program has no guard, else a decideSteering
  /// hook that evaluates the guards in the prefill. `applied` receives what
  /// ran and must outlive the generation; `request.steering` must be null.
  Status prepare(const Engine &engine, GenerateRequest &request,
                 AppliedPolicy &applied) const;

  /// Op counts by kind ("detect", "override_weights", ...), in a fixed
  /// order, for reports.
  std::vector<std::pair<std::string, int>> opCounts() const;
  int opCount() const { return detects_ + static_cast<int>(ops_.size()); }
  /// Every guard test's concepts (as ids) and threshold.
  std::vector<std::pair<std::vector<int64_t>, float>> tests() const;

private:
  struct Test {
    std::vector<uint32_t> members; // indices into guardConcepts_
    float threshold = 0;
    uint32_t result = 0;
  };
  enum class Kind {
    kTargetProfile,
    kOverrideWeights,
    kFixedFeatures,
    kCompose,
    kInject,
    kLogitBias
  };
  struct Op {
    Kind kind;
    int64_t guard = -1; // -1: always
    std::vector<int64_t> concepts;
    std::vector<float> values; // override values, or the tensor's data
    std::vector<uint32_t> unless;
    bool epsilon = false;
    ResolvedInjection injection;
  };
  struct Rule {
    std::string name;
    int64_t guard = -1;
  };

  std::string path_;
  uint32_t guardValues_ = 0;
  std::vector<int64_t> guardConcepts_;
  std::vector<Test> tests_;
  std::vector<Op> ops_;
  std::vector<Rule> rules_;
  int detects_ = 0;
};

/// A program as text, one op per line with its guard, constants and policy
/// location (steerc --emit=program, steer-diff --textconv).
std::string formatProgram(const schema::Program &program);

/// Whether two programs steer every request the same way: for every
/// combination of prompt activations that tells their guard tests apart,
/// the steering they produce (weights, features, epsilon, injections in
/// order, the summed bias) is bitwise equal. `outcomes` is how many
/// combinations were compared; `difference` says where they differ.
struct ProgramComparison {
  bool equivalent = false;
  bool checked = false; // false: too many combinations to enumerate
  int64_t outcomes = 0;
  std::string difference;
};
ProgramComparison compareBehaviour(const SteeringProgram &a,
                                   const SteeringProgram &b);

/// Binds and applies an artifact's program to one prompt (guards on a
/// forward of the prompt).
StatusOr<AppliedPolicy> applyArtifact(const Artifact &artifact,
                                      const Engine &engine,
                                      std::span<const int64_t> prompt);

} // namespace steer
