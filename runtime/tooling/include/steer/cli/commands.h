//===- commands.h - What steer-run's subcommands do -------------*- C++ -*-===//
//
// The work behind each steer-run subcommand, kept out of the tool's main so
// that the main only parses options. Each command builds its whole output
// and returns it: on error nothing has been printed (no partial output).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace steer::cli {

struct InspectOptions {
  std::string dir;
  /// A concept label file; empty: DIR/concept_labels.{csv,jsonl} if present.
  std::string labels;
  bool json = false;
};
StatusOr<std::string> inspect(const InspectOptions &options);

struct TokenizeOptions {
  std::string text;
  bool instruct = false;
  bool json = false;
  /// Prepend <|bos|> and append <|endoftext|>, as the reference's encode
  /// does by default.
  bool bosEos = false;
};
StatusOr<std::string> tokenize(const TokenizeOptions &options);

struct DetokenizeOptions {
  std::string ids; // "1,2,3"
  bool instruct = false;
  bool skipSpecial = false;
};
StatusOr<std::string> detokenize(const DetokenizeOptions &options);

/// Input of the commands that run a model: a checkpoint and a prompt
/// (text, or token ids).
struct ModelInput {
  std::string dir;
  std::string requireSignature; // verify-key file; empty: none required
  std::string prompt;
  std::string ids; // "1,2,3"; used when prompt is empty
};

struct GenerateOptions {
  ModelInput input;
  int64_t maxNewTokens = 128;
  std::optional<int64_t> steps;
  bool greedy = false;
  std::optional<double> temperature, topP;
  std::optional<uint64_t> seed;
  double repetitionPenalty = 1.1;
  double cfgScale = 0.0;
  std::string stopTokens; // ids
  /// Text that ends the output (cut before it; generation stops after the
  /// block holding it). "\n" and "\t" are read as newline and tab.
  std::vector<std::string> stopText;
  bool noCache = false;
  bool json = false;
  bool progress = false; // a progress line on stderr
};
StatusOr<std::string> generate(const GenerateOptions &options);

struct ExplainOptions {
  GenerateOptions generation;
  std::string labels; // default DIR/concept_labels.{csv,jsonl}
  int64_t top = 8;
};
StatusOr<std::string> explain(const ExplainOptions &options);

struct AttributeInputOptions {
  GenerateOptions generation;
  int64_t igSteps = 1;            // Riemann steps (1: input x gradient)
  std::string baseline = "mask";  // mask, pad, zero
  int64_t top = 8;                // prompt tokens listed per chunk
  bool perToken = false;          // a ranking per generated token too
};
/// Generates and attributes every committed token to the input positions
/// (integrated gradients on the snapshot it was committed from).
StatusOr<std::string> attributeInput(const AttributeInputOptions &options);

struct ForwardOptions {
  ModelInput input;
  std::string dump;      // .safetensors output
  std::string intervene; // "id:value,..."
};
StatusOr<std::string> forward(const ForwardOptions &options);

struct EmbedOptions {
  ModelInput input;
  std::string type = "composed"; // hidden, composed, known, unknown
  std::string pooling = "mean";  // mean, first, last, none
  bool json = false;
};
StatusOr<std::string> embed(const EmbedOptions &options);

/// Parses "1,2, 3" (commas and/or spaces); errors name the bad entry.
StatusOr<std::vector<int64_t>> parseIdList(const std::string &text,
                                           const std::string &what);

} // namespace steer::cli
