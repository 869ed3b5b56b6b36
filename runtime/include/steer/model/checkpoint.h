//===- checkpoint.h - A Steerling checkpoint directory ----------*- C++ -*-===//
//
// Opens a checkpoint exactly as downloaded: config.json plus either
// model.safetensors or shards listed by model.safetensors.index.json. Every
// tensor the config implies must be present with its shape (the tied
// embedding under either of its names) and nothing else may be; weights stay
// memory-mapped in their stored dtype.
//
// Lifetime: the Checkpoint owns the maps; TensorViews it hands out are valid
// while it lives.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/io/safetensors.h"
#include "steer/model/config.h"
#include "steer/model/layout.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace steer {

class Checkpoint {
public:
  static StatusOr<std::unique_ptr<Checkpoint>> open(const std::string &dir);

  /// A checkpoint whose weights live elsewhere (a self-contained artifact):
  /// the views named "weights.<checkpoint key>" in `tensors`, checked like
  /// a directory's. `origin` names it in errors; the views must outlive it.
  static StatusOr<std::unique_ptr<Checkpoint>>
  fromTensors(std::string origin, ModelConfig config,
              const std::map<std::string, TensorView> &tensors);

  const std::string &dir() const { return dir_; }
  const ModelConfig &config() const { return config_; }
  /// The safetensors files, in the order they were opened.
  const std::vector<std::unique_ptr<SafetensorsFile>> &files() const {
    return files_;
  }
  /// The tensor of a layout name (tokEmbName finds the tied embedding
  /// whichever name it was stored under); nullptr when absent.
  const TensorView *tensor(const std::string &name) const;
  /// The expected tensors in layout order, each with its view.
  const std::vector<TensorSpec> &specs() const { return specs_; }

private:
  Status validate();

  std::string dir_;
  ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView *> byName_;
  std::vector<TensorSpec> specs_;
};

} // namespace steer
