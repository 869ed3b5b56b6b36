//===- PolicyFrontend.h - Parse policy files ---------------------*- C++ -*-===//
//
// The front of steerc parses: a policy file (Protobuf text format against
// runtime/schema/policy.proto) becomes a ParsedPolicy with the source
// location of every item, field and concept reference, checked only for
// what the text itself says (syntax, UTF-8, required fields, empty lists,
// duplicate rule names, the language's ranges of written values, text that
// would print raw). Concepts stay as written. Everything that needs the
// model or several rules at once happens once, on the IR the importer
// builds from it (PolicyImport.h): steer-resolve-concepts resolves
// concepts (with did-you-mean), the dialect's verifiers check ids, layers
// and cross-rule conflicts, steer-extract-target-profiles computes target
// profiles. Every diagnostic names file:line:col and shows the line.
//
// This library uses the runtime but no MLIR.
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

/// A concept reference as written: a label or "#12" (resolved on the IR).
struct ConceptUse {
  std::string written;
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
  std::optional<SourceLoc> layerLoc; // where `layer` was written (absent: default)
  SourceLoc itemLoc;                 // the `amplify` keyword
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
  std::optional<SourceLoc> layerLoc; // where `layer` was written (absent: default)
  SourceLoc itemLoc;                 // the `unlearn` keyword
  float reluStrength = 20.0f;
};

struct ResponseSpec {
  std::string response;
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

struct ParsedPolicy {
  std::string path;
  std::string source;
  std::string description;
  std::vector<Rule> rules;
};

/// Parses policy text (`path` names it in diagnostics). `config` gives
/// model-dependent defaults (unlearn's layer: n_layers / 2) and refuses a
/// model without concept heads; nothing else of the model is read.
StatusOr<ParsedPolicy> parsePolicyText(const std::string &path,
                                       std::string source,
                                       const ModelConfig &config);

/// Reads and parses `path`.
StatusOr<ParsedPolicy> parsePolicy(const std::string &path,
                                   const ModelConfig &config);

/// `message` at `loc` as every steer diagnostic reads: file:line:col:
/// error: message, then the source line (a window around the column) and a
/// caret. `source` is the file's text.
std::string renderDiagnostic(const SourceLoc &loc, const std::string &message,
                             const std::string &source);

/// A response's known-concept profile: the model's mean known weights
/// (after the head's top-k) over the response's tokens, as a
/// steer_to_response rule steers toward (steer-extract-target-profiles).
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
  std::string description;             // the policy's own
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
/// --emit=profile), read off what steerc compiled: every rule as resolved,
/// with what its folded constants do (the injection's alpha and the tokens
/// its direction promotes, the tokens a logit bias masks, a target
/// profile's top concepts), then the program.
std::string formatProfile(const CompiledPolicy &compiled,
                          const std::string &policyPath,
                          const ModelConfig &config, const Engine *engine,
                          const Tokenizer *tokenizer,
                          const ConceptLabels *labels);

} // namespace steer::policy

#endif // STEER_POLICY_POLICYFRONTEND_H
