//===- kernels.h - CPU kernels of the Steerling forward ---------*- C++ -*-===//
//
// The arithmetic of one forward pass on the CPU. Weights are read in their
// stored dtype (f32, f16 or bf16) and widened in registers; activations and
// accumulation are float32.
//
// Determinism: every output row is computed by the same instruction
// sequence whatever the number of rows in the call, so a cached generation
// step that recomputes fewer rows gives bit-identical values to a full
// recomputation. Work is split across threads by output columns only.
//
// Instruction sets: the vector kernels are compiled once per path (AVX-512,
// AVX2+FMA, a portable baseline; kernels_simd.cpp) and the widest the CPU
// runs is chosen at run time, with bf16 layers on AMX where the CPU has it.
// STEER_ISA=amx|avx512|avx2|portable forces a path (see docs/building.md).
//
// Linear layers read their weights packed in panels of 16 output columns
// (PackedWeights, built once per weight by the CPU device); each output is
// one fused multiply-add chain over k in order, so the AVX2 and AVX-512
// paths give the same values.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

namespace steer::kernels {

/// Weights of a linear layer as stored: n rows of k elements.
struct WeightRef {
  const void *data = nullptr;
  DType dtype = DType::kF32;
};

/// A kernel path: the instruction set the vector kernels are compiled for.
/// kAmx is the AVX-512 path with bf16 layers on the AMX matrix unit.
enum class Isa { kPortable, kAvx2, kAvx512, kAmx };

const char *isaName(Isa isa);
/// The paths this CPU runs, widest first (kPortable always).
std::vector<Isa> supportedIsas();
/// "amx", "avx512", "avx2" or "portable"; an error naming the paths this
/// CPU runs when it lacks the one named or the name is unknown.
StatusOr<Isa> parseIsa(std::string_view name);
/// STEER_ISA when set (parsed as above), otherwise the widest path.
StatusOr<Isa> isaFromEnvironment();
/// The path the kernels run (STEER_ISA when valid, else the widest).
Isa activeIsa();
/// What activeIsa() starts as: STEER_ISA when valid, else the widest.
Isa defaultIsa();
/// Switches every kernel to `isa` (the widest path when the CPU lacks it);
/// for tests and benchmarks that compare paths. Not thread-safe against
/// kernels running at the same time.
void setActiveIsa(Isa isa);

/// A weight [n, k] packed for `linear`: panels of 16 output columns, each
/// [k][16], bf16 kept as bf16, f16 and f32 as f32, zero columns past n.
class PackedWeights {
public:
  PackedWeights(WeightRef w, int64_t n, int64_t k);
  bool ok() const { return data_ != nullptr; }
  int64_t rows() const { return n_; }
  int64_t cols() const { return k_; }
  bool isBf16() const { return bf16_; }
  const void *data() const { return data_.get(); }
  size_t bytes() const;

private:
  struct Free {
    void operator()(uint8_t *p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  int64_t n_ = 0, k_ = 0;
  bool bf16_ = false;
};

/// y[m, n] = x[m, k] . w[n, k]^T (the PyTorch Linear layout). `ldy` is the
/// row stride of y (>= n) so results can land in a column slice. `packed`
/// (w packed, or null: packed for this call) is read unless the layer runs
/// on AMX.
void linear(const float *x, int64_t m, int64_t k, WeightRef w, int64_t n,
            float *y, int64_t ldy, const PackedWeights *packed = nullptr);

/// Whether `linear` reads the packed weights for this shape on the active
/// path (false: AMX reads w as stored).
bool linearUsesPacked(DType dtype, int64_t n, int64_t k);

/// One row of w widened to float32.
void loadRow(WeightRef w, int64_t k, int64_t row, float *out);

/// x[m, d] <- x / rms(x) * weight, rms over each row (eps inside the sqrt),
/// in place; `stride` is the distance between rows.
void rmsNorm(float *x, int64_t m, int64_t d, int64_t stride, WeightRef weight,
             double eps);

/// Rotary embedding (rotate-half layout) of `heads` heads of size hd at
/// absolute position `pos`, in place.
void rope(float *x, int64_t heads, int64_t hd, int64_t pos,
          const float *invFreq);

/// Block-causal attention for query rows [r0, r1) over keys [0, kEnd(q)),
/// kEnd(q) = min(total, (q / block + 1) * block). q: [rows, nHead*hd] for the
/// query rows; k, v: [total, nKv*hd] (all key rows). out: [rows, nHead*hd].
void blockCausalAttention(const float *q, const float *k, const float *v,
                          int64_t r0, int64_t r1, int64_t total, int64_t block,
                          int64_t nHead, int64_t nKv, int64_t hd, float *out);

float dot(const float *a, const float *b, int64_t n);
/// sum_i exp(x[i] - shift) in float32 (x may hold -inf), vectorised; for
/// softmax denominators over a vocabulary.
float sumExp(const float *x, int64_t n, float shift);
/// Largest of x[0..n) (-inf when all are -inf; x holds no NaN), vectorised.
float maxValue(const float *x, int64_t n);
/// Index of the first largest element (std::max_element's answer).
int64_t argMax(const float *x, int64_t n);
void axpy(float a, const float *x, float *y, int64_t n);
/// out[i] = silu(gate[i]) * up[i] (SwiGLU), vectorised; silu(g) =
/// g * sigmoid(g), exp evaluated as exp(-|g|) with a polynomial (relative
/// error < 2e-7).
void siluMul(const float *gate, const float *up, float *out, int64_t n);

/// The variant `linear` runs for weights of `dtype` shaped [n, k], by
/// shape only (never by row count, so a row's value does not depend on the
/// batch): "amx_bf16" (bfloat16 on the matrix unit; chosen only when
/// `matrixUnit`, i.e. the machine has one) or "fma_f32" / "fma_bf16" /
/// "fma_f16" (vector FMA, weights widened to float32). The compiler
/// records it per site in an artifact's kernel plan.
const char *linearVariant(DType dtype, int64_t n, int64_t k, bool matrixUnit);

/// Number of worker threads the kernels use (default: one per core).
void setThreads(int threads);
int threads();

} // namespace steer::kernels
