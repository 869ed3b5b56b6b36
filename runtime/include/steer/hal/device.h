//===- device.h - The device layer under the engine -------------*- C++ -*-===//
//
// A device owns memory and runs the op set of a Steerling forward on it; the
// engine (exec/engine.h) only orchestrates device ops and never computes
// itself. Models: ggml's backend interface and IREE's HAL.
//
// Addresses. Ops take and return device addresses (float * into Buffers the
// device allocated, and Weights it bound). Only the device's ops read them;
// the engine moves data in and out with upload/download. The CPU device's
// memory is host memory and its weights alias the checkpoint's memory map
// (no copy); a GPU device uploads weights once and keeps activations and
// the KV cache on the device.
//
// Control data (token ids, which rows are masked, interventions' concept
// lists, penalised token sets) is passed as host spans: it is small, and a
// GPU device copies what it needs.
//
// Every op returns a Status: a device that cannot run an op says why
// (kUnavailable, kUnsupported), never computes something else.
//
// Determinism: a device computes every output row with the same operations
// whatever the number of rows in the call, so cached and uncached
// generation agree bit for bit on one device and thread count.
//
// Conformance: test/unit/device_cts_test.cpp checks every op of every
// device this machine has against plain scalar code, with the tolerances
// stated there. A device that fails it is not a device.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"
#include "steer/model/config.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace steer {
struct ForwardOutputs;
struct WeightIntervention;
} // namespace steer

namespace steer::hal {

/// What a device reports about itself.
struct DeviceInfo {
  std::string backend;      // "cpu", "cuda"
  std::string name;         // "AMD EPYC", "NVIDIA H200"
  std::string detail;       // "2 threads, avx2, fma", "sm_90, driver 13.0"
  uint64_t memoryBytes = 0; // 0 when unknown
};

class Device;

/// An allocation of float32 values in a device's memory; frees it when
/// destroyed. Move-only; must not outlive its device.
class Buffer {
public:
  Buffer() = default;
  Buffer(Buffer &&other) noexcept { *this = std::move(other); }
  Buffer &operator=(Buffer &&other) noexcept;
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  ~Buffer();

  /// The device address of the first value (for the device's ops).
  float *data() const { return data_; }
  int64_t size() const { return size_; }

private:
  friend class Device;
  Device *device_ = nullptr;
  float *data_ = nullptr;
  int64_t size_ = 0;
};

/// A weight as the device reads it: `rows` x `cols` elements of `dtype`
/// (f32, f16 or bf16), row-major, at a device address.
struct Weight {
  const void *data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;
  /// The binding device's name for what it keeps of this weight (the CPU
  /// device: its packed copy, made at the first linear layer that reads
  /// it); unique per bindWeight call, never reused, so a weight bound
  /// again at the same address never meets a stale copy.
  uint64_t handle = 0;
  bool present() const { return data != nullptr; }
};

/// The attention prologue of one layer: how qkv rows become queries and
/// cached keys and values.
struct QkvSpec {
  int64_t nHead = 0, nKv = 0, headDim = 0;
  std::optional<float> clip;   // clamp every qkv value to [-clip, clip]
  Weight qNorm, kNorm;         // per-head RMSNorm gains (absent: none)
  double normEps = 1e-5;
  const float *invFreq = nullptr; // RoPE inverse frequencies (device), null: none
};

/// The known (dense) concept head.
struct KnownHeadSpec {
  Weight predictor, embedding; // [C, D] each
  int64_t nConcepts = 0, width = 0;
  std::optional<int64_t> topk, topkFeatures;
  bool topkOnLogits = false;
};

/// The factorized unknown concept head.
struct UnknownHeadSpec {
  Weight down, up, coef, basis; // [r, D], [C, r], [C, r], [D, r]
  int64_t nConcepts = 0, rank = 0, width = 0;
  std::optional<int64_t> topk;
  bool applyTopk = false;
};

/// What the heads return beside features (host, filled when asked).
struct HeadRequest {
  bool denseWeights = false; // ForwardOutputs::knownWeights
  bool topk = false;         // top-k lists of both heads
};

/// The logit epilogue of one generation step, per row: subtract the bias,
/// apply the repetition penalty to `penalized` tokens, ban `banned` tokens
/// (-inf), and return the row's confidence (its largest softmax
/// probability).
struct EpilogueSpec {
  const float *bias = nullptr; // [vocab] device address, null: none
  std::span<const int64_t> penalized;
  float penalty = 1.0f;
  std::span<const int64_t> banned;
};

class Device {
public:
  virtual ~Device() = default;
  virtual DeviceInfo info() const = 0;
  /// Whether host memory is this device's memory (the CPU device): then a
  /// host address is a device address and staging copies are skipped.
  virtual bool sharesHostMemory() const { return false; }

  // ---- Memory ----------------------------------------------------------
  /// `n` float32 values, zeroed.
  StatusOr<Buffer> allocate(int64_t n);
  /// A checkpoint tensor as a weight of `rows` x `cols` (the CPU aliases
  /// the mapped bytes; a GPU uploads them).
  virtual StatusOr<Weight> bindWeight(const void *data, DType dtype,
                                      int64_t rows, int64_t cols) = 0;
  virtual Status upload(const float *host, float *dst, int64_t n) = 0;
  virtual Status download(const float *src, float *host, int64_t n) = 0;
  virtual Status copy(const float *src, float *dst, int64_t n) = 0;

  // ---- Backbone ---------------------------------------------------------
  /// out[i] = row ids[i] of `table` ([vocab, D]), widened.
  virtual Status embed(const Weight &table, std::span<const int64_t> ids,
                       float *out) = 0;
  /// y[m, n] (row stride ldy) = x[m, k] . w[n, k]^T.
  virtual Status linear(const float *x, int64_t m, int64_t k, const Weight &w,
                        float *y, int64_t ldy) = 0;
  /// x[rows, d] (row stride `stride`) <- x / rms(x) * gain, in place.
  virtual Status rmsNorm(float *x, int64_t rows, int64_t d, int64_t stride,
                         const Weight &gain, double eps) = 0;
  /// x[0, n) += y[0, n).
  virtual Status add(float *x, const float *y, int64_t n) = 0;
  /// qkv [m, (nHead + 2 nKv) headDim] of absolute rows [r0, r0 + m): q rows
  /// out ([m, nHead headDim]); keys and values into rows r0.. of the cache
  /// ([capacity, nKv headDim] each); clip, qk-norm and RoPE as `spec` says.
  virtual Status attentionPrologue(const QkvSpec &spec, float *qkv, int64_t m,
                                   int64_t r0, float *q, float *keys,
                                   float *values) = 0;
  /// Block-causal attention of query rows [r0, r1) over the cached keys and
  /// values [0, min(total, (q / block + 1) block)).
  virtual Status attention(const float *q, const float *keys,
                           const float *values, int64_t r0, int64_t r1,
                           int64_t total, int64_t block, int64_t nHead,
                           int64_t nKv, int64_t headDim, float *out) = 0;
  /// act[m, h] from the MLP's first projection fc[m, h or 2h]: SwiGLU
  /// (silu(gate) * up, fc = [up, gate]) or the activation.
  virtual Status mlpActivation(const float *fc, int64_t m, int64_t h,
                               MlpType type, Activation activation,
                               float *act) = 0;
  /// out[d] = sum_i weights[i] * table row ids[i], added in list order
  /// (a known-weight row through the concept embeddings).
  virtual Status weightedRowSum(const Weight &table,
                                std::span<const int64_t> ids,
                                std::span<const float> weights,
                                float *out) = 0;
  /// x[i] += alpha * direction for the rows i of x[rows.size(), d] whose
  /// rows[i] is set (mask-aligned residual injection).
  virtual Status inject(float *x, int64_t d, std::span<const uint8_t> rows,
                        float alpha, const float *direction) = 0;

  // ---- Concept heads and composition ------------------------------------
  /// Known features [rows, D] of hidden states at absolute positions
  /// [pos0, pos0 + rows): concept logits clamped to [-15, 15], sigmoid
  /// weights, top-k, then (when `iv` is active) the intervention at its
  /// positions: profile, overrides, folded features, the dense sum.
  virtual Status knownHead(const KnownHeadSpec &spec, const float *hidden,
                           int64_t rows, int64_t pos0,
                           const WeightIntervention *iv,
                           const HeadRequest &request, float *features,
                           ForwardOutputs &out) = 0;
  /// Unknown features [rows, D]: logits through the factorized predictor,
  /// top-k, features through the factorized embeddings.
  virtual Status unknownHead(const UnknownHeadSpec &spec, const float *hidden,
                             int64_t rows, const HeadRequest &request,
                             float *features, ForwardOutputs &out) = 0;
  /// composed = forLm + known, forLm = unknown (or hidden - known when
  /// `unknown` is null), plus epsilon = hidden - (forLm + known) when
  /// `epsilon`; `epsilonOut` (may be null) receives it (zero when dropped).
  virtual Status compose(const float *hidden, const float *known,
                         const float *unknown, int64_t n, bool epsilon,
                         float *composed, float *epsilonOut) = 0;

  // ---- Gradients --------------------------------------------------------
  // Reverse-mode derivatives of the backbone's ops with respect to their
  // activation inputs (never their weights), for attributing an output to
  // the input embeddings (exec/input_attribution.h). Each takes what the
  // forward op read and the gradient of what it wrote, and writes
  // (overwrites) the gradient of its input. A device without them answers
  // kUnsupported.

  /// dx[m, w.cols] = dy[m, w.rows] . w: the input gradient of linear().
  virtual Status linearBackward(const float *dy, int64_t m, const Weight &w,
                                float *dx);
  /// The input gradient of rmsNorm() at `x` (the rows before the norm),
  /// rows of stride d.
  virtual Status rmsNormBackward(const float *x, const float *dy,
                                 int64_t rows, int64_t d, const Weight &gain,
                                 double eps, float *dx);
  /// The input gradient of attentionPrologue() for rows [0, m): `qkv` is
  /// the linear output before the prologue (before the clip), `dq` the
  /// gradient of the query rows, `dkeys`/`dvalues` of key and value rows
  /// [0, m); dqkv [m, (nHead + 2 nKv) headDim]. The clip passes the
  /// gradient where -clip <= qkv <= clip, as torch.clamp does.
  virtual Status attentionPrologueBackward(const QkvSpec &spec,
                                           const float *qkv, int64_t m,
                                           const float *dq,
                                           const float *dkeys,
                                           const float *dvalues, float *dqkv);
  /// Gradients of attention() over a whole sequence of `rows` rows (r0 = 0,
  /// total = rows): dq [rows, nHead headDim], dkeys and dvalues [rows, nKv
  /// headDim], from dout.
  virtual Status attentionBackward(const float *q, const float *keys,
                                   const float *values, int64_t rows,
                                   int64_t block, int64_t nHead, int64_t nKv,
                                   int64_t headDim, const float *dout,
                                   float *dq, float *dkeys, float *dvalues);
  /// The input gradient of mlpActivation(): dfc [m, h or 2h] from dact.
  virtual Status mlpActivationBackward(const float *fc, int64_t m, int64_t h,
                                       MlpType type, Activation activation,
                                       const float *dact, float *dfc);
  /// The gradient of the hidden states from the gradient `dfeatures` of
  /// the known features at those rows, the head's top-k selection held
  /// fixed: `ids` and `logits` ([rows, k], from the forward) list the
  /// entries whose weight is sigmoid(logit) of that row (id -1: none);
  /// dh += sum_i (dfeatures . E_i) sigmoid'(l_i) [|l_i| < 15] P_i.
  virtual Status knownHeadBackward(const KnownHeadSpec &spec, int64_t rows,
                                   std::span<const int64_t> ids,
                                   std::span<const float> logits, int64_t k,
                                   const float *dfeatures, float *dh);
  /// The same for the factorized unknown head (its top-k ids and logits):
  /// through the basis, the coefficients, predictor_up and predictor_down.
  virtual Status unknownHeadBackward(const UnknownHeadSpec &spec, int64_t rows,
                                     std::span<const int64_t> ids,
                                     std::span<const float> logits, int64_t k,
                                     const float *dfeatures, float *dh);

  // ---- Generation -------------------------------------------------------
  /// The logit epilogue of `rows` rows of `vocab` logits, in place;
  /// confidence[rows] (host) receives each row's largest softmax
  /// probability.
  virtual Status logitEpilogue(float *logits, int64_t rows, int64_t vocab,
                               const EpilogueSpec &spec,
                               float *confidence) = 0;
  /// out[rows] (host): the index of each row's first largest logit
  /// (greedy decoding).
  virtual Status argmax(const float *logits, int64_t rows, int64_t vocab,
                        int64_t *out) = 0;

protected:
  friend class Buffer;
  virtual StatusOr<float *> allocateRaw(int64_t n) = 0;
  virtual void release(float *data) = 0;
};

/// The CPU device: host memory, the kernels of exec/kernels.h (each ISA's
/// path chosen at run time; STEER_ISA forces one), OpenMP threads. Fails
/// when STEER_ISA names a path this CPU cannot run.
StatusOr<std::unique_ptr<Device>> createCpuDevice();

/// Probes the CUDA driver (libcuda.so.1) at run time and lists its devices.
/// kUnavailable, with the reason, when there is no driver or no device.
StatusOr<std::vector<DeviceInfo>> probeCudaDevices();

} // namespace steer::hal
