//===- attribution.h - Concept attribution of generated tokens --*- C++ -*-===//
//
// For a token y committed at a generation step, the logit of y decomposes
// over the concepts that built the composed state of that forward pass:
//
//   logit_y = sum_i w_i (v_i . W_y)  [known]  + sum_j w_j (u_j . W_y)
//             [discovered]  + epsilon . W_y
//
// with W_y the lm_head row of y, v_i / u_j the concept embeddings and w the
// weights. The reference defines epsilon's share as the residual; Steer
// computes it from the epsilon vector itself, so the sum is a real check:
// `error` is |logit_y - sum of the parts|.
//
// Chunks: generated tokens split at <|endofchunk|> (and end at a stop
// token); per chunk each concept's contribution, normalised per position by
// the position's total absolute mass, is averaged over the chunk's tokens,
// as the reference aggregates them.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/exec/generate.h"

namespace steer {

struct ConceptContribution {
  int64_t id = 0;
  float weight = 0;
  float contribution = 0;
};

struct TokenAttribution {
  int64_t position = 0;
  int64_t token = 0;
  int64_t step = 0;
  float logit = 0;
  std::vector<ConceptContribution> known, discovered;
  float epsilon = 0;
  /// |logit - (known + discovered + epsilon)|.
  float error = 0;
};

/// Attribution of the tokens committed in one step (the callback's info,
/// from a generation run with wantConcepts).
StatusOr<std::vector<TokenAttribution>> attributeStep(const Engine &engine,
                                                      const StepInfo &step);

struct ChunkEntry {
  bool known = true;
  int64_t id = 0;
  double contribution = 0;
};

struct ChunkAttribution {
  int64_t start = 0, end = 0;      // token positions [start, end)
  std::vector<ChunkEntry> entries; // largest |contribution| first
  double epsilonPercent = 0;
};

/// Splits the generated region at `endOfChunk` and the first stop token,
/// and aggregates the attributions of each chunk.
std::vector<ChunkAttribution>
chunkAttribution(std::span<const int64_t> sequence, int64_t promptTokens,
                 int64_t endOfChunk, std::span<const int64_t> stopTokens,
                 std::span<const TokenAttribution> tokens);

} // namespace steer
