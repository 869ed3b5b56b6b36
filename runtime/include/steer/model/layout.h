//===- layout.h - Tensor names and shapes of a Steerling checkpoint -*- C++
//-*-//
//
// The one place that knows which tensors a config implies, under the
// reference's key names (the module tree of the PyTorch model). Loaders check
// checkpoints against it; generators write checkpoints from it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/model/config.h"

#include <cstdint>
#include <string>
#include <vector>

namespace steer {

/// Role of a tensor, used to group parameter counts ("attention", "mlp"...).
enum class TensorPart {
  kEmbedding,
  kAttention,
  kNorm,
  kMlp,
  kKnownHead,
  kUnknownHead
};
std::string_view toString(TensorPart part);

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  TensorPart part;
  /// -1 for tensors outside the transformer blocks.
  int64_t layer = -1;
};

/// The tied embedding is stored under tokEmbName or, by some exporters, under
/// The names depend on whether the checkpoint is interpretable (an
/// InterpretableCausalDiffusionLM nests the backbone under `transformer.`).
std::string tokEmbName(const ModelConfig &config);
std::string lmHeadName(const ModelConfig &config);

/// Every tensor the config implies, in a fixed order (embedding, blocks in
/// order, final norm, known head, unknown head). Concept tables have
/// `paddedCount` rows.
std::vector<TensorSpec> expectedTensors(const ModelConfig &config);

/// Number of elements of a shape.
int64_t numElements(const std::vector<int64_t> &shape);

} // namespace steer
