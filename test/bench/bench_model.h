//===- bench_model.h - A benchmark's checkpoint and engine ------*- C++ -*-===//
#pragma once
#include "steer/exec/engine.h"

#include <cstdio>
#include <memory>

namespace steer::bench {

/// A checkpoint opened and its engine on the CPU device.
struct Model {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Engine> engine;
};

/// Opens `dir`; on failure prints the error and returns false.
inline bool openModel(const char *dir, Model &model) {
  auto ckpt = Checkpoint::open(dir);
  if (!ckpt.ok()) {
    std::fprintf(stderr, "%s\n", ckpt.status().toString().c_str());
    return false;
  }
  auto engine = Engine::create(**ckpt);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().toString().c_str());
    return false;
  }
  model.checkpoint = std::move(*ckpt);
  model.engine = std::move(*engine);
  return true;
}

} // namespace steer::bench
