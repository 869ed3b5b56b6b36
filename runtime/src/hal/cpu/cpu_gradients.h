//===- cpu_gradients.h - The CPU device's gradient kernels ------*- C++ -*-===//
//
// Reverse-mode derivatives of the backbone's ops with respect to their
// activation inputs, in float32, as the CPU device runs them (see the
// gradient ops of hal/device.h for what each computes). Plain loops over
// rows and heads on the kernels' threads; each output value is computed by
// one thread in a fixed order, so results do not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#pragma once
#include "steer/exec/kernels.h"
#include "steer/model/config.h"
#include <cstdint>

namespace steer::hal::cpu {

/// dx = the input gradient of kernels::rmsNorm at rows x (stride d).
void rmsNormBackward(const float *x, const float *dy, int64_t rows, int64_t d,
                     kernels::WeightRef gain, double eps, float *dx);

/// Gradients of kernels::blockCausalAttention over rows [0, rows) (r0 = 0,
/// total = rows). dq, dk, dv are overwritten.
void blockCausalAttentionBackward(const float *q, const float *k,
                                  const float *v, int64_t rows, int64_t block,
                                  int64_t nHead, int64_t nKv, int64_t hd,
                                  const float *dout, float *dq, float *dk,
                                  float *dv);

/// d activation(x) / dx for the MLP activations (GELU is the tanh form).
float activationDerivative(Activation a, float x);

/// d silu(g) / dg.
float siluDerivative(float g);

} // namespace steer::hal::cpu
