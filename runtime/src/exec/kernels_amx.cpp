//===- kernels_amx.cpp - bf16 linear layers on Intel AMX ------------------===//
//
// y = x . W^T with W stored in bfloat16, on AMX tiles. The weights are the
// A operand, read in place (16 rows of W per tile, K in steps of 32); x is
// split into bf16 high and low parts (x = hi + lo to 16 significant bits)
// packed as the B operand, so the result keeps float32-level accuracy
// (relative error about 2^-16 per product) while the products run on the
// matrix unit. Every output is accumulated in the same order whatever the
// number of rows, so cached and uncached generation stay bit-identical.
//
// This file is compiled with AMX enabled; the caller checks `amxUsable()`
// (CPU support and the kernel's permission) before calling in.
//
//===----------------------------------------------------------------------===//
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cpuid.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace steer::kernels {

namespace {

struct TileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr int64_t kPrefetch = 6; // k chunks (cache lines) ahead

void configure() {
  TileConfig cfg;
  // tmm0-3: C, 16 x 16 float; tmm4: A, 16 x 32 bf16; tmm5/6: B hi/lo,
  // 16 k-pairs x 16 columns x 2 bf16.
  for (int t = 0; t < 7; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

} // namespace

bool amxUsable() {
  static const bool usable = [] {
    if (const char *off = std::getenv("STEER_NO_AMX");
        off && *off && *off != '0')
      return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
      return false;
    const bool tile = d & (1u << 24), bf16 = d & (1u << 22);
    if (!tile || !bf16)
      return false;
    // The packing uses AVX512-BF16 conversions (CPUID.7.1:EAX bit 5).
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5)))
      return false;
    // Linux hands out AMX state only on request (ARCH_REQ_XCOMP_PERM).
    constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
  }();
  return usable;
}

/// y[m, n] (row stride ldy) = x[m, k] . w[n, k]^T for bf16 w; k % 32 == 0.
void linearAmxBf16(const float *x, int64_t m, int64_t k, const uint16_t *w,
                   int64_t n, float *y, int64_t ldy, int threads) {
  const int64_t mBlocks = (m + 15) / 16, kChunks = k / 32;
  // B operands: per (m block, k chunk) a 16 x 64-byte tile of k pairs.
  const size_t tileElems = 16 * 32;
  std::vector<uint16_t> hi(mBlocks * kChunks * tileElems, 0),
      lo(mBlocks * kChunks * tileElems, 0);
  // Each pair of bf16 values (k = 2r, 2r + 1) of x row i is one 32-bit word
  // of the B tile, at word r * 16 + (i % 16).
  const __m512i words = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(16));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t mb = i / 16, col = i % 16;
    const __m512i idx = _mm512_add_epi32(words, _mm512_set1_epi32(col));
    for (int64_t kc = 0; kc < kChunks; ++kc) {
      const float *src = x + i * k + kc * 32;
      __m512 a = _mm512_loadu_ps(src), b = _mm512_loadu_ps(src + 16);
      __m512bh h = _mm512_cvtne2ps_pbh(b, a); // round to nearest even
      // hi back to float: bf16 bits shifted into the high half.
      __m512i hbits = reinterpret_cast<__m512i>(h);
      __m512 ha = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm512_castsi512_si256(hbits)), 16));
      __m512 hb = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hbits, 1)), 16));
      __m512bh l =
          _mm512_cvtne2ps_pbh(_mm512_sub_ps(b, hb), _mm512_sub_ps(a, ha));
      uint16_t *hd = hi.data() + (mb * kChunks + kc) * tileElems;
      uint16_t *ld = lo.data() + (mb * kChunks + kc) * tileElems;
      _mm512_i32scatter_epi32(hd, idx, hbits, 4);
      _mm512_i32scatter_epi32(ld, idx, reinterpret_cast<__m512i>(l), 4);
    }
  }
  // Four 16-row blocks of W share each pair of B tiles: C0..C3 in tmm0-3,
  // A in tmm4, B hi/lo in tmm5/6. Each output still accumulates k chunk by
  // k chunk, hi then lo, so the order does not depend on the grouping.
  const int64_t nBlocks = (n + 15) / 16, nGroups = (nBlocks + 3) / 4;
  const int nt = std::max(1, std::min<int>(threads, static_cast<int>(nGroups)));
#pragma omp parallel num_threads(nt)
  {
    configure();
    alignas(64) float c[4][16 * 16];
    std::vector<uint16_t> tail;
#pragma omp for schedule(static)
    for (int64_t g = 0; g < nGroups; ++g) {
      const int64_t nb0 = g * 4;
      const int cnt = static_cast<int>(std::min<int64_t>(4, nBlocks - nb0));
      const uint16_t *a[4];
      int64_t rows[4];
      for (int b = 0; b < cnt; ++b) {
        rows[b] = std::min<int64_t>(16, n - (nb0 + b) * 16);
        a[b] = w + (nb0 + b) * 16 * k;
        if (rows[b] < 16) {
          // The last block reads a zero-padded copy, never past the weights.
          tail.assign(16 * k, 0);
          std::memcpy(tail.data(), a[b], rows[b] * k * sizeof(uint16_t));
          a[b] = tail.data();
        }
      }
      const int64_t stride = k * sizeof(uint16_t);
      for (int64_t mb = 0; mb < mBlocks; ++mb) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int64_t kc = 0; kc < kChunks; ++kc) {
          // Each k chunk is one cache line of each of up to 64 weight rows:
          // more streams than the hardware prefetcher follows, so fetch a
          // few chunks ahead by hand.
          if (kc + kPrefetch < kChunks)
            for (int b = 0; b < cnt; ++b)
              for (int r = 0; r < 16; ++r)
                _mm_prefetch(reinterpret_cast<const char *>(
                                 a[b] + r * k + (kc + kPrefetch) * 32),
                             _MM_HINT_T0);
          _tile_loadd(5, hi.data() + (mb * kChunks + kc) * tileElems, 64);
          _tile_loadd(6, lo.data() + (mb * kChunks + kc) * tileElems, 64);
#define STEER_AMX_BLOCK(B)                                                     \
  if (B < cnt) {                                                               \
    _tile_loadd(4, a[B] + kc * 32, stride);                                    \
    _tile_dpbf16ps(B, 4, 5);                                                   \
    _tile_dpbf16ps(B, 4, 6);                                                   \
  }
          STEER_AMX_BLOCK(0)
          STEER_AMX_BLOCK(1)
          STEER_AMX_BLOCK(2)
          STEER_AMX_BLOCK(3)
#undef STEER_AMX_BLOCK
        }
        _tile_stored(0, c[0], 64);
        _tile_stored(1, c[1], 64);
        _tile_stored(2, c[2], 64);
        _tile_stored(3, c[3], 64);
        const int64_t cols = std::min<int64_t>(16, m - mb * 16);
        for (int b = 0; b < cnt; ++b)
          for (int64_t j = 0; j < cols; ++j)
            for (int64_t r = 0; r < rows[b]; ++r)
              y[(mb * 16 + j) * ldy + (nb0 + b) * 16 + r] = c[b][r * 16 + j];
      }
    }
    _tile_release();
  }
}

} // namespace steer::kernels
