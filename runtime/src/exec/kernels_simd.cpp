//===- kernels_simd.cpp - The vector kernels, once per instruction set ----===//
//
// Compiled three times by runtime/CMakeLists.txt: STEER_ISA_LEVEL 1 (the
// portable baseline: SSE2 on x86-64, NEON on AArch64), 2 (AVX2, FMA, F16C:
// x86-64-v3) and 3 (AVX-512 F/BW/DQ/VL: x86-64-v4), each into the
// namespace STEER_ISA_NS. Everything here has internal linkage except the
// table; nothing from a standard header is instantiated (see
// kernels_isa.h for why).
//
// The matrix product reads weights packed in panels of 16 output columns
// ([k][16] per panel, bf16 or f32) and keeps a register tile of
// rows x columns accumulators: AVX-512 8 rows x 32 columns (16 zmm), AVX2
// 6 x 16 (12 ymm), portable 3 x 16 (12 xmm). Each step of k broadcasts one
// input value per row and multiplies it into the panel's widened weights.
// Every output is therefore one multiply-add chain over k in order, the
// same whatever the tile, the row count or the thread that computed it:
// cached and uncached generation agree bit for bit, and the AVX2 and
// AVX-512 paths (both fused multiply-add) give identical products.
//
//===----------------------------------------------------------------------===//
#include "kernels_isa.h"

#include <cstdint>
#include <cstring>

#if STEER_ISA_LEVEL >= 2
#include <immintrin.h>
#endif

#ifndef STEER_ISA_NS
#error "compile with -DSTEER_ISA_NS=<name> -DSTEER_ISA_LEVEL=<1|2|3>"
#endif

namespace steer::kernels::isa::STEER_ISA_NS {
namespace {

#define STEER_INLINE [[gnu::always_inline]] inline

#if STEER_ISA_LEVEL == 3
constexpr int kLanes = 16, kTilePanels = 2, kTileRows = 8;
using V = __m512;
STEER_INLINE V vZero() { return _mm512_setzero_ps(); }
STEER_INLINE V vSet(float s) { return _mm512_set1_ps(s); }
STEER_INLINE V vLoad(const float *p) { return _mm512_loadu_ps(p); }
STEER_INLINE void vStore(float *p, V v) { _mm512_storeu_ps(p, v); }
STEER_INLINE V vFma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
STEER_INLINE V vLoadBf16(const uint16_t *p) {
  __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
STEER_INLINE V vLoadF16(const uint16_t *p) {
  return _mm512_cvtph_ps(
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}
#elif STEER_ISA_LEVEL == 2
constexpr int kLanes = 8, kTilePanels = 1, kTileRows = 6;
using V = __m256;
STEER_INLINE V vZero() { return _mm256_setzero_ps(); }
STEER_INLINE V vSet(float s) { return _mm256_set1_ps(s); }
STEER_INLINE V vLoad(const float *p) { return _mm256_loadu_ps(p); }
STEER_INLINE void vStore(float *p, V v) { _mm256_storeu_ps(p, v); }
STEER_INLINE V vFma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
STEER_INLINE V vLoadBf16(const uint16_t *p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
STEER_INLINE V vLoadF16(const uint16_t *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
#else
constexpr int kLanes = 4, kTilePanels = 1, kTileRows = 3;
typedef float V __attribute__((vector_size(16)));
typedef uint32_t VU __attribute__((vector_size(16)));
STEER_INLINE V vZero() { return V{}; }
STEER_INLINE V vSet(float s) { return V{} + s; }
STEER_INLINE V vLoad(const float *p) {
  V v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
STEER_INLINE void vStore(float *p, V v) { std::memcpy(p, &v, sizeof(v)); }
// No fused multiply-add in the baseline ISA: a product, then a sum.
STEER_INLINE V vFma(V a, V b, V c) { return a * b + c; }
STEER_INLINE V vLoadBf16(const uint16_t *p) {
  VU u = {p[0], p[1], p[2], p[3]};
  u <<= 16;
  V v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}
#endif

/// IEEE binary16 to binary32, exactly (subnormals, infinities, NaN).
STEER_INLINE float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal: normalise the mantissa.
    int shift = 0;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      ++shift;
    }
    bits = sign | ((113u - shift) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

#if STEER_ISA_LEVEL == 1
STEER_INLINE V vLoadF16(const uint16_t *p) {
  return V{halfToFloat(p[0]), halfToFloat(p[1]), halfToFloat(p[2]),
           halfToFloat(p[3])};
}
#endif

STEER_INLINE V loadWeights(const float *p) { return vLoad(p); }
STEER_INLINE V loadWeights(const uint16_t *p) { return vLoadBf16(p); }

constexpr int kPanelVectors = static_cast<int>(kPanel) / kLanes;

STEER_INLINE void prefetchL2(const void *p) {
#if STEER_ISA_LEVEL >= 2
  _mm_prefetch(static_cast<const char *>(p), _MM_HINT_T1);
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

/// R rows x NP panels of outputs: y[r][0 .. cols) for the panels starting
/// at w (panel stride k * 16 elements). `next` (or null): the panels the
/// following tile column reads, fetched into L2 while this tile computes so
/// that their first pass does not wait on memory.
template <int R, int NP, typename T>
void tile(const float *x, int64_t k, const T *w, float *y, int64_t ldy,
          int64_t cols, const T *next, int64_t nextBytes) {
  constexpr int C = NP * kPanelVectors;
  const int64_t panelStride = k * kPanel;
  // `next` is contiguous: fetched at its own rate, nextBytes / k per step.
  const char *pf = reinterpret_cast<const char *>(next);
  const int64_t step = k > 0 ? nextBytes / k : 0;
  V acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c)
      acc[r][c] = vZero();
  for (int64_t t = 0; t < k; ++t) {
    if (pf) {
      prefetchL2(pf + t * step);
      if (step > 64)
        prefetchL2(pf + t * step + 64);
    }
    V wv[C];
#pragma GCC unroll 16
    for (int p = 0; p < NP; ++p)
#pragma GCC unroll 16
      for (int v = 0; v < kPanelVectors; ++v)
        wv[p * kPanelVectors + v] =
            loadWeights(w + p * panelStride + t * kPanel + v * kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const V xb = vSet(x[r * k + t]);
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c)
        acc[r][c] = vFma(xb, wv[c], acc[r][c]);
    }
  }
  if (cols >= NP * kPanel) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c)
        vStore(y + r * ldy + c * kLanes, acc[r][c]);
    return;
  }
  float row[C * kLanes];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c)
      vStore(row + c * kLanes, acc[r][c]);
    std::memcpy(y + r * ldy, row, cols * sizeof(float));
  }
}

/// A tile of `rows` (1..R) rows.
template <int R, int NP, typename T>
void tileRows(int rows, const float *x, int64_t k, const T *w, float *y,
              int64_t ldy, int64_t cols, const T *next, int64_t nextBytes) {
  if constexpr (R > 1) {
    if (rows < R)
      return tileRows<R - 1, NP>(rows, x, k, w, y, ldy, cols, next,
                                 nextBytes);
  }
  tile<R, NP>(x, k, w, y, ldy, cols, next, nextBytes);
}

template <typename T>
void gemm(const float *x, int64_t m, int64_t k, const T *w, int64_t n,
          int64_t p0, int64_t p1, float *y, int64_t ldy) {
  for (int64_t p = p0; p < p1; p += kTilePanels) {
    const int64_t np = p1 - p < kTilePanels ? p1 - p : kTilePanels;
    const int64_t j0 = p * kPanel;
    const int64_t cols = n - j0 < np * kPanel ? n - j0 : np * kPanel;
    const T *wp = w + p * k * kPanel;
    // The next tile column's panels are fetched during the first row tile.
    const int64_t nextPanels =
        p1 - (p + np) < kTilePanels ? p1 - (p + np) : kTilePanels;
    const T *next = nextPanels > 0 ? wp + np * k * kPanel : nullptr;
    const int64_t nextBytes =
        nextPanels * k * kPanel * static_cast<int64_t>(sizeof(T));
    // The panels stay in cache while every row tile passes over them.
    for (int64_t i = 0; i < m; i += kTileRows) {
      const int rows = static_cast<int>(m - i < kTileRows ? m - i : kTileRows);
      const float *xi = x + i * k;
      float *yi = y + i * ldy + j0;
      const T *pf = i == 0 ? next : nullptr;
      if (np == kTilePanels)
        tileRows<kTileRows, kTilePanels>(rows, xi, k, wp, yi, ldy, cols, pf,
                                         nextBytes);
      else
        tileRows<kTileRows, 1>(rows, xi, k, wp, yi, ldy, cols, pf, nextBytes);
    }
  }
}

void gemmBf16(const float *x, int64_t m, int64_t k, const uint16_t *w,
              int64_t n, int64_t p0, int64_t p1, float *y, int64_t ldy) {
  gemm(x, m, k, w, n, p0, p1, y, ldy);
}

void gemmF32(const float *x, int64_t m, int64_t k, const float *w, int64_t n,
             int64_t p0, int64_t p1, float *y, int64_t ldy) {
  gemm(x, m, k, w, n, p0, p1, y, ldy);
}

void widenBf16(const uint16_t *src, int64_t n, float *out) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    vStore(out + i, vLoadBf16(src + i));
  for (; i < n; ++i) {
    uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(&out[i], &bits, 4);
  }
}

void widenF16(const uint16_t *src, int64_t n, float *out) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    vStore(out + i, vLoadF16(src + i));
  for (; i < n; ++i)
    out[i] = halfToFloat(src[i]);
}

// The reductions below are written with 16-lane vector types whatever the
// ISA (the compiler splits them into two AVX2 or four SSE registers), so
// their results are the same on every path.
using v16 = float __attribute__((vector_size(64)));
using v8 = float __attribute__((vector_size(32)));
using v4 = float __attribute__((vector_size(16)));

/// Lanes summed by a fixed tree (halves, then quarters...).
STEER_INLINE float hsum(v16 v) {
  v8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
         __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) +
         __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

float dot(const float *x, const float *w, int64_t k) {
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

/// exp(x) for x <= 0, 16 lanes at a time in float32: 2^k * p(r) with
/// k = round(x / ln 2) (by the 1.5 * 2^23 trick), r = x - k ln 2 in two
/// parts, and a degree-6 polynomial (relative error < 2e-7); lanes below
/// -87 (and -inf) give 0.
STEER_INLINE v16 expNonPositive(v16 x) {
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

float sumExp(const float *x, int64_t n, float shift) {
  v16 acc = v16{};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16 v;
    std::memcpy(&v, x + i, sizeof(v));
    acc += expNonPositive(v - shift);
  }
  if (i < n) {
    v16 v = v16{} - __builtin_inff(); // exp(-inf) = 0 in the unused lanes
    std::memcpy(&v, x + i, (n - i) * sizeof(float));
    acc += expNonPositive(v - shift);
  }
  return hsum(acc);
}

float maxValue(const float *x, int64_t n) {
  // Four independent accumulators: a single running maximum is one long
  // dependency chain (a compare's latency per element).
  v16 acc[4];
  for (v16 &a : acc)
    a = v16{} - __builtin_inff();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int j = 0; j < 4; ++j) {
      v16 v;
      std::memcpy(&v, x + i + 16 * j, sizeof(v));
      acc[j] = v > acc[j] ? v : acc[j];
    }
  float best = -__builtin_inff();
  for (const v16 &a : acc)
    for (int j = 0; j < 16; ++j)
      best = best < a[j] ? a[j] : best;
  for (; i < n; ++i)
    best = best < x[i] ? x[i] : best;
  return best;
}

void axpy(float a, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] += a * x[i];
}

/// out[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g) with
/// sigmoid(g) = 1 / (1 + e) for g >= 0 and e / (1 + e) below, e =
/// exp(-|g|) (never overflows), 16 lanes at a time.
void siluMul(const float *gate, const float *up, float *out, int64_t n) {
  int64_t i = 0;
  const v16 one = v16{} + 1.0f, zero = v16{};
  for (; i < n; i += 16) {
    const int64_t w = n - i < 16 ? n - i : 16;
    v16 g = zero, u = zero;
    std::memcpy(&g, gate + i, w * sizeof(float));
    std::memcpy(&u, up + i, w * sizeof(float));
    const v16 neg = g < zero ? g : -g; // -|g|
    const v16 e = expNonPositive(neg);
    const v16 sig = (g >= zero ? one : e) / (one + e);
    const v16 r = g * sig * u;
    std::memcpy(out + i, &r, w * sizeof(float));
  }
}

/// Sum of a vector's lanes by a fixed tree, in registers.
STEER_INLINE float vSum(V v) {
#if STEER_ISA_LEVEL == 3
  __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                           _mm256_castpd_ps(_mm512_extractf64x4_pd(
                               _mm512_castps_pd(v), 1)));
#elif STEER_ISA_LEVEL == 2
  __m256 a = v;
#endif
#if STEER_ISA_LEVEL >= 2
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
  return _mm_cvtss_f32(b);
#else
  return (v[0] + v[2]) + (v[1] + v[3]);
#endif
}

/// out[NC vectors] = (sum_j p_j v_j) * inv: NC vectors of d at once, with
/// two chains over the keys (even and odd, added at the end).
template <int NC>
void weightedValues(const float *p, const float *v, int64_t keys,
                    int64_t stride, float inv, float *out) {
  V e[NC], o[NC];
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c)
    e[c] = o[c] = vZero();
  int64_t j = 0;
  for (; j + 2 <= keys; j += 2) {
    const V p0 = vSet(p[j]), p1 = vSet(p[j + 1]);
    const float *v0 = v + j * stride, *v1 = v0 + stride;
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) {
      e[c] = vFma(p0, vLoad(v0 + c * kLanes), e[c]);
      o[c] = vFma(p1, vLoad(v1 + c * kLanes), o[c]);
    }
  }
  if (j < keys) {
    const V p0 = vSet(p[j]);
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c)
      e[c] = vFma(p0, vLoad(v + j * stride + c * kLanes), e[c]);
  }
  const V scale = vSet(inv);
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c)
    vStore(out + c * kLanes, (e[c] + o[c]) * scale);
}

/// q . k over hd values: full vectors into one accumulator, the lanes
/// summed, then the tail.
STEER_INLINE float headDot(const float *q, const float *k, int64_t hd) {
  V acc = vZero();
  int64_t d = 0;
  for (; d + kLanes <= hd; d += kLanes)
    acc = vFma(vLoad(q + d), vLoad(k + d), acc);
  float s = vSum(acc);
  for (; d < hd; ++d)
    s += q[d] * k[d];
  return s;
}

void attend(const float *q, const float *k, const float *v, int64_t keys,
            int64_t stride, int64_t hd, float scale, float *scores,
            float *out) {
  // Scores, four keys at a time (independent chains), each as headDot.
  int64_t j = 0;
  for (; j + 4 <= keys; j += 4) {
    const float *k0 = k + j * stride;
    V a0 = vZero(), a1 = vZero(), a2 = vZero(), a3 = vZero();
    int64_t d = 0;
    for (; d + kLanes <= hd; d += kLanes) {
      const V qv = vLoad(q + d);
      a0 = vFma(qv, vLoad(k0 + d), a0);
      a1 = vFma(qv, vLoad(k0 + stride + d), a1);
      a2 = vFma(qv, vLoad(k0 + 2 * stride + d), a2);
      a3 = vFma(qv, vLoad(k0 + 3 * stride + d), a3);
    }
    float s[4] = {vSum(a0), vSum(a1), vSum(a2), vSum(a3)};
    for (int u = 0; u < 4; ++u) {
      for (int64_t t = d; t < hd; ++t)
        s[u] += q[t] * k0[u * stride + t];
      scores[j + u] = s[u] * scale;
    }
  }
  for (; j < keys; ++j)
    scores[j] = headDot(q, k + j * stride, hd) * scale;

  // Softmax numerators exp(s - max) in place and their sum (fixed order).
  const float mx = maxValue(scores, keys);
  v16 total = v16{};
  for (j = 0; j + 16 <= keys; j += 16) {
    v16 x;
    std::memcpy(&x, scores + j, sizeof(x));
    x = expNonPositive(x - mx);
    std::memcpy(scores + j, &x, sizeof(x));
    total += x;
  }
  if (j < keys) {
    v16 x = v16{} - __builtin_inff();
    std::memcpy(&x, scores + j, (keys - j) * sizeof(float));
    x = expNonPositive(x - mx);
    std::memcpy(scores + j, &x, (keys - j) * sizeof(float));
    total += x;
  }
  const float inv = 1.0f / hsum(total);

  // out = sum_j p_j v_j / sum: up to 8 vectors of d per pass over the
  // keys, then the tail of d.
  int64_t d = 0;
  for (; d + kLanes <= hd;) {
    const int64_t nc = (hd - d) / kLanes < 8 ? (hd - d) / kLanes : 8;
    switch (nc) {
#define STEER_WV(N)                                                            \
  case N:                                                                      \
    weightedValues<N>(scores, v + d, keys, stride, inv, out + d);              \
    break;
      STEER_WV(1)
      STEER_WV(2)
      STEER_WV(3)
      STEER_WV(4)
      STEER_WV(5)
      STEER_WV(6)
      STEER_WV(7)
      STEER_WV(8)
#undef STEER_WV
    }
    d += nc * kLanes;
  }
  for (; d < hd; ++d) {
    float acc = 0;
    for (j = 0; j < keys; ++j)
      acc += scores[j] * v[j * stride + d];
    out[d] = acc * inv;
  }
}

#define STEER_STR2(x) #x
#define STEER_STR(x) STEER_STR2(x)

const Table kTable = {STEER_STR(STEER_ISA_NS),
                      gemmBf16,
                      gemmF32,
                      widenBf16,
                      widenF16,
                      dot,
                      sumExp,
                      maxValue,
                      axpy,
                      attend,
                      siluMul};

} // namespace

const Table &table() { return kTable; }

} // namespace steer::kernels::isa::STEER_ISA_NS
