//===- tape.h - What a forward keeps for the gradient pass ------*- C++ -*-===//
//
// Engine::runBlocks records, per layer, the inputs of the ops whose input
// gradient needs them (device memory); keys and values stay in the call's
// KvCache. Private to the engine (engine.cpp, input_gradients.cpp).
//
//===----------------------------------------------------------------------===//
#pragma once
#include "steer/exec/engine.h"

namespace steer {

struct Engine::Tape {
  struct Layer {
    hal::Buffer x;    // [M, D] the layer's input (pre-norm ln_1 reads it)
    hal::Buffer qkv;  // [M, qkvW] c_attn's output before the clip
    hal::Buffer q;    // [M, D] queries after qk-norm and RoPE
    hal::Buffer proj; // [M, D] c_proj's output (post-norm ln_1 reads it)
    hal::Buffer x1;   // [M, D] the residual after attention
    hal::Buffer fc;   // [M, fc rows] c_fc's output
    hal::Buffer mlp;  // [M, D] the MLP's output (post-norm ln_2 reads it)
  };
  std::vector<Layer> layers;
  hal::Buffer final; // [M, D] the residual before ln_f
};

} // namespace steer
