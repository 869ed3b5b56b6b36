//===- sampling_oracle.h - The samplers with a full sort, for tests -*- C++ -*-===//
//
// The reference's samplers written the plain way: the whole vocabulary
// stably sorted for every draw. The oracle of test/unit/sampling_test.cpp
// and the baseline of steer-bench-sampling.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/exec/sampling.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <vector>

namespace steer::oracle {

inline std::vector<int64_t> fullOrder(const std::vector<double> &p) {
  std::vector<int64_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  return order;
}

inline int64_t oracleTopP(const std::vector<double> &probs, double topP,
                   std::mt19937_64 &rng) {
  std::vector<int64_t> order = fullOrder(probs);
  double cum = 0, kept = 0;
  size_t n = 0;
  for (; n < order.size(); ++n) {
    if (n > 0 && cum > topP)
      break;
    cum += probs[order[n]];
    kept += probs[order[n]];
  }
  double u = std::uniform_real_distribution<double>(0.0, kept)(rng);
  for (size_t i = 0; i < n; ++i) {
    u -= probs[order[i]];
    if (u <= 0)
      return order[i];
  }
  return order[n - 1];
}

inline int64_t oracleToken(const std::vector<float> &logits,
                    const SamplingOptions &o, std::mt19937_64 &rng) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (!o.entropySampling)
    return oracleTopP(softmax(logits.data(), n, o.temperature), o.topP, rng);
  std::vector<double> raw = softmax(logits.data(), n, 1.0);
  std::vector<double> sorted = raw;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double cum = 0;
  int64_t within = 0;
  for (double p : sorted) {
    cum += p;
    if (cum <= o.topP)
      ++within;
  }
  int64_t k = std::max<int64_t>(within + 1, 2);
  double entropy = 0;
  for (double p : raw)
    entropy -= p * std::log(p + 1e-10);
  double t = 0.3 + 0.4 * std::min(1.0, entropy / std::log(double(k)));
  return oracleTopP(softmax(logits.data(), n, t), o.topP, rng);
}

} // namespace steer::oracle
