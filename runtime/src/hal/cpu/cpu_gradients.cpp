//===- cpu_gradients.cpp - The CPU device's gradient kernels --------------===//
#include "cpu_gradients.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace steer::hal::cpu {

void rmsNormBackward(const float *x, const float *dy, int64_t rows, int64_t d,
                     kernels::WeightRef gain, double eps, float *dx) {
  std::vector<float> g(d);
  kernels::loadRow(gain, d, 0, g.data());
  // y_j = g_j x_j r, r = (mean(x^2) + eps)^-1/2:
  // dx_j = r g_j dy_j - x_j r^3 / d * sum_k g_k dy_k x_k.
#pragma omp parallel for num_threads(kernels::threads()) schedule(static) \
    if (rows * d >= (int64_t(1) << 15))
  for (int64_t i = 0; i < rows; ++i) {
    const float *xr = x + i * d, *gr = dy + i * d;
    float *out = dx + i * d;
    const float ss = kernels::dot(xr, xr, d);
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(d) +
                                     static_cast<float>(eps));
    double s = 0;
    for (int64_t j = 0; j < d; ++j)
      s += static_cast<double>(g[j]) * gr[j] * xr[j];
    const float c = static_cast<float>(s) * r * r * r / static_cast<float>(d);
    for (int64_t j = 0; j < d; ++j)
      out[j] = r * g[j] * gr[j] - xr[j] * c;
  }
}

void blockCausalAttentionBackward(const float *q, const float *k,
                                  const float *v, int64_t rows, int64_t block,
                                  int64_t nHead, int64_t nKv, int64_t hd,
                                  const float *dout, float *dq, float *dk,
                                  float *dv) {
  const int64_t group = nHead / nKv;
  const int64_t qStride = nHead * hd, kvStride = nKv * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  auto kEnd = [&](int64_t i) { return std::min(rows, (i / block + 1) * block); };
  // Per (head, query row): the softmax's log-normaliser and
  // delta = sum_j p_j dp_j, dp_j = dout . v_j (FlashAttention-2's backward).
  std::vector<float> lse(nHead * rows), delta(nHead * rows);
  const int nt = kernels::threads();

  // Pass 1, per (head, row): probabilities, dq.
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> s(rows), dp(rows);
#pragma omp for schedule(dynamic, 4)
    for (int64_t hi = 0; hi < nHead * rows; ++hi) {
      const int64_t h = hi / rows, i = hi % rows, kv = h / group;
      const float *qi = q + i * qStride + h * hd;
      const float *go = dout + i * qStride + h * hd;
      const int64_t n = kEnd(i);
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        s[j] = kernels::dot(qi, k + j * kvStride + kv * hd, hd) * scale;
        mx = std::max(mx, s[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        s[j] = std::exp(s[j] - mx);
        sum += s[j];
      }
      float dsum = 0;
      for (int64_t j = 0; j < n; ++j) {
        s[j] /= sum;
        dp[j] = kernels::dot(go, v + j * kvStride + kv * hd, hd);
        dsum += s[j] * dp[j];
      }
      lse[hi] = mx + std::log(sum);
      delta[hi] = dsum;
      float *dqi = dq + i * qStride + h * hd;
      std::fill(dqi, dqi + hd, 0.0f);
      for (int64_t j = 0; j < n; ++j)
        kernels::axpy(s[j] * (dp[j] - dsum) * scale,
                      k + j * kvStride + kv * hd, dqi, hd);
    }
  }

  // Pass 2, per (kv head, key row): dk, dv over the query rows that see it
  // (rows from the start of the key's attention block on).
#pragma omp parallel for num_threads(nt) schedule(dynamic, 4)
  for (int64_t gj = 0; gj < nKv * rows; ++gj) {
    const int64_t kv = gj / rows, j = gj % rows;
    const float *kj = k + j * kvStride + kv * hd;
    const float *vj = v + j * kvStride + kv * hd;
    float *dkj = dk + j * kvStride + kv * hd;
    float *dvj = dv + j * kvStride + kv * hd;
    std::fill(dkj, dkj + hd, 0.0f);
    std::fill(dvj, dvj + hd, 0.0f);
    for (int64_t h = kv * group; h < (kv + 1) * group; ++h)
      for (int64_t i = (j / block) * block; i < rows; ++i) {
        const float *qi = q + i * qStride + h * hd;
        const float *go = dout + i * qStride + h * hd;
        const float p = std::exp(kernels::dot(qi, kj, hd) * scale -
                                 lse[h * rows + i]);
        const float ds = p * (kernels::dot(go, vj, hd) - delta[h * rows + i]);
        kernels::axpy(ds * scale, qi, dkj, hd);
        kernels::axpy(p, go, dvj, hd);
      }
  }
}

float siluDerivative(float g) {
  const float s = 1.0f / (1.0f + std::exp(-g));
  return s * (1.0f + g * (1.0f - s));
}

float activationDerivative(Activation a, float x) {
  switch (a) {
  case Activation::kRelu:
    return x > 0 ? 1.0f : 0.0f;
  case Activation::kSilu:
    return siluDerivative(x);
  case Activation::kGelu: {
    constexpr float c = 0.7978845608028654f; // sqrt(2 / pi)
    const float t = std::tanh(c * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) +
           0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
  }
  }
  return 1.0f;
}

} // namespace steer::hal::cpu
