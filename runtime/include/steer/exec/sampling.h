//===- sampling.h - The reference's samplers over one row of logits -*- C++ -*-===//
//
// Nucleus (top-p) sampling and the entropy-adaptive sampler as the
// reference draws them (steerling/inference/causal_diffusion.py): the
// probabilities in double precision, entries ordered by a stable descending
// sort (ties keep the lower id first), the cumulative mass summed in that
// order. Only the head of that order is ever read, so it is found by
// selection, not by sorting the whole vocabulary: topOrder() returns the
// same first entries a full stable sort would, and the samplers extend it
// until the mass they need is covered, so every draw is the one the full
// sort gives (unit-tested against it).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/exec/generate.h"

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace steer {

/// Softmax of logits / temperature (temperature 1 when <= 0), -inf -> 0.
std::vector<double> softmax(const float *logits, int64_t n,
                            double temperature);

/// The ids of the `count` largest probabilities (all when count >= size),
/// in the order a stable descending sort of all of them puts them first.
std::vector<int64_t> topOrder(std::span<const double> probs, size_t count);

/// Nucleus sampling: keep ordered entries whose preceding cumulative mass
/// is <= topP (always the first), renormalise, draw.
int64_t sampleTopP(std::span<const double> probs, double topP,
                   std::mt19937_64 &rng);

/// One token from a row of logits under `options` (entropy-adaptive when
/// options.entropySampling, else top-p at options.temperature).
int64_t sampleToken(const float *logits, int64_t n,
                    const SamplingOptions &options, std::mt19937_64 &rng);

} // namespace steer
