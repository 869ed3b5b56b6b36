//===- random_checkpoint.h - Steerling checkpoints with random weights -*- C++
//-*-//
//
// Writes a checkpoint directory (config.json + safetensors, optionally sharded
// with model.safetensors.index.json) whose weights are drawn from a seeded
// generator: the same config and seed give the same bytes. Used for demos
// before a trained model exists, for tests of shapes the golden cases do not
// cover, and for multi-gigabyte benchmark checkpoints.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"
#include "steer/model/config.h"

#include <functional>
#include <optional>
#include <string>

namespace steer {

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  DType dtype = DType::kBF16;
  /// Split into shards of at most this many bytes of tensor data (0: one
  /// model.safetensors file).
  uint64_t shardBytes = 0;
  /// Called after each tensor with (bytes written so far, total bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

/// Named shapes: "tiny" (2 layers, n_embd 64, cl100k vocabulary), "small"
/// (4 layers, n_embd 256) and "mid" (12 layers, n_embd 768, 4096 known and
/// 16384 unknown concepts), all interpretable with the cl100k token layout.
StatusOr<ModelConfig> presetConfig(std::string_view name);

/// Writes the checkpoint into `dir` (created if missing).
Status writeRandomCheckpoint(const ModelConfig &config, const std::string &dir,
                             const RandomCheckpointOptions &options);

} // namespace steer
