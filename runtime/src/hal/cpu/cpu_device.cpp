//===- cpu_device.cpp - The CPU device ------------------------------------===//
//
// Host memory and the kernels of steer/exec/kernels.h (vectorised per ISA,
// chosen at run time; OpenMP over output columns) behind the device
// interface. Weights alias the checkpoint's memory map.
//
//===----------------------------------------------------------------------===//
#include "steer/exec/engine.h"
#include "steer/exec/kernels.h"
#include "steer/hal/device.h"
#include "cpu_gradients.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>

#include <sys/mman.h>

namespace steer::hal {

namespace {

using kernels::WeightRef;

WeightRef ref(const Weight &w) { return {w.data, w.dtype}; }

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float clamp15(float x) { return std::min(15.0f, std::max(-15.0f, x)); }

/// Indices of the k largest values of v[0, n), largest first; ties keep the
/// lower index first.
void topk(const float *v, int64_t n, int64_t k, int64_t *out) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [v](int64_t a, int64_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  std::copy(idx.begin(), idx.begin() + k, out);
}

float activate(Activation a, float x) {
  switch (a) {
  case Activation::kRelu:
    return x > 0 ? x : 0;
  case Activation::kSilu:
    return x * sigmoid(x);
  case Activation::kGelu: {
    // The reference uses nn.GELU(approximate="tanh").
    constexpr float c = 0.7978845608028654f; // sqrt(2 / pi)
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
  }
  }
  return x;
}

std::string cpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

class CpuDevice final : public Device {
  /// Each weight's packed copy for linear layers, built at its first use
  /// (tables read by row, such as an embedding, are never packed unless a
  /// layer also multiplies by them, as a tied lm_head does).
  std::mutex packMutex_;
  std::map<uint64_t, std::unique_ptr<kernels::PackedWeights>> packed_;
  /// Handles are unique in the process, across devices.
  static inline std::atomic<uint64_t> nextHandle_{1};

  /// The packed copy of a bound weight (null for one not bound here: it is
  /// packed for each call).
  StatusOr<const kernels::PackedWeights *> packedFor(const Weight &w) {
    std::lock_guard<std::mutex> lock(packMutex_);
    if (w.handle == 0)
      return nullptr;
    auto &slot = packed_[w.handle];
    if (!slot) {
      auto p = std::make_unique<kernels::PackedWeights>(ref(w), w.rows, w.cols);
      if (!p->ok())
        return makeError(StatusCode::kUnavailable,
                         "cpu device: no memory to pack a [", w.rows, ", ",
                         w.cols, "] weight for the matrix kernels");
      slot = std::move(p);
    }
    return slot.get();
  }

  /// Each weight's transpose (for linearBackward: dy . w is a linear layer
  /// over w^T), in the weight's dtype, with its packed copy; built at the
  /// first backward through the weight.
  struct Transposed {
    std::vector<uint8_t> bytes;
    std::unique_ptr<kernels::PackedWeights> packed;
  };
  std::map<uint64_t, std::unique_ptr<Transposed>> transposed_;

  StatusOr<const Transposed *> transposedFor(const Weight &w,
                                             std::unique_ptr<Transposed> &own) {
    std::unique_lock<std::mutex> lock(packMutex_, std::defer_lock);
    std::unique_ptr<Transposed> *slot = &own;
    if (w.handle != 0) {
      lock.lock();
      slot = &transposed_[w.handle];
    }
    if (!*slot) {
      auto t = std::make_unique<Transposed>();
      const size_t es = dtypeSize(w.dtype);
      t->bytes.resize(static_cast<size_t>(w.rows * w.cols) * es);
      const auto *src = static_cast<const uint8_t *>(w.data);
      for (int64_t r = 0; r < w.rows; ++r)
        for (int64_t c = 0; c < w.cols; ++c)
          std::memcpy(&t->bytes[(c * w.rows + r) * es],
                      src + (r * w.cols + c) * es, es);
      if (kernels::linearUsesPacked(w.dtype, w.cols, w.rows)) {
        t->packed = std::make_unique<kernels::PackedWeights>(
            kernels::WeightRef{t->bytes.data(), w.dtype}, w.cols, w.rows);
        if (!t->packed->ok())
          return makeError(StatusCode::kUnavailable,
                           "cpu device: no memory to pack the transpose of a "
                           "[", w.rows, ", ", w.cols, "] weight");
      }
      *slot = std::move(t);
    }
    return slot->get();
  }

  /// The backward of a concept head's weighted sum over a fixed selection,
  /// out_i = sum_j sigmoid(l_ij) E_j with l_ij = P_j . in_i (rows of width
  /// w): in_grad_i += sum_j (out_grad_i . E_j) sigmoid'(l_ij) [|l_ij| < 15]
  /// P_j over each row's listed ids (id -1: an empty slot).
  Status selectionBackward(const char *op, const Weight &E, const Weight &Pw,
                           int64_t n, int64_t w, int64_t rows,
                           std::span<const int64_t> ids,
                           std::span<const float> logits, int64_t kk,
                           const float *outGrad, float *inGrad) {
    if (static_cast<int64_t>(ids.size()) != rows * kk ||
        logits.size() != ids.size())
      return makeError(StatusCode::kInvalidArgument, op, ": ", ids.size(),
                       " ids and ", logits.size(), " logits for ", rows,
                       " rows of ", kk);
    std::vector<float> e(w), p(w);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t t = 0; t < kk; ++t) {
        const int64_t j = ids[i * kk + t];
        if (j < 0)
          continue;
        if (j >= n)
          return makeError(StatusCode::kOutOfRange, op, ": concept ", j,
                           " is outside [0, ", n, ")");
        const float l = logits[i * kk + t];
        if (!(std::fabs(l) < 15.0f))
          continue; // the clamp passes no gradient
        kernels::loadRow(ref(E), w, j, e.data());
        const float sg = sigmoid(l);
        const float c =
            kernels::dot(outGrad + i * w, e.data(), w) * sg * (1.0f - sg);
        kernels::loadRow(ref(Pw), w, j, p.data());
        kernels::axpy(c, p.data(), inGrad + i * w, w);
      }
    return okStatus();
  }

public:
  DeviceInfo info() const override {
    std::string detail = std::to_string(kernels::threads()) + " threads, " +
                         kernels::isaName(kernels::activeIsa()) +
                         " path (runs:";
    for (kernels::Isa i : kernels::supportedIsas())
      detail += std::string(" ") + kernels::isaName(i);
    detail += ")";
    return {"cpu", cpuModelName(), detail, 0};
  }

  bool sharesHostMemory() const override { return true; }

  StatusOr<Weight> bindWeight(const void *data, DType dtype, int64_t rows,
                              int64_t cols) override {
    if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
      return makeError(StatusCode::kUnsupported, "cpu device: weight dtype ",
                       dtypeName(dtype), " is not f32, f16 or bf16");
    if (!data || rows < 0 || cols < 0)
      return makeError(StatusCode::kInvalidArgument,
                       "cpu device: a weight needs data and a shape");
    return Weight{data, dtype, rows, cols, nextHandle_.fetch_add(1)};
  }

  Status upload(const float *host, float *dst, int64_t n) override {
    if (n > 0 && host != dst)
      std::memcpy(dst, host, n * sizeof(float));
    return okStatus();
  }
  Status download(const float *src, float *host, int64_t n) override {
    if (n > 0 && host != src)
      std::memcpy(host, src, n * sizeof(float));
    return okStatus();
  }
  Status copy(const float *src, float *dst, int64_t n) override {
    if (n > 0 && src != dst)
      std::memmove(dst, src, n * sizeof(float));
    return okStatus();
  }

  Status embed(const Weight &table, std::span<const int64_t> ids,
               float *out) override {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= table.rows)
        return makeError(StatusCode::kOutOfRange, "embed: id ", ids[i],
                         " at row ", i, " is outside the table's ",
                         table.rows, " rows");
      kernels::loadRow(ref(table), table.cols, ids[i], out + i * table.cols);
    }
    return okStatus();
  }

  Status linear(const float *x, int64_t m, int64_t k, const Weight &w,
                float *y, int64_t ldy) override {
    return linearRows(x, m, k, w, w.rows, y, ldy);
  }

  /// The first n outputs of a linear layer (a concept head's weights may
  /// hold padding rows past its concepts).
  Status linearRows(const float *x, int64_t m, int64_t k, const Weight &w,
                    int64_t n, float *y, int64_t ldy) {
    if (w.cols != k || n > w.rows || ldy < n || m < 0)
      return makeError(StatusCode::kInvalidArgument, "linear: input width ",
                       k, ", ", n, " outputs and output stride ", ldy,
                       " do not fit a [", w.rows, ", ", w.cols, "] weight");
    const kernels::PackedWeights *packed = nullptr;
    if (kernels::linearUsesPacked(w.dtype, n, k)) {
      STEER_ASSIGN_OR_RETURN(packed, packedFor(w));
    }
    kernels::linear(x, m, k, ref(w), n, y, ldy, packed);
    return okStatus();
  }

  Status rmsNorm(float *x, int64_t rows, int64_t d, int64_t stride,
                 const Weight &gain, double eps) override {
    if (gain.rows * gain.cols != d)
      return makeError(StatusCode::kInvalidArgument, "rms_norm: a gain of ",
                       gain.rows * gain.cols, " values for rows of ", d);
    kernels::rmsNorm(x, rows, d, stride, ref(gain), eps);
    return okStatus();
  }

  Status add(float *x, const float *y, int64_t n) override {
    for (int64_t i = 0; i < n; ++i)
      x[i] += y[i];
    return okStatus();
  }

  Status attentionPrologue(const QkvSpec &s, float *qkv, int64_t m,
                           int64_t r0, float *q, float *keys,
                           float *values) override {
    const int64_t hd = s.headDim, D = s.nHead * hd, kvDim = s.nKv * hd;
    const int64_t width = D + 2 * kvDim;
    if (s.clip) {
      const float clip = *s.clip;
      for (int64_t i = 0; i < m * width; ++i)
        qkv[i] = std::min(clip, std::max(-clip, qkv[i]));
    }
    for (int64_t i = 0; i < m; ++i) {
      float *row = &qkv[i * width];
      float *qi = &q[i * D];
      float *ki = keys + (r0 + i) * kvDim;
      std::memcpy(qi, row, D * sizeof(float));
      std::memcpy(ki, row + D, kvDim * sizeof(float));
      std::memcpy(values + (r0 + i) * kvDim, row + D + kvDim,
                  kvDim * sizeof(float));
      if (s.qNorm.present()) {
        kernels::rmsNorm(qi, s.nHead, hd, hd, ref(s.qNorm), s.normEps);
        kernels::rmsNorm(ki, s.nKv, hd, hd, ref(s.kNorm), s.normEps);
      }
      if (s.invFreq) {
        kernels::rope(qi, s.nHead, hd, r0 + i, s.invFreq);
        kernels::rope(ki, s.nKv, hd, r0 + i, s.invFreq);
      }
    }
    return okStatus();
  }

  Status attention(const float *q, const float *keys, const float *values,
                   int64_t r0, int64_t r1, int64_t total, int64_t block,
                   int64_t nHead, int64_t nKv, int64_t headDim,
                   float *out) override {
    if (r0 < 0 || r1 < r0 || total < r1 || block < 1 || nKv < 1 ||
        nHead % nKv != 0)
      return makeError(StatusCode::kInvalidArgument, "attention: rows [", r0,
                       ", ", r1, ") of ", total, ", block ", block, ", ",
                       nHead, "/", nKv, " heads");
    kernels::blockCausalAttention(q, keys, values, r0, r1, total, block,
                                  nHead, nKv, headDim, out);
    return okStatus();
  }

  Status mlpActivation(const float *fc, int64_t m, int64_t h, MlpType type,
                       Activation activation, float *act) override {
    const int64_t width = type == MlpType::kSwiGLU ? 2 * h : h;
    // Rows are independent; each value is the same whichever thread
    // computes it.
#pragma omp parallel for num_threads(kernels::threads()) schedule(static) \
    if (m * h >= (int64_t(1) << 15))
    for (int64_t i = 0; i < m; ++i) {
      const float *f = &fc[i * width];
      float *a = &act[i * h];
      if (type == MlpType::kSwiGLU) {
        // c_fc's output splits into (up, gate): silu(gate) * up.
        kernels::siluMul(f + h, f, a, h);
      } else {
        for (int64_t j = 0; j < h; ++j)
          a[j] = activate(activation, f[j]);
      }
    }
    return okStatus();
  }

  Status weightedRowSum(const Weight &table, std::span<const int64_t> ids,
                        std::span<const float> weights, float *out) override {
    if (ids.size() != weights.size())
      return makeError(StatusCode::kInvalidArgument, "weighted row sum: ",
                       ids.size(), " ids and ", weights.size(), " weights");
    const int64_t D = table.cols;
    std::vector<float> e(D);
    std::fill(out, out + D, 0.0f);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= table.rows)
        return makeError(StatusCode::kOutOfRange, "weighted row sum: id ",
                         ids[i], " is outside the table's ", table.rows,
                         " rows");
      kernels::loadRow(ref(table), D, ids[i], e.data());
      kernels::axpy(weights[i], e.data(), out, D);
    }
    return okStatus();
  }

  Status inject(float *x, int64_t d, std::span<const uint8_t> rows,
                float alpha, const float *direction) override {
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i])
        kernels::axpy(alpha, direction, &x[i * d], d);
    return okStatus();
  }

  Status knownHead(const KnownHeadSpec &k, const float *hidden, int64_t M,
                   int64_t pos0, const WeightIntervention *iv,
                   const HeadRequest &request, float *features,
                   ForwardOutputs &out) override;
  Status unknownHead(const UnknownHeadSpec &k, const float *hidden, int64_t M,
                     const HeadRequest &request, float *features,
                     ForwardOutputs &out) override;

  Status compose(const float *hidden, const float *known, const float *unknown,
                 int64_t n, bool epsilon, float *composed,
                 float *epsilonOut) override {
    // The reference's order of float operations: forLm = unknown (or
    // hidden - known), forLm += epsilon, composed = forLm + known.
    for (int64_t i = 0; i < n; ++i) {
      float forLm = unknown ? unknown[i] : hidden[i] - known[i];
      float eps = 0.0f;
      if (epsilon) {
        eps = hidden[i] - (forLm + known[i]);
        forLm = forLm + eps;
      }
      if (epsilonOut)
        epsilonOut[i] = eps;
      composed[i] = forLm + known[i];
    }
    return okStatus();
  }

  Status linearBackward(const float *dy, int64_t m, const Weight &w,
                        float *dx) override {
    if (m < 0 || !w.present())
      return makeError(StatusCode::kInvalidArgument, "linear_backward: ", m,
                       " rows through a [", w.rows, ", ", w.cols, "] weight");
    std::unique_ptr<Transposed> own;
    STEER_ASSIGN_OR_RETURN(const Transposed *t, transposedFor(w, own));
    kernels::linear(dy, m, w.rows, kernels::WeightRef{t->bytes.data(), w.dtype},
                    w.cols, dx, w.cols, t->packed.get());
    return okStatus();
  }

  Status rmsNormBackward(const float *x, const float *dy, int64_t rows,
                         int64_t d, const Weight &gain, double eps,
                         float *dx) override {
    if (gain.rows * gain.cols != d)
      return makeError(StatusCode::kInvalidArgument,
                       "rms_norm_backward: a gain of ", gain.rows * gain.cols,
                       " values for rows of ", d);
    cpu::rmsNormBackward(x, dy, rows, d, ref(gain), eps, dx);
    return okStatus();
  }

  Status attentionPrologueBackward(const QkvSpec &s, const float *qkv,
                                   int64_t m, const float *dq,
                                   const float *dkeys, const float *dvalues,
                                   float *dqkv) override {
    const int64_t hd = s.headDim, D = s.nHead * hd, kvDim = s.nKv * hd;
    const int64_t width = D + 2 * kvDim;
#pragma omp parallel for num_threads(kernels::threads()) schedule(static) \
    if (m * width >= (int64_t(1) << 15))
    for (int64_t i = 0; i < m; ++i) {
      const float *raw = qkv + i * width;
      float *g = dqkv + i * width;
      std::memcpy(g, dq + i * D, D * sizeof(float));
      std::memcpy(g + D, dkeys + i * kvDim, kvDim * sizeof(float));
      std::memcpy(g + D + kvDim, dvalues + i * kvDim, kvDim * sizeof(float));
      if (s.invFreq) {
        // RoPE's gradient is its transpose: the rotation back, by -pos
        // (sin is odd, so the same angles with the sine's sign flipped).
        kernels::rope(g, s.nHead, hd, -i, s.invFreq);
        kernels::rope(g + D, s.nKv, hd, -i, s.invFreq);
      }
      std::vector<float> clipped(raw, raw + width);
      if (s.clip)
        for (float &v : clipped)
          v = std::min(*s.clip, std::max(-*s.clip, v));
      if (s.qNorm.present()) {
        std::vector<float> tmp(hd);
        for (int64_t h = 0; h < s.nHead + s.nKv; ++h) {
          const bool isQ = h < s.nHead;
          const int64_t off = h * hd; // keys follow the queries
          cpu::rmsNormBackward(&clipped[off], g + off, 1, hd,
                               ref(isQ ? s.qNorm : s.kNorm), s.normEps,
                               tmp.data());
          std::memcpy(g + off, tmp.data(), hd * sizeof(float));
        }
      }
      if (s.clip)
        for (int64_t j = 0; j < width; ++j)
          if (!(raw[j] >= -*s.clip && raw[j] <= *s.clip))
            g[j] = 0.0f;
    }
    return okStatus();
  }

  Status attentionBackward(const float *q, const float *keys,
                           const float *values, int64_t rows, int64_t block,
                           int64_t nHead, int64_t nKv, int64_t headDim,
                           const float *dout, float *dq, float *dkeys,
                           float *dvalues) override {
    if (rows < 0 || block < 1 || nKv < 1 || nHead % nKv != 0)
      return makeError(StatusCode::kInvalidArgument, "attention_backward: ",
                       rows, " rows, block ", block, ", ", nHead, "/", nKv,
                       " heads");
    cpu::blockCausalAttentionBackward(q, keys, values, rows, block, nHead,
                                      nKv, headDim, dout, dq, dkeys, dvalues);
    return okStatus();
  }

  Status mlpActivationBackward(const float *fc, int64_t m, int64_t h,
                               MlpType type, Activation activation,
                               const float *dact, float *dfc) override {
    const int64_t width = type == MlpType::kSwiGLU ? 2 * h : h;
#pragma omp parallel for num_threads(kernels::threads()) schedule(static) \
    if (m * h >= (int64_t(1) << 15))
    for (int64_t i = 0; i < m; ++i) {
      const float *f = &fc[i * width];
      const float *da = &dact[i * h];
      float *g = &dfc[i * width];
      if (type == MlpType::kSwiGLU) {
        // act = silu(gate) * up with fc = [up, gate].
        for (int64_t j = 0; j < h; ++j) {
          const float up = f[j], gate = f[h + j];
          const float sg = 1.0f / (1.0f + std::exp(-gate));
          g[j] = da[j] * (gate * sg);
          g[h + j] = da[j] * up * cpu::siluDerivative(gate);
        }
      } else {
        for (int64_t j = 0; j < h; ++j)
          g[j] = da[j] * cpu::activationDerivative(activation, f[j]);
      }
    }
    return okStatus();
  }

  Status knownHeadBackward(const KnownHeadSpec &k, int64_t rows,
                           std::span<const int64_t> ids,
                           std::span<const float> logits, int64_t kk,
                           const float *dfeatures, float *dh) override {
    // features = sum_j sigmoid(l_j) embedding_j, l_j = predictor_j . h.
    return selectionBackward("known_head_backward", k.embedding, k.predictor,
                             k.nConcepts, k.width, rows, ids, logits, kk,
                             dfeatures, dh);
  }

  Status unknownHeadBackward(const UnknownHeadSpec &k, int64_t rows,
                             std::span<const int64_t> ids,
                             std::span<const float> logits, int64_t kk,
                             const float *dfeatures, float *dh) override {
    const int64_t D = k.width, r = k.rank;
    // features = wc . basis^T, wc = sum_j sigmoid(l_j) coef_j,
    // l_j = up_j . hc, hc = down . h.
    std::vector<float> dwc(rows * r), dhc(rows * r, 0.0f), add(rows * D);
    STEER_RETURN_IF_ERROR(linearBackward(dfeatures, rows, k.basis, dwc.data()));
    STEER_RETURN_IF_ERROR(selectionBackward("unknown_head_backward", k.coef,
                                            k.up, k.nConcepts, r, rows, ids,
                                            logits, kk, dwc.data(),
                                            dhc.data()));
    STEER_RETURN_IF_ERROR(linearBackward(dhc.data(), rows, k.down, add.data()));
    for (int64_t i = 0; i < rows * D; ++i)
      dh[i] += add[i];
    return okStatus();
  }

  Status logitEpilogue(float *logits, int64_t rows, int64_t V,
                       const EpilogueSpec &s, float *confidence) override {
    for (int64_t t : s.banned)
      if (t < 0 || t >= V)
        return makeError(StatusCode::kOutOfRange, "logit epilogue: banned "
                         "token ", t, " is outside the vocabulary of ", V);
    // Rows are independent: split them over the threads (each row is a
    // full-vocabulary pass, the largest serial work of a step otherwise).
#pragma omp parallel for schedule(static)                                      \
    num_threads(kernels::threads()) if (rows * V >= (int64_t(1) << 18))
    for (int64_t i = 0; i < rows; ++i) {
      float *lg = &logits[i * V];
      if (s.bias)
        for (int64_t t = 0; t < V; ++t)
          lg[t] -= s.bias[t];
      if (s.penalty != 1.0f)
        for (int64_t t : s.penalized)
          if (t >= 0 && t < V)
            lg[t] = lg[t] > 0 ? lg[t] / s.penalty : lg[t] * s.penalty;
      for (int64_t t : s.banned)
        lg[t] = -std::numeric_limits<float>::infinity();
      // Confidence: the largest softmax probability, 1 / sum exp(l - max).
      float mx = kernels::maxValue(lg, V);
      confidence[i] = 1.0f / kernels::sumExp(lg, V, mx);
    }
    return okStatus();
  }

  Status argmax(const float *logits, int64_t rows, int64_t V,
                int64_t *out) override {
    for (int64_t i = 0; i < rows; ++i)
      out[i] = kernels::argMax(logits + i * V, V);
    return okStatus();
  }

protected:
  StatusOr<float *> allocateRaw(int64_t n) override {
    // 64-byte aligned, zeroed; 2 MiB and more on huge pages where the
    // kernel allows (one fault per 2 MiB).
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t want = static_cast<size_t>(n) * sizeof(float);
    const size_t align = want >= kHuge ? kHuge : 64;
    const size_t bytes = (want + align - 1) / align * align;
    void *p = std::aligned_alloc(align, bytes);
    if (!p)
      return makeError(StatusCode::kUnavailable, "cpu device: cannot "
                       "allocate ", bytes, " bytes");
#if defined(MADV_HUGEPAGE)
    if (align == kHuge)
      madvise(p, bytes, MADV_HUGEPAGE);
#endif
    std::memset(p, 0, bytes);
    return static_cast<float *>(p);
  }
  void release(float *data) override { std::free(data); }
};

Status CpuDevice::knownHead(const KnownHeadSpec &k, const float *hidden,
                            int64_t M, int64_t pos0,
                            const WeightIntervention *iv,
                            const HeadRequest &request, float *features,
                            ForwardOutputs &out) {
  const int64_t D = k.width, C = k.nConcepts;
  std::vector<float> logits(M * C);
  STEER_RETURN_IF_ERROR(
      linearRows(hidden, M, D, k.predictor, C, logits.data(), C));
  for (float &v : logits)
    v = clamp15(v);

  const bool intervene = iv && iv->active();
  const bool dense = intervene || request.denseWeights;
  const std::optional<int64_t> topkW = k.topk;

  // Dense weights as the reference's _compute_weights: top-k over the
  // weights (or over the logits, then sigmoid of the sparse logits), then
  // the overrides.
  std::vector<float> weights;
  // Rows are independent: the per-row loops below run on every thread
  // (each value is the same whichever thread computes it).
  const int nt = M * C >= (int64_t(1) << 14) ? kernels::threads() : 1;
  if (dense) {
    weights.assign(M * C, 0.0f);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < M; ++i) {
      std::vector<int64_t> sel;
      const float *lg = &logits[i * C];
      float *w = &weights[i * C];
      if (!topkW) {
        for (int64_t j = 0; j < C; ++j)
          w[j] = sigmoid(lg[j]);
      } else {
        const int64_t kk = std::min(*topkW, C);
        sel.resize(kk);
        std::vector<float> rank(C);
        for (int64_t j = 0; j < C; ++j)
          rank[j] = k.topkOnLogits ? lg[j] : sigmoid(lg[j]);
        topk(rank.data(), C, kk, sel.data());
        if (k.topkOnLogits) {
          // Entries outside the top-k become logit 0, i.e. weight 0.5.
          for (int64_t j = 0; j < C; ++j)
            w[j] = 0.5f;
          for (int64_t s : sel)
            w[s] = sigmoid(lg[s]);
        } else {
          for (int64_t s : sel)
            w[s] = rank[s];
        }
      }
    }
    if (intervene) {
      for (int64_t i = 0; i < M; ++i) {
        if (!iv->lists(pos0 + i))
          continue;
        if (static_cast<int64_t>(iv->profile.size()) == C)
          std::copy(iv->profile.begin(), iv->profile.end(), &weights[i * C]);
        for (size_t t = 0; t < iv->concepts.size(); ++t) {
          const int64_t id = iv->concepts[t];
          if (id < 0 || id >= C)
            return makeError(StatusCode::kOutOfRange, "known head: "
                             "intervention concept ", id, " is outside [0, ",
                             C, ")");
          weights[i * C + id] = iv->values[t];
        }
      }
    }
    if (request.denseWeights)
      out.knownWeights = weights;
  }

  // Top-k used for features without interventions (and for attribution):
  // k = topk_known_features (else topk_known), ranked by weight or logit.
  const std::optional<int64_t> kf = k.topkFeatures ? k.topkFeatures : k.topk;
  const int64_t kk = kf ? std::min(*kf, C) : C;
  std::vector<int64_t> ids(M * kk);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    std::vector<float> rank(C);
    for (int64_t j = 0; j < C; ++j)
      rank[j] = k.topkOnLogits ? logits[i * C + j] : sigmoid(logits[i * C + j]);
    topk(rank.data(), C, kk, &ids[i * kk]);
  }

  std::vector<float> e(D);
  std::fill(features, features + M * D, 0.0f);
  if (intervene) {
    // Rows whose features the compiler folded take them as they are.
    std::vector<uint8_t> fixed(M, 0);
    if (static_cast<int64_t>(iv->features.size()) == D)
      for (int64_t i = 0; i < M; ++i)
        if (iv->lists(pos0 + i)) {
          fixed[i] = 1;
          std::copy(iv->features.begin(), iv->features.end(), features + i * D);
        }
    // Dense path: every non-zero weight mixes its embedding in.
    for (int64_t j = 0; j < C; ++j) {
      bool used = false;
      for (int64_t i = 0; i < M && !used; ++i)
        used = !fixed[i] && weights[i * C + j] != 0.0f;
      if (!used)
        continue;
      kernels::loadRow(ref(k.embedding), D, j, e.data());
      for (int64_t i = 0; i < M; ++i)
        if (float w = weights[i * C + j]; !fixed[i] && w != 0.0f)
          kernels::axpy(w, e.data(), features + i * D, D);
    }
  } else {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < M; ++i) {
      std::vector<float> row(D);
      for (int64_t t = 0; t < kk; ++t) {
        int64_t j = ids[i * kk + t];
        kernels::loadRow(ref(k.embedding), D, j, row.data());
        kernels::axpy(sigmoid(logits[i * C + j]), row.data(), features + i * D,
                      D);
      }
    }
  }

  if (request.topk) {
    // The concepts whose weights built the features, largest weight first:
    // the top-k_features list, or with an intervention every non-zero
    // weight (rows padded with id -1 and weight 0).
    std::vector<std::vector<int64_t>> rowsIds(M);
    int64_t width = 0;
    for (int64_t i = 0; i < M; ++i) {
      if (intervene) {
        for (int64_t j = 0; j < C; ++j)
          if (weights[i * C + j] != 0.0f)
            rowsIds[i].push_back(j);
        std::stable_sort(rowsIds[i].begin(), rowsIds[i].end(),
                         [&](int64_t a, int64_t b) {
                           return weights[i * C + a] > weights[i * C + b];
                         });
      } else {
        rowsIds[i].assign(&ids[i * kk], &ids[i * kk] + kk);
      }
      width = std::max<int64_t>(width, rowsIds[i].size());
    }
    out.knownTopk = width;
    out.knownTopkIds.assign(M * width, -1);
    out.knownTopkLogits.assign(M * width, 0.0f);
    out.knownTopkWeights.assign(M * width, 0.0f);
    for (int64_t i = 0; i < M; ++i)
      for (size_t t = 0; t < rowsIds[i].size(); ++t) {
        int64_t j = rowsIds[i][t];
        out.knownTopkIds[i * width + t] = j;
        out.knownTopkLogits[i * width + t] = logits[i * C + j];
        out.knownTopkWeights[i * width + t] =
            intervene ? weights[i * C + j] : sigmoid(logits[i * C + j]);
      }
  }
  return okStatus();
}

Status CpuDevice::unknownHead(const UnknownHeadSpec &k, const float *hidden,
                              int64_t M, const HeadRequest &request,
                              float *features, ForwardOutputs &out) {
  const int64_t D = k.width, C = k.nConcepts, r = k.rank;
  std::vector<float> hc(M * r), logits(M * C);
  STEER_RETURN_IF_ERROR(linearRows(hidden, M, D, k.down, r, hc.data(), r));
  STEER_RETURN_IF_ERROR(linearRows(hc.data(), M, r, k.up, C, logits.data(), C));
  for (float &v : logits)
    v = clamp15(v);
  const bool apply = k.topk && k.applyTopk;
  const int64_t kk = apply ? std::min(*k.topk, C) : C;
  std::vector<int64_t> ids(M * kk);
  // features = (sum_k w_k coef[idx_k]) . basis^T; rows are independent.
  std::vector<float> wc(M * r, 0.0f);
  const int nt = M * C >= (int64_t(1) << 14) ? kernels::threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    if (apply)
      topk(&logits[i * C], C, kk, &ids[i * kk]);
    else
      std::iota(&ids[i * kk], &ids[i * kk] + kk, 0);
    std::vector<float> coef(r);
    for (int64_t t = 0; t < kk; ++t) {
      int64_t j = ids[i * kk + t];
      kernels::loadRow(ref(k.coef), r, j, coef.data());
      kernels::axpy(sigmoid(logits[i * C + j]), coef.data(), &wc[i * r], r);
    }
  }
  STEER_RETURN_IF_ERROR(linearRows(wc.data(), M, r, k.basis, D, features, D));
  if (request.topk) {
    out.unknownTopk = kk;
    out.unknownTopkIds = ids;
    out.unknownTopkLogits.resize(M * kk);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t t = 0; t < kk; ++t)
        out.unknownTopkLogits[i * kk + t] = logits[i * C + ids[i * kk + t]];
  }
  return okStatus();
}

} // namespace

StatusOr<std::unique_ptr<Device>> createCpuDevice() {
  // An invalid STEER_ISA is an error here, before any kernel runs; the
  // kernels themselves would fall back to the widest path.
  STEER_RETURN_IF_ERROR(kernels::isaFromEnvironment().status());
  return std::unique_ptr<Device>(std::make_unique<CpuDevice>());
}

} // namespace steer::hal
