//===- PolicyFrontend.h - Parse, resolve and check policy files -*- C++ -*-===//
//
// The front of steerc: a policy file (Protobuf text format against
// runtime/schema/policy.proto) is parsed with source locations, every
// concept reference is resolved through the checkpoint's label table (or
// taken as an id, "#12"), and the static checks run. Every diagnostic names
// file:line:col and shows the offending line.
//
// This library uses the runtime (labels, engine) but no MLIR; lowering the
// checked policy to the steer dialect is the next stage.
//
//===----------------------------------------------------------------------===//
#ifndef STEER_POLICY_POLICYFRONTEND_H
#define STEER_POLICY_POLICYFRONTEND_H

#include "steer/base/status.h"
#include "steer/model/concept_labels.h"
#include "steer/model/config.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace steer {
struct SigningKey;
class Checkpoint;
class Engine;
class Tokenizer;
} // namespace steer

namespace steer::policy {

struct SourceLoc {
  std::string file;
  int line = 0, column = 0; // 1-based
};

struct ConceptUse {
  int64_t id = 0;
  std::string label;   // from the table, or "" when the table has none
  std::string written; // as the policy wrote it: a label or "#12"
  SourceLoc loc;
};

/// The outcome of looking a concept reference up: an id (with its label
/// when the table has one), or an error that says why not and suggests
/// near labels.
struct ConceptResolution {
  int64_t id = -1;
  std::string label;
  std::string error;
};

/// Resolves "#12" or a label (case-insensitive) against a model with
/// `nConcepts` known concepts; `labels` may be null (then only ids
/// resolve).
ConceptResolution resolveConcept(const std::string &ref, int64_t nConcepts,
                                 const ConceptLabels *labels);

enum class Schedule { kFixed, kHardCutoff };

struct GuardSpec {
  std::vector<ConceptUse> concepts;
  float threshold = 0;
};

struct AmplifySpec {
  std::vector<ConceptUse> concepts;
  float targetLogit = 8.0f;
  int64_t layer = 8;
  Schedule schedule = Schedule::kHardCutoff;
  int64_t cutoffTokens = 32;
};

struct ClampSpec {
  ConceptUse concept_;
  float value = 0;
};

struct UnlearnSpec {
  ConceptUse focal;
  std::vector<ConceptUse> group;
  float alpha = -7.0f;
  int64_t layer = 0;
  float reluStrength = 20.0f;
};

struct ResponseSpec {
  std::string response;
  /// Mean known weights over the response's tokens (n_concepts values).
  std::vector<float> profile;
  int64_t tokens = 0;
};

struct Rule {
  std::string name;
  SourceLoc loc;
  std::optional<GuardSpec> guard;
  std::vector<ConceptUse> suppress;
  std::optional<AmplifySpec> amplify;
  std::vector<ClampSpec> clamps;
  std::optional<ResponseSpec> steerToResponse;
  std::optional<UnlearnSpec> unlearn;
};

struct CheckedPolicy {
  std::string path;
  std::string source;
  std::string description;
  std::vector<Rule> rules;
};

/// Parses and checks policy text (`path` names it in diagnostics) against a
/// model's config and label table: everything but the target profiles,
/// which need the engine (checkPolicy adds them).
StatusOr<CheckedPolicy> checkPolicyText(const std::string &path,
                                        std::string source,
                                        const ModelConfig &config,
                                        const ConceptLabels *labels);

/// Parses and checks `path` against a model. `labels` may be null (then
/// only "#id" references resolve). `engine` and `tokenizer` compute
/// steer-to-response profiles; they may be null when no rule needs them.
StatusOr<CheckedPolicy> checkPolicy(const std::string &path,
                                    const ModelConfig &config,
                                    const ConceptLabels *labels,
                                    const Engine *engine,
                                    const Tokenizer *tokenizer);

/// A response's known-concept profile: the model's mean known weights
/// (after the head's top-k) over the response's tokens, as a
/// steer_to_response rule steers toward. Shared by the front end and the
/// steer-extract-target-profiles pass.
struct ResponseProfile {
  std::vector<float> weights; // n_concepts
  int64_t tokens = 0;
};
StatusOr<ResponseProfile> responseProfile(const Engine &engine,
                                          const Tokenizer &tokenizer,
                                          const std::string &response);

/// What steerc compiled, translated from the lowered IR
/// (mlir::steer::translateToProgram): the program the runtime executes,
/// the policy's rules for review (names, locations, guards and actions with
/// resolved concepts and the tensors of their folded constants), the
/// tensors, and the kernel plan (site, kernel).
struct CompiledPolicy {
  std::string source;                  // the policy file's text
  std::string programProto;            // serialized schema::Program
  std::vector<std::string> rulesProto; // serialized schema::Rule, in order
  std::vector<std::pair<std::string, std::vector<float>>> tensors;
  std::vector<std::pair<std::string, std::string>> kernelPlan;
};

/// Writes a compiled policy as an artifact file: self-contained (the
/// checkpoint's weights embedded) or thin (linked by path and per-file
/// xxh64). `progress` reports hashing and writing.
Status writePolicyArtifact(
    const CompiledPolicy &policy, const Checkpoint &checkpoint,
    const std::string &optLevel, bool selfContained, const std::string &outPath,
    const std::function<void(const char *, uint64_t, uint64_t)> &progress,
    const SigningKey *signWith = nullptr);

/// The deterministic, human-readable compiled profile (steerc
/// --emit=profile).
std::string formatProfile(const CheckedPolicy &policy,
                          const ModelConfig &config, const Engine *engine,
                          const Tokenizer *tokenizer,
                          const ConceptLabels *labels);

} // namespace steer::policy

#endif // STEER_POLICY_POLICYFRONTEND_H
