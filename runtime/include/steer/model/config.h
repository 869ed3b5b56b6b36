//===- config.h - Steerling model configuration -----------------*- C++ -*-===//
//
// The configuration of a Steerling checkpoint, read from its config.json.
// Field names, defaults and validation rules follow the reference's
// CausalDiffusionConfig (backbone) and ConceptConfig (the `concept` object of
// an interpretable checkpoint); the token ids and vocab_size live at the top
// level of config.json beside them.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steer {

enum class NormOrder { kPre, kPost };
enum class MlpType { kSwiGLU, kStandard };
enum class Activation { kGelu, kRelu, kSilu };

std::string_view toString(NormOrder v);
std::string_view toString(MlpType v);
std::string_view toString(Activation v);

/// The `concept` object: known and unknown concept heads.
struct ConceptConfig {
  int64_t nConcepts = 33732;
  std::optional<int64_t> nUnknownConcepts = 101196;
  int64_t maxConcepts = 16;
  int64_t conceptDim = 4096;
  bool useAttentionKnown = false;
  bool useAttentionUnknown = false;
  std::optional<int64_t> topkKnown = 32;
  std::optional<int64_t> topkKnownFeatures = 32;
  bool useUnknown = true;
  bool factorizeUnknown = true;
  int64_t factorizeRank = 256;
  std::optional<int64_t> unknownTopk = 128;
  bool useEpsilonCorrection = true;
  int64_t blockSize = 4096;
  int64_t padMultiple = 16;
  bool topkOnLogits = false;
  bool storeUnknownWeights = false;
  bool applyTopkToUnknown = true;
  int64_t injectLayer = 16;
  double injectAlpha = 1.0;

  /// Rows stored for a concept table of `n` real concepts: n rounded up to
  /// pad_multiple.
  int64_t paddedCount(int64_t n) const;
};

/// Upper bounds on every size a config may state, checked before anything
/// is allocated from it (Steerling-8B is 32 layers, 32 heads, n_embd 4096,
/// vocab 100281, 135k concepts: far inside every bound).
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxWidth = 65536;
inline constexpr int64_t kMaxContext = int64_t(1) << 20;
inline constexpr int64_t kMaxMlpRatio = 64;
inline constexpr int64_t kMaxMlpHidden = int64_t(1) << 20;
inline constexpr int64_t kMaxVocab = int64_t(1) << 24;
inline constexpr int64_t kMaxConcepts = int64_t(1) << 24;
inline constexpr int64_t kMaxPadMultiple = 65536;

/// Everything config.json says about a checkpoint.
struct ModelConfig {
  // Backbone (CausalDiffusionConfig).
  std::string modelType = "causal_diffusion";
  bool interpretable = false;
  int64_t nLayers = 32;
  int64_t nHead = 32;
  int64_t nEmbd = 4096;
  int64_t blockSize = 4096;
  std::optional<int64_t> nKvHeads = 4;
  int64_t diffBlockSize = 64;
  bool useRmsNorm = true;
  double normEps = 1e-5;
  NormOrder normOrder = NormOrder::kPost;
  bool useQkNorm = true;
  bool useRope = true;
  double ropeBase = 500000.0;
  bool ropeFullPrecision = true;
  MlpType mlpType = MlpType::kSwiGLU;
  Activation activation = Activation::kGelu;
  int64_t mlpRatio = 4;
  std::optional<int64_t> intermediateSize;
  bool useBias = false;
  std::optional<double> clipQkv = 10.0;
  bool weightSharing = true;

  // Tokens (top level of config.json; defaults are the base cl100k layout).
  int64_t vocabSize = 100281;
  int64_t padTokenId = 100277;
  int64_t bosTokenId = 100278;
  int64_t eosTokenId = 100257;
  int64_t endofchunkTokenId = 100279;
  int64_t maskTokenId = 100280;
  bool instruct = false;

  /// Present exactly when `interpretable` is true.
  std::optional<ConceptConfig> concepts;

  /// Keys that were present but are not part of the model (reported by
  /// `steer-run inspect`, never silently dropped).
  std::vector<std::string> ignoredKeys;
  /// Shape keys (n_layers, n_head, n_embd, vocab_size, n_concepts) the file
  /// did not state, so they hold the reference's 8B defaults. A checkpoint
  /// must state them; steer-mkmodel's partial specs need not.
  std::vector<std::string> missingShapeKeys;
  /// Read from the Hugging Face layout (model_type "steerling", flat
  /// concept fields); serialised in the nested layout.
  bool hubLayout = false;

  int64_t headDim() const { return nEmbd / nHead; }
  int64_t kvHeads() const { return nKvHeads.value_or(nHead); }
  int64_t kvDim() const { return kvHeads() * headDim(); }
  /// Hidden width of the MLP: intermediate_size, or mlp_ratio * n_embd.
  int64_t mlpHidden() const;
};

/// Parses config.json text. `path` names the file in error messages. Rejects
/// malformed JSON (with line:column), wrong value types, unknown values of
/// enumerated fields, unknown keys inside `concept`, and inconsistent shapes.
StatusOr<ModelConfig> parseModelConfig(std::string_view text,
                                       std::string_view path);

/// Reads and parses DIR/config.json.
StatusOr<ModelConfig> loadModelConfig(const std::string &checkpointDir);

/// Serialises a config to config.json text with every field spelled out.
std::string modelConfigToJson(const ModelConfig &config);

} // namespace steer
