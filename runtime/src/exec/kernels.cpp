//===- kernels.cpp - CPU kernels of the Steerling forward -----------------===//
#include "steer/exec/kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <vector>

#define STEER_CLONES                                                           \
  __attribute__((target_clones("arch=x86-64-v4", "avx2,fma", "default")))

namespace steer::kernels {

// kernels_amx.cpp (compiled with AMX enabled).
bool amxUsable();
void linearAmxBf16(const float *x, int64_t m, int64_t k, const uint16_t *w,
                   int64_t n, float *y, int64_t ldy, int threads);

namespace {

int gThreads = 0;

inline float loadBf16(const uint16_t *p, int64_t i) {
  uint32_t bits = static_cast<uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Widens `n` elements of a stored row to float32.
STEER_CLONES void widen(const void *src, DType t, int64_t n, float *out) {
  if (t == DType::kF32) {
    std::memcpy(out, src, n * sizeof(float));
  } else if (t == DType::kBF16) {
    const auto *p = static_cast<const uint16_t *>(src);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits = static_cast<uint32_t>(p[i]) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
  } else {
    const auto *p = static_cast<const uint16_t *>(src);
    for (int64_t i = 0; i < n; ++i)
      out[i] = f16ToFloat(p[i]);
  }
}

const void *rowPtr(WeightRef w, int64_t k, int64_t row) {
  return static_cast<const uint8_t *>(w.data) + row * k * dtypeSize(w.dtype);
}

using v16 = float __attribute__((vector_size(64)));

/// 64-byte aligned float scratch.
struct Aligned {
  float *p = nullptr;
  explicit Aligned(size_t n) {
    p = static_cast<float *>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64));
  }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned &) = delete;
  Aligned &operator=(const Aligned &) = delete;
};

using v8 = float __attribute__((vector_size(32)));
using v4 = float __attribute__((vector_size(16)));

/// Lanes summed by a fixed tree (halves, then quarters...), so a value never
/// depends on which tile computed it.
inline float hsum(v16 v) {
  v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) +
         __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

/// The register tile: R x rows against 4 widened weight rows, 16 lanes of K
/// at a time, one accumulator vector per output. kp is K padded to 16 (the
/// padding is zero in both operands).
template <int R>
STEER_CLONES void tile(const float *x, int64_t ldx, const float *w, int64_t kp,
                       float *y, int64_t ldy) {
  v16 acc[R][4];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < 4; ++b)
      acc[a][b] = v16{};
  for (int64_t t = 0; t < kp; t += 16) {
    v16 wv[4];
    for (int b = 0; b < 4; ++b)
      wv[b] = *reinterpret_cast<const v16 *>(w + b * kp + t);
    for (int a = 0; a < R; ++a) {
      v16 xv = *reinterpret_cast<const v16 *>(x + a * ldx + t);
      for (int b = 0; b < 4; ++b)
        acc[a][b] += xv * wv[b];
    }
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < 4; ++b)
      y[a * ldy + b] = hsum(acc[a][b]);
}

/// Rows per register tile (4 x 4 accumulators; 6 x 4 measured no faster
/// on this machine).
constexpr int kRows = 4;

/// Computes output columns [n0, n1) (a multiple of 4 wide, except at n) for
/// all rows; `rowOf(j)` maps an output column to a weight row.
template <typename RowOf>
void linearColumns(const float *xp, int64_t m, int64_t k, int64_t kp,
                   WeightRef w, RowOf rowOf, int64_t n, int64_t n0, int64_t n1,
                   float *y, int64_t ldy) {
  Aligned wr(4 * kp);
  float out[kRows * 4];
  for (int64_t j = n0; j < n1; j += 4) {
    const int64_t cols = std::min<int64_t>(4, n - j);
    for (int b = 0; b < 4; ++b) {
      float *dst = wr.p + b * kp;
      // Missing columns repeat the last row; their outputs are dropped.
      widen(rowPtr(w, k, rowOf(j + std::min<int64_t>(b, cols - 1))), w.dtype, k,
            dst);
      std::fill(dst + k, dst + kp, 0.0f);
    }
    int64_t i = 0;
    for (; i + kRows <= m; i += kRows) {
      tile<kRows>(xp + i * kp, kp, wr.p, kp, out, 4);
      for (int a = 0; a < kRows; ++a)
        std::memcpy(y + (i + a) * ldy + j, out + a * 4, cols * sizeof(float));
    }
    for (; i < m; ++i) {
      tile<1>(xp + i * kp, kp, wr.p, kp, out, 4);
      std::memcpy(y + i * ldy + j, out, cols * sizeof(float));
    }
  }
}

STEER_CLONES float dot1(const float *x, const float *w, int64_t k) {
  constexpr int L = 16;
  float a[L] = {};
  int64_t t = 0;
  for (; t + L <= k; t += L)
    for (int l = 0; l < L; ++l)
      a[l] += x[t + l] * w[t + l];
  for (int l = 0; t + l < k; ++l)
    a[l] += x[t + l] * w[t + l];
  float s = 0;
  for (int l = 0; l < L; ++l)
    s += a[l];
  return s;
}

template <typename RowOf>
void linearImpl(const float *x, int64_t m, int64_t k, WeightRef w, RowOf rowOf,
                int64_t n, float *y, int64_t ldy) {
  if (m <= 0 || n <= 0)
    return;
  // x padded to 16-float rows, 64-byte aligned, zeros past k.
  const int64_t kp = (k + 15) / 16 * 16;
  Aligned xp(m * kp);
  for (int64_t i = 0; i < m; ++i) {
    std::memcpy(xp.p + i * kp, x + i * k, k * sizeof(float));
    std::fill(xp.p + i * kp + k, xp.p + (i + 1) * kp, 0.0f);
  }
  // Small products run on one thread: waking the pool costs more than it
  // saves. Columns are split in multiples of 4 so that tiling never depends
  // on the thread count.
  int nt = m * n * k < (int64_t(1) << 20)
               ? 1
               : std::max(1, std::min<int>(threads(),
                                           static_cast<int>((n + 63) / 64)));
  int64_t groups = (n + 3) / 4;
#pragma omp parallel num_threads(nt)
  {
    int id = omp_get_thread_num(), cnt = omp_get_num_threads();
    int64_t g0 = groups * id / cnt, g1 = groups * (id + 1) / cnt;
    linearColumns(xp.p, m, k, kp, w, rowOf, n, g0 * 4, std::min(n, g1 * 4), y,
                  ldy);
  }
}

} // namespace

namespace {
/// OMP_NUM_THREADS is input too: 65536 threads crash the process (each
/// needs a stack) and 2^31 exhaust memory inside libgomp. Before any
/// parallel region runs, the team size is bounded to 4x the processors,
/// with a note when that changes what was asked.
int boundedDefaultThreads() {
  const int procs = std::max(1, omp_get_num_procs());
  const int asked = omp_get_max_threads();
  const int bound = 4 * procs;
  if (asked > bound) {
    std::fprintf(stderr,
                 "steer: note: %d OpenMP threads asked for "
                 "(OMP_NUM_THREADS); using %d, 4x this machine's %d "
                 "processors\n",
                 asked, bound, procs);
    omp_set_num_threads(bound);
  }
  return std::min(std::max(1, asked), bound);
}
const int kDefaultThreads = boundedDefaultThreads();
} // namespace

void setThreads(int t) { gThreads = t; }
int threads() {
  // OpenMP's default honours OMP_NUM_THREADS (all cores when unset), so
  // two processes can share the machine without oversubscribing it.
  if (gThreads <= 0)
    gThreads = kDefaultThreads;
  return gThreads;
}

void loadRow(WeightRef w, int64_t k, int64_t row, float *out) {
  widen(rowPtr(w, k, row), w.dtype, k, out);
}

namespace {
/// Whether bf16 weights [n, k] go to the matrix unit. Small layers (k < 256
/// with fewer than 8192 rows, or n * k < 2^18) stay on the vector path:
/// tile setup and packing cost more than they save there (measured on the
/// tiny preset, whose steps got 2x slower on AMX); a narrow lm_head (k 64
/// or 128, 100281 rows) gains.
bool amxShape(DType dtype, int64_t n, int64_t k) {
  return dtype == DType::kBF16 && k % 32 == 0 &&
         (k >= 256 ? n * k >= (int64_t(1) << 18) : n >= 8192);
}
} // namespace

const char *linearVariant(DType dtype, int64_t n, int64_t k, bool matrixUnit) {
  if (matrixUnit && amxShape(dtype, n, k))
    return "amx_bf16";
  switch (dtype) {
  case DType::kBF16:
    return "fma_bf16";
  case DType::kF16:
    return "fma_f16";
  default:
    return "fma_f32";
  }
}

void linear(const float *x, int64_t m, int64_t k, WeightRef w, int64_t n,
            float *y, int64_t ldy) {
  // The choice depends only on the machine and the shape, never on the row
  // count, so a row's value is the same in every call.
  if (amxShape(w.dtype, n, k) && amxUsable()) {
    int nt = m * n * k < (int64_t(1) << 22) ? 1 : threads();
    linearAmxBf16(x, m, k, static_cast<const uint16_t *>(w.data), n, y, ldy,
                  nt);
    return;
  }
  linearImpl(
      x, m, k, w, [](int64_t j) { return j; }, n, y, ldy);
}


float dot(const float *a, const float *b, int64_t n) { return dot1(a, b, n); }

namespace {
/// exp(x) for x <= 0, 16 lanes at a time in float32: 2^k * p(r) with
/// k = round(x / ln 2) (by the 1.5 * 2^23 trick), r = x - k ln 2 in two
/// parts, and a degree-6 polynomial (relative error < 2e-7); lanes below
/// -87 (and -inf) give 0.
[[gnu::always_inline]] inline v16 expNonPositive(v16 x) {
  const v16 big = v16{} + 12582912.0f; // 1.5 * 2^23
  v16 lo = v16{} - 87.0f;
  v16 xc = x > lo ? x : lo; // keep the arithmetic finite
  v16 k = (xc * 1.44269504088896341f + big) - big;
  v16 r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;
  v16 p = v16{} + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  using vi = int32_t __attribute__((vector_size(64)));
  vi bits = (__builtin_convertvector(k, vi) + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  v16 zero = v16{};
  return x > lo ? p * scale : zero;
}
} // namespace

STEER_CLONES float sumExp(const float *x, int64_t n, float shift) {
  v16 acc = v16{};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v));
    acc += expNonPositive(v - shift);
  }
  if (i < n) {
    v16 v = v16{} - INFINITY; // exp(-inf) = 0 in the unused lanes
    std::memcpy(&v, x + i, (n - i) * sizeof(float));
    acc += expNonPositive(v - shift);
  }
  return hsum(acc);
}

STEER_CLONES float maxValue(const float *x, int64_t n) {
  // Four independent accumulators: a single running maximum is one long
  // dependency chain (a compare's latency per element).
  v16 acc[4];
  for (v16 &a : acc)
    a = v16{} - INFINITY;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int j = 0; j < 4; ++j) {
      v16 v;
      std::memcpy(&v, x + i + 16 * j, sizeof(v));
      acc[j] = v > acc[j] ? v : acc[j];
    }
  float best = -INFINITY;
  for (const v16 &a : acc)
    for (int j = 0; j < 16; ++j)
      best = std::max(best, a[j]);
  for (; i < n; ++i)
    best = std::max(best, x[i]);
  return best;
}

int64_t argMax(const float *x, int64_t n) {
  const float best = maxValue(x, n);
  for (int64_t i = 0; i < n; ++i)
    if (x[i] == best)
      return i;
  return 0;
}

STEER_CLONES void axpy(float a, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += a * x[i];
}

void rmsNorm(float *x, int64_t m, int64_t d, int64_t stride, WeightRef weight,
             double eps) {
  std::vector<float> wv(d);
  widen(weight.data, weight.dtype, d, wv.data());
  for (int64_t i = 0; i < m; ++i) {
    float *row = x + i * stride;
    // Mean of squares in float32 as the reference (x.float().pow(2).mean()).
    float ss = dot1(row, row, d);
    float inv =
        1.0f / std::sqrt(ss / static_cast<float>(d) + static_cast<float>(eps));
    for (int64_t j = 0; j < d; ++j)
      row[j] = wv[j] * (row[j] * inv);
  }
}

void rope(float *x, int64_t heads, int64_t hd, int64_t pos,
          const float *invFreq) {
  const int64_t half = hd / 2;
  for (int64_t i = 0; i < half; ++i) {
    // The reference builds freqs = pos * inv_freq in float32, then sin/cos.
    float f = static_cast<float>(pos) * invFreq[i];
    float c = std::cos(f), s = std::sin(f);
    for (int64_t h = 0; h < heads; ++h) {
      float *p = x + h * hd;
      float a = p[i], b = p[i + half];
      p[i] = a * c - b * s;
      p[i + half] = b * c + a * s;
    }
  }
}

void blockCausalAttention(const float *q, const float *k, const float *v,
                          int64_t r0, int64_t r1, int64_t total, int64_t block,
                          int64_t nHead, int64_t nKv, int64_t hd, float *out) {
  const int64_t rows = r1 - r0, group = nHead / nKv;
  const int64_t qStride = nHead * hd, kvStride = nKv * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  int nt = std::max(
      1, std::min<int>(threads(), static_cast<int>(rows * nHead / 4 + 1)));
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> scores(total);
    std::vector<float> acc(hd);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < rows * nHead; ++task) {
      const int64_t i = task / nHead, h = task % nHead, kvh = h / group;
      const int64_t qpos = r0 + i;
      const int64_t kEnd = std::min(total, (qpos / block + 1) * block);
      const float *qi = q + i * qStride + h * hd;
      float mx = -INFINITY;
      for (int64_t j = 0; j < kEnd; ++j) {
        scores[j] = dot1(qi, k + j * kvStride + kvh * hd, hd) * scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0;
      for (int64_t j = 0; j < kEnd; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = 0; j < kEnd; ++j)
        axpy(scores[j], v + j * kvStride + kvh * hd, acc.data(), hd);
      float inv = 1.0f / sum;
      float *o = out + i * qStride + h * hd;
      for (int64_t d = 0; d < hd; ++d)
        o[d] = acc[d] * inv;
    }
  }
}

} // namespace steer::kernels
