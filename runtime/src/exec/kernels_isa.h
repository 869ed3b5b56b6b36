//===- kernels_isa.h - The per-instruction-set kernel tables ----*- C++ -*-===//
//
// kernels_simd.cpp is compiled once per instruction set (portable, AVX2+FMA,
// AVX-512), each copy in its own namespace with its own compiler flags, and
// each exports one table of plain function pointers. kernels.cpp picks a
// table at run time (the CPU's widest, or STEER_ISA) and calls through it.
//
// This header is included by those copies, so it must stay free of inline
// functions and templates: a function defined in a header and compiled
// with AVX-512 flags could be picked by the linker for the whole program
// and run on a CPU without AVX-512.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>

namespace steer::kernels::isa {

/// Columns per packed panel: a packed weight holds its n rows in panels of
/// 16 output columns, each panel [k][16] (element t of column c of panel p
/// at p * k * 16 + t * 16 + c); the last panel is padded with zero columns.
constexpr int64_t kPanel = 16;

struct Table {
  const char *name;
  /// y[m, ldy] columns [16 * p0, min(n, 16 * p1)) = x[m, k] . W^T for W
  /// packed in panels (bf16 or f32 elements). Every output is one fused
  /// multiply-add chain over t = 0..k-1 in order, whatever the tiling.
  void (*gemmBf16)(const float *x, int64_t m, int64_t k, const uint16_t *w,
                   int64_t n, int64_t p0, int64_t p1, float *y, int64_t ldy);
  void (*gemmF32)(const float *x, int64_t m, int64_t k, const float *w,
                  int64_t n, int64_t p0, int64_t p1, float *y, int64_t ldy);
  void (*widenBf16)(const uint16_t *src, int64_t n, float *out);
  void (*widenF16)(const uint16_t *src, int64_t n, float *out);
  float (*dot)(const float *a, const float *b, int64_t n);
  float (*sumExp)(const float *x, int64_t n, float shift);
  float (*maxValue)(const float *x, int64_t n);
  void (*axpy)(float a, const float *x, float *y, int64_t n);
  /// One query row of one head: scores[j] = q . k_j * scale for `keys`
  /// keys (row stride `stride`), softmax, out[hd] = sum_j p_j v_j.
  /// `scores` is scratch of `keys` floats.
  void (*attend)(const float *q, const float *k, const float *v,
                 int64_t keys, int64_t stride, int64_t hd, float scale,
                 float *scores, float *out);
  /// out[i] = silu(gate[i]) * up[i] (SwiGLU).
  void (*siluMul)(const float *gate, const float *up, float *out, int64_t n);
};

namespace portable {
const Table &table();
}
#if defined(__x86_64__)
namespace avx2 {
const Table &table();
}
namespace avx512 {
const Table &table();
}
#endif

} // namespace steer::kernels::isa
