// The conformance suite of the device layer (steer/hal/device.h): every op of
// every device this machine has, against plain scalar code written here
// (double precision where the op accumulates). A device passes it or it is
// not a device. Tolerances, relative to 1 + |reference|:
//   exact    embed (widening), add, compose, copy/upload/download, the
//            banned tokens and bias of the logit epilogue, argmax
//   1e-6     activations, inject (a fused multiply-add vs two roundings)
//   1e-5     rms_norm, RoPE/qk-norm prologue, attention, weighted row sum,
//            concept heads (sums over at most a few hundred products),
//            confidences
//   1e-4     linear (k = 37 products per output in f32 accumulation)
//   1e-4     gradient ops, against central differences (step 1e-6) of
//            double-precision scalar forwards written here
//            (d(dy . f(x)) / dx_i), and the linear layer's dy . W exactly in
//            double
// and the determinism contract: a row's value does not depend on how many
// rows the call had (bit-identical).
#include "steer/exec/engine.h"
#include "steer/exec/kernels.h"
#include "steer/hal/device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>

namespace steer::hal {
namespace {

/// The CPU device once per kernel path this CPU runs ("cpu_avx512",
/// "cpu_avx2", "cpu_portable", ...). The CUDA device joins this list when
/// it exists and a GPU is present.
std::vector<std::string> devicesHere() {
  std::vector<std::string> out;
  for (kernels::Isa isa : kernels::supportedIsas())
    out.push_back(std::string("cpu_") + kernels::isaName(isa));
  return out;
}

std::unique_ptr<Device> makeDevice(const std::string &name) {
  if (name.rfind("cpu_", 0) == 0) {
    auto isa = kernels::parseIsa(name.substr(4));
    if (!isa.ok())
      return nullptr;
    kernels::setActiveIsa(*isa);
    auto cpu = createCpuDevice();
    return cpu.ok() ? std::move(*cpu) : nullptr;
  }
  return nullptr;
}

/// Values of a weight in its stored dtype and as the device widens them.
struct TestWeight {
  std::string bytes;
  std::vector<float> widened;
  DType dtype = DType::kF32;
};

TestWeight randomWeight(int64_t n, DType dtype, std::mt19937 &rng,
                        float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  TestWeight w;
  w.dtype = dtype;
  w.bytes.assign(n * dtypeSize(dtype), '\0');
  for (int64_t i = 0; i < n; ++i) {
    float v = dist(rng);
    if (dtype == DType::kF32) {
      std::memcpy(&w.bytes[4 * i], &v, 4);
    } else {
      uint16_t h = dtype == DType::kBF16 ? floatToBf16(v) : floatToF16(v);
      std::memcpy(&w.bytes[2 * i], &h, 2);
      v = dtype == DType::kBF16 ? bf16ToFloat(h) : f16ToFloat(h);
    }
    w.widened.push_back(v);
  }
  return w;
}

std::vector<float> randomVector(int64_t n, std::mt19937 &rng,
                                float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

#define EXPECT_CLOSE(a, b, tol)                                                \
  EXPECT_NEAR((a), (b), (tol) * (1.0 + std::abs(double(b))))

class DeviceCts : public testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    dev_ = makeDevice(GetParam());
    ASSERT_NE(dev_, nullptr);
  }
  void TearDown() override {
    // Back to the path the environment chose for the tests that follow.
    kernels::setActiveIsa(kernels::defaultIsa());
  }
  /// Device memory holding `host`.
  Buffer put(const std::vector<float> &host) {
    auto b = dev_->allocate(static_cast<int64_t>(host.size()));
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(
        dev_->upload(host.data(), b->data(), static_cast<int64_t>(host.size()))
            .ok());
    return std::move(*b);
  }
  std::vector<float> get(const Buffer &b) {
    std::vector<float> host(b.size());
    EXPECT_TRUE(dev_->download(b.data(), host.data(), b.size()).ok());
    return host;
  }
  Weight bind(const TestWeight &w, int64_t rows, int64_t cols) {
    auto bound = dev_->bindWeight(w.bytes.data(), w.dtype, rows, cols);
    EXPECT_TRUE(bound.ok()) << bound.status().toString();
    return *bound;
  }
  /// A prologue spec with clip 2.5, random qk-norm gains and RoPE
  /// frequencies (base 10000) on this device.
  struct Prologue {
    std::vector<float> invFreq;
    Buffer freq;
    TestWeight qn, kn;
    QkvSpec spec;
  };
  Prologue prologue(int64_t nh, int64_t nkv, int64_t hd) {
    Prologue p;
    for (int64_t i = 0; i < hd; i += 2)
      p.invFreq.push_back(1.0f / std::pow(10000.0f, float(i) / float(hd)));
    p.freq = put(p.invFreq);
    p.qn = randomWeight(hd, DType::kF32, rng_);
    p.kn = randomWeight(hd, DType::kF32, rng_);
    p.spec.nHead = nh;
    p.spec.nKv = nkv;
    p.spec.headDim = hd;
    p.spec.clip = 2.5f;
    p.spec.qNorm = bind(p.qn, 1, hd);
    p.spec.kNorm = bind(p.kn, 1, hd);
    p.spec.invFreq = p.freq.data();
    return p;
  }
  std::unique_ptr<Device> dev_;
  std::mt19937 rng_{7};
};

TEST_P(DeviceCts, MemoryRoundTripsAndZeroes) {
  auto b = dev_->allocate(1000);
  ASSERT_TRUE(b.ok());
  std::vector<float> zero = get(*b);
  EXPECT_TRUE(std::all_of(zero.begin(), zero.end(),
                          [](float v) { return v == 0.0f; }));
  std::vector<float> v = randomVector(1000, rng_);
  Buffer a = put(v);
  auto c = dev_->allocate(1000);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(dev_->copy(a.data(), c->data(), 1000).ok());
  EXPECT_EQ(get(*c), v);
  EXPECT_FALSE(dev_->allocate(-1).ok());
}

TEST_P(DeviceCts, EmbedWidensRowsExactly) {
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    TestWeight t = randomWeight(50 * 24, dt, rng_);
    Weight w = bind(t, 50, 24);
    const std::vector<int64_t> ids = {3, 0, 49, 3};
    auto out = dev_->allocate(4 * 24);
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(dev_->embed(w, ids, out->data()).ok());
    std::vector<float> got = get(*out);
    for (size_t i = 0; i < ids.size(); ++i)
      for (int64_t d = 0; d < 24; ++d)
        EXPECT_EQ(got[i * 24 + d], t.widened[ids[i] * 24 + d]);
    const int64_t bad = 50;
    EXPECT_EQ(dev_->embed(w, std::span(&bad, 1), out->data()).code(),
              StatusCode::kOutOfRange);
  }
}

TEST_P(DeviceCts, LinearMatchesDoublePrecisionForEveryDtype) {
  const int64_t m = 5, k = 37, n = 130;
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    TestWeight t = randomWeight(n * k, dt, rng_);
    Weight w = bind(t, n, k);
    std::vector<float> xh = randomVector(m * k, rng_);
    Buffer x = put(xh);
    auto y = dev_->allocate(m * n);
    ASSERT_TRUE(y.ok());
    ASSERT_TRUE(dev_->linear(x.data(), m, k, w, y->data(), n).ok());
    std::vector<float> got = get(*y);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double ref = 0;
        for (int64_t t2 = 0; t2 < k; ++t2)
          ref += double(xh[i * k + t2]) * t.widened[j * k + t2];
        EXPECT_CLOSE(got[i * n + j], ref, 1e-4);
      }
    // Determinism: the last row alone gives the same bits.
    Buffer last = put(std::vector<float>(xh.end() - k, xh.end()));
    auto y1 = dev_->allocate(n);
    ASSERT_TRUE(y1.ok());
    ASSERT_TRUE(dev_->linear(last.data(), 1, k, w, y1->data(), n).ok());
    std::vector<float> one = get(*y1);
    EXPECT_TRUE(std::equal(one.begin(), one.end(), got.end() - n));
    // A weight of the wrong width is an error, not a read past it.
    EXPECT_FALSE(dev_->linear(x.data(), m, k + 1, w, y->data(), n).ok());
  }
}

TEST_P(DeviceCts, RmsNormAndAdd) {
  const int64_t rows = 3, d = 20, stride = 24;
  std::vector<float> xh = randomVector(rows * stride, rng_, 3.0f);
  TestWeight g = randomWeight(d, DType::kBF16, rng_);
  Buffer x = put(xh);
  ASSERT_TRUE(dev_->rmsNorm(x.data(), rows, d, stride, bind(g, 1, d), 1e-5).ok());
  std::vector<float> got = get(x);
  for (int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j)
      ss += double(xh[i * stride + j]) * xh[i * stride + j];
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int64_t j = 0; j < d; ++j)
      EXPECT_CLOSE(got[i * stride + j], xh[i * stride + j] * inv * g.widened[j],
                   1e-5);
    for (int64_t j = d; j < stride; ++j) // the gap between rows is untouched
      EXPECT_EQ(got[i * stride + j], xh[i * stride + j]);
  }
  std::vector<float> ah = randomVector(100, rng_), bh = randomVector(100, rng_);
  Buffer a = put(ah), b = put(bh);
  ASSERT_TRUE(dev_->add(a.data(), b.data(), 100).ok());
  std::vector<float> sum = get(a);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(sum[i], ah[i] + bh[i]);
}

TEST_P(DeviceCts, AttentionPrologueAndBlockCausalAttention) {
  const int64_t nh = 4, nkv = 2, hd = 8, D = nh * hd, kvDim = nkv * hd;
  const int64_t total = 10, block = 4, r0 = 3, m = total - r0;
  Prologue pro = prologue(nh, nkv, hd);
  const std::vector<float> &invFreq = pro.invFreq;
  const TestWeight &qn = pro.qn, &kn = pro.kn;
  const QkvSpec &spec = pro.spec;
  std::vector<float> qkvh = randomVector(m * (D + 2 * kvDim), rng_, 2.0f);
  // Rows [0, r0) of the cache hold earlier keys and values.
  std::vector<float> kh = randomVector(total * kvDim, rng_),
                     vh = randomVector(total * kvDim, rng_);
  Buffer qkv = put(qkvh), keys = put(kh), values = put(vh);
  auto q = dev_->allocate(m * D);
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(dev_->attentionPrologue(spec, qkv.data(), m, r0, q->data(),
                                      keys.data(), values.data())
                  .ok());
  // Scalar: clip, split, per-head RMSNorm, rotate-half RoPE.
  auto normRope = [&](std::vector<double> x, const TestWeight &g, int64_t pos) {
    double ss = 0;
    for (double v : x)
      ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / hd + 1e-5);
    for (int64_t j = 0; j < hd; ++j)
      x[j] = x[j] * inv * g.widened[j];
    std::vector<double> out(hd);
    for (int64_t j = 0; j < hd / 2; ++j) {
      const double a = pos * double(invFreq[j]);
      out[j] = x[j] * std::cos(a) - x[j + hd / 2] * std::sin(a);
      out[j + hd / 2] = x[j + hd / 2] * std::cos(a) + x[j] * std::sin(a);
    }
    return out;
  };
  std::vector<float> gotQ = get(*q), gotK = get(keys), gotV = get(values);
  std::vector<double> refK(kh.begin(), kh.end()), refV(vh.begin(), vh.end()),
      refQ(m * D);
  const int64_t width = D + 2 * kvDim;
  for (int64_t i = 0; i < m; ++i) {
    auto c = [&](int64_t j) {
      return std::min(2.5, std::max(-2.5, double(qkvh[i * width + j])));
    };
    for (int64_t h = 0; h < nh; ++h) {
      std::vector<double> x(hd);
      for (int64_t j = 0; j < hd; ++j)
        x[j] = c(h * hd + j);
      auto r = normRope(x, qn, r0 + i);
      std::copy(r.begin(), r.end(), &refQ[i * D + h * hd]);
    }
    for (int64_t h = 0; h < nkv; ++h) {
      std::vector<double> x(hd);
      for (int64_t j = 0; j < hd; ++j)
        x[j] = c(D + h * hd + j);
      auto r = normRope(x, kn, r0 + i);
      std::copy(r.begin(), r.end(), &refK[(r0 + i) * kvDim + h * hd]);
      for (int64_t j = 0; j < hd; ++j)
        refV[(r0 + i) * kvDim + h * hd + j] = c(D + kvDim + h * hd + j);
    }
  }
  for (size_t i = 0; i < refQ.size(); ++i)
    EXPECT_CLOSE(gotQ[i], refQ[i], 1e-5);
  for (size_t i = 0; i < refK.size(); ++i) {
    EXPECT_CLOSE(gotK[i], refK[i], 1e-5);
    EXPECT_CLOSE(gotV[i], refV[i], 1e-6);
  }

  auto out = dev_->allocate(m * D);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(dev_->attention(q->data(), keys.data(), values.data(), r0, total,
                              total, block, nh, nkv, hd, out->data())
                  .ok());
  std::vector<float> got = get(*out);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t pos = r0 + i, kEnd = std::min(total, (pos / block + 1) * block);
    for (int64_t h = 0; h < nh; ++h) {
      const int64_t g = h / (nh / nkv);
      std::vector<double> s(kEnd);
      double mx = -1e300;
      for (int64_t t = 0; t < kEnd; ++t) {
        double dot = 0;
        for (int64_t j = 0; j < hd; ++j)
          dot += double(gotQ[i * D + h * hd + j]) * gotK[t * kvDim + g * hd + j];
        s[t] = dot / std::sqrt(double(hd));
        mx = std::max(mx, s[t]);
      }
      double z = 0;
      for (double &v : s)
        z += (v = std::exp(v - mx));
      for (int64_t j = 0; j < hd; ++j) {
        double ref = 0;
        for (int64_t t = 0; t < kEnd; ++t)
          ref += s[t] / z * gotV[t * kvDim + g * hd + j];
        EXPECT_CLOSE(got[i * D + h * hd + j], ref, 1e-5);
      }
    }
  }
  EXPECT_FALSE(dev_->attention(q->data(), keys.data(), values.data(), 5, 3,
                               total, block, nh, nkv, hd, out->data())
                   .ok());
}

TEST_P(DeviceCts, MlpActivationsInjectAndWeightedRowSum) {
  const int64_t m = 3, h = 16;
  std::vector<float> fch = randomVector(m * 2 * h, rng_, 2.0f);
  Buffer fc = put(fch);
  auto act = dev_->allocate(m * h);
  ASSERT_TRUE(act.ok());
  ASSERT_TRUE(dev_->mlpActivation(fc.data(), m, h, MlpType::kSwiGLU,
                                  Activation::kSilu, act->data())
                  .ok());
  std::vector<float> got = get(*act);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < h; ++j) {
      double up = fch[i * 2 * h + j], gate = fch[i * 2 * h + h + j];
      EXPECT_CLOSE(got[i * h + j], gate * sig(gate) * up, 1e-6);
    }
  for (Activation a : {Activation::kRelu, Activation::kSilu, Activation::kGelu}) {
    ASSERT_TRUE(
        dev_->mlpActivation(fc.data(), m, h, MlpType::kStandard, a, act->data())
            .ok());
    got = get(*act);
    for (int64_t i = 0; i < m * h; ++i) {
      double x = fch[i], ref = a == Activation::kRelu   ? std::max(0.0, x)
                               : a == Activation::kSilu ? x * sig(x)
                                                        : 0.5 * x *
                                                              (1 + std::tanh(
                                                                       0.7978845608028654 *
                                                                       (x + 0.044715 * x * x * x)));
      EXPECT_CLOSE(got[i], ref, 1e-6);
    }
  }

  const int64_t d = 24;
  std::vector<float> xh = randomVector(4 * d, rng_), dir = randomVector(d, rng_);
  Buffer x = put(xh), db = put(dir);
  const uint8_t rows[] = {1, 0, 1, 0};
  ASSERT_TRUE(dev_->inject(x.data(), d, rows, 0.75f, db.data()).ok());
  got = get(x);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < d; ++j)
      EXPECT_CLOSE(got[i * d + j],
                   rows[i] ? xh[i * d + j] + 0.75 * dir[j] : xh[i * d + j],
                   1e-6);

  TestWeight table = randomWeight(30 * d, DType::kBF16, rng_);
  const std::vector<int64_t> ids = {4, 17, 29};
  const std::vector<float> ws = {0.5f, 1.0f, 0.25f};
  auto sum = dev_->allocate(d);
  ASSERT_TRUE(sum.ok());
  ASSERT_TRUE(
      dev_->weightedRowSum(bind(table, 30, d), ids, ws, sum->data()).ok());
  got = get(*sum);
  for (int64_t j = 0; j < d; ++j) {
    double ref = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      ref += ws[i] * double(table.widened[ids[i] * d + j]);
    EXPECT_CLOSE(got[j], ref, 1e-5);
  }
}

TEST_P(DeviceCts, ConceptHeadsAndCompose) {
  const int64_t D = 16, C = 24, rows = 3, topk = 5;
  TestWeight pred = randomWeight(C * D, DType::kBF16, rng_),
             emb = randomWeight(C * D, DType::kBF16, rng_);
  KnownHeadSpec ks;
  ks.predictor = bind(pred, C, D);
  ks.embedding = bind(emb, C, D);
  ks.nConcepts = C;
  ks.width = D;
  ks.topk = topk;
  std::vector<float> hh = randomVector(rows * D, rng_);
  Buffer hidden = put(hh);
  auto feats = dev_->allocate(rows * D);
  ASSERT_TRUE(feats.ok());
  HeadRequest req;
  req.denseWeights = true;
  req.topk = true;
  ForwardOutputs out;
  ASSERT_TRUE(
      dev_->knownHead(ks, hidden.data(), rows, 0, nullptr, req, feats->data(), out)
          .ok());
  std::vector<float> got = get(*feats);
  ASSERT_EQ(out.knownWeights.size(), size_t(rows * C));
  for (int64_t i = 0; i < rows; ++i) {
    // Scalar: clamp, sigmoid, top-5 by weight (ties to the lower id).
    std::vector<double> w(C);
    for (int64_t c = 0; c < C; ++c) {
      double l = 0;
      for (int64_t j = 0; j < D; ++j)
        l += double(hh[i * D + j]) * pred.widened[c * D + j];
      w[c] = sig(std::min(15.0, std::max(-15.0, l)));
    }
    std::vector<int64_t> idx(C);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int64_t a, int64_t b) { return w[a] > w[b]; });
    std::vector<double> feat(D, 0.0);
    for (int64_t t = 0; t < topk; ++t) {
      EXPECT_EQ(out.knownTopkIds[i * out.knownTopk + t], idx[t]);
      for (int64_t j = 0; j < D; ++j)
        feat[j] += w[idx[t]] * emb.widened[idx[t] * D + j];
    }
    for (int64_t c = 0; c < C; ++c) {
      const bool kept =
          std::find(idx.begin(), idx.begin() + topk, c) != idx.begin() + topk;
      EXPECT_CLOSE(out.knownWeights[i * C + c], kept ? w[c] : 0.0, 1e-5);
    }
    for (int64_t j = 0; j < D; ++j)
      EXPECT_CLOSE(got[i * D + j], feat[j], 1e-5);
  }

  // An intervention at position 1 only: the row becomes the profile with
  // concept 2 set to 1, and its features the dense sum of that row.
  WeightIntervention iv;
  iv.profile.assign(C, 0.0f);
  iv.profile[5] = 0.5f;
  iv.profile[7] = 0.25f;
  iv.concepts = {2};
  iv.values = {1.0f};
  iv.positions = {1};
  ForwardOutputs o2;
  ASSERT_TRUE(
      dev_->knownHead(ks, hidden.data(), rows, 0, &iv, req, feats->data(), o2)
          .ok());
  got = get(*feats);
  for (int64_t j = 0; j < D; ++j) {
    double ref = 1.0 * emb.widened[2 * D + j] + 0.5 * emb.widened[5 * D + j] +
                 0.25 * emb.widened[7 * D + j];
    EXPECT_CLOSE(got[1 * D + j], ref, 1e-5);
    EXPECT_EQ(o2.knownWeights[1 * C + 2], 1.0f);
  }
  iv.concepts = {C}; // outside the head: an error, never skipped
  EXPECT_FALSE(
      dev_->knownHead(ks, hidden.data(), rows, 0, &iv, req, feats->data(), o2)
          .ok());

  // The factorized unknown head.
  const int64_t U = 40, r = 6, uk = 7;
  TestWeight down = randomWeight(r * D, DType::kBF16, rng_),
             up = randomWeight(U * r, DType::kBF16, rng_),
             coef = randomWeight(U * r, DType::kBF16, rng_),
             basis = randomWeight(D * r, DType::kBF16, rng_);
  UnknownHeadSpec us;
  us.down = bind(down, r, D);
  us.up = bind(up, U, r);
  us.coef = bind(coef, U, r);
  us.basis = bind(basis, D, r);
  us.nConcepts = U;
  us.rank = r;
  us.width = D;
  us.topk = uk;
  us.applyTopk = true;
  auto uf = dev_->allocate(rows * D);
  ASSERT_TRUE(uf.ok());
  ForwardOutputs o3;
  ASSERT_TRUE(
      dev_->unknownHead(us, hidden.data(), rows, req, uf->data(), o3).ok());
  std::vector<float> gotU = get(*uf);
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<double> hc(r, 0.0), l(U, 0.0);
    for (int64_t a = 0; a < r; ++a)
      for (int64_t j = 0; j < D; ++j)
        hc[a] += double(hh[i * D + j]) * down.widened[a * D + j];
    for (int64_t c = 0; c < U; ++c) {
      for (int64_t a = 0; a < r; ++a)
        l[c] += hc[a] * up.widened[c * r + a];
      l[c] = std::min(15.0, std::max(-15.0, l[c]));
    }
    std::vector<int64_t> idx(U);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int64_t a, int64_t b) { return l[a] > l[b]; });
    std::vector<double> wc(r, 0.0);
    for (int64_t t = 0; t < uk; ++t) {
      EXPECT_EQ(o3.unknownTopkIds[i * uk + t], idx[t]);
      for (int64_t a = 0; a < r; ++a)
        wc[a] += sig(l[idx[t]]) * coef.widened[idx[t] * r + a];
    }
    for (int64_t j = 0; j < D; ++j) {
      double ref = 0;
      for (int64_t a = 0; a < r; ++a)
        ref += wc[a] * basis.widened[j * r + a];
      EXPECT_CLOSE(gotU[i * D + j], ref, 1e-5);
    }
  }

  // Compose, with and without epsilon, with and without an unknown head.
  std::vector<float> kh = get(*feats), uh = get(*uf);
  auto composed = dev_->allocate(rows * D), eps = dev_->allocate(rows * D);
  ASSERT_TRUE(composed.ok() && eps.ok());
  for (bool withEps : {true, false})
    for (bool withUnknown : {true, false}) {
      ASSERT_TRUE(dev_->compose(hidden.data(), feats->data(),
                                withUnknown ? uf->data() : nullptr, rows * D,
                                withEps, composed->data(), eps->data())
                      .ok());
      std::vector<float> c = get(*composed), e = get(*eps);
      for (int64_t i = 0; i < rows * D; ++i) {
        float forLm = withUnknown ? uh[i] : hh[i] - kh[i];
        float ep = withEps ? hh[i] - (forLm + kh[i]) : 0.0f;
        if (withEps)
          forLm = forLm + ep;
        EXPECT_EQ(e[i], ep);
        EXPECT_EQ(c[i], forLm + kh[i]);
      }
    }
}

TEST_P(DeviceCts, LogitEpilogue) {
  const int64_t rows = 2, V = 300;
  std::vector<float> lh = randomVector(rows * V, rng_, 3.0f),
                     bias = randomVector(V, rng_);
  for (float &b : bias)
    b = std::abs(b);
  Buffer logits = put(lh), bb = put(bias);
  const std::vector<int64_t> penalized = {1, 5, 7, 200};
  const std::vector<int64_t> banned = {0, 299};
  EpilogueSpec spec;
  spec.bias = bb.data();
  spec.penalized = penalized;
  spec.penalty = 1.3f;
  spec.banned = banned;
  std::vector<float> conf(rows);
  ASSERT_TRUE(
      dev_->logitEpilogue(logits.data(), rows, V, spec, conf.data()).ok());
  std::vector<float> got = get(logits);
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<float> ref(lh.begin() + i * V, lh.begin() + (i + 1) * V);
    for (int64_t t = 0; t < V; ++t)
      ref[t] -= bias[t];
    for (int64_t t : penalized)
      ref[t] = ref[t] > 0 ? ref[t] / 1.3f : ref[t] * 1.3f;
    for (int64_t t : banned)
      ref[t] = -INFINITY;
    double mx = *std::max_element(ref.begin(), ref.end()), z = 0;
    for (int64_t t = 0; t < V; ++t) {
      EXPECT_EQ(got[i * V + t], ref[t]);
      z += std::exp(double(ref[t]) - mx);
    }
    EXPECT_CLOSE(conf[i], 1.0 / z, 1e-5);
  }
  // Greedy decoding: each row's first largest logit.
  std::vector<float> ties = {1.0f, 3.0f, 3.0f, -2.0f, 0.5f, 0.5f};
  Buffer tb = put(ties);
  int64_t best[2];
  ASSERT_TRUE(dev_->argmax(tb.data(), 2, 3, best).ok());
  EXPECT_EQ(best[0], 1);
  EXPECT_EQ(best[1], 1);

  const int64_t outside = V;
  spec.banned = std::span(&outside, 1);
  EXPECT_FALSE(
      dev_->logitEpilogue(logits.data(), rows, V, spec, conf.data()).ok());
}

// ---- Gradient ops --------------------------------------------------------

/// d(dy . f(x)) / dx by central differences of a double-precision forward.
std::vector<double>
numericGradient(const std::function<std::vector<double>(const std::vector<double> &)> &f,
                const std::vector<float> &x, const std::vector<float> &dy) {
  std::vector<double> xd(x.begin(), x.end()), g(x.size());
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = xd[i];
    xd[i] = keep + h;
    std::vector<double> fp = f(xd);
    xd[i] = keep - h;
    std::vector<double> fm = f(xd);
    xd[i] = keep;
    double s = 0;
    for (size_t j = 0; j < fp.size(); ++j)
      s += double(dy[j]) * (fp[j] - fm[j]);
    g[i] = s / (2 * h);
  }
  return g;
}

std::vector<double> rmsNormD(const std::vector<double> &x, int64_t rows,
                             int64_t d, const std::vector<float> &gain) {
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < rows; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j)
      ss += x[i * d + j] * x[i * d + j];
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int64_t j = 0; j < d; ++j)
      y[i * d + j] = x[i * d + j] * inv * gain[j];
  }
  return y;
}

TEST_P(DeviceCts, LinearAndRmsNormBackward) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const int64_t m = 5, n = 37, k = 70;
    TestWeight w = randomWeight(n * k, dt, rng_);
    std::vector<float> dy = randomVector(m * n, rng_);
    Buffer dyb = put(dy);
    auto dx = dev_->allocate(m * k);
    ASSERT_TRUE(dx.ok());
    ASSERT_TRUE(dev_->linearBackward(dyb.data(), m, bind(w, n, k), dx->data()).ok());
    std::vector<float> got = get(*dx);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) {
        double ref = 0;
        for (int64_t o = 0; o < n; ++o)
          ref += double(dy[i * n + o]) * w.widened[o * k + j];
        EXPECT_CLOSE(got[i * k + j], ref, 1e-4);
      }
  }
  const int64_t rows = 3, d = 20;
  TestWeight g = randomWeight(d, DType::kBF16, rng_);
  std::vector<float> x = randomVector(rows * d, rng_, 2.0f),
                     dy = randomVector(rows * d, rng_);
  Buffer xb = put(x), dyb = put(dy);
  auto dx = dev_->allocate(rows * d);
  ASSERT_TRUE(dx.ok());
  ASSERT_TRUE(dev_->rmsNormBackward(xb.data(), dyb.data(), rows, d,
                                    bind(g, 1, d), 1e-5, dx->data())
                  .ok());
  std::vector<float> got = get(*dx);
  std::vector<double> ref = numericGradient(
      [&](const std::vector<double> &v) { return rmsNormD(v, rows, d, g.widened); },
      x, dy);
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_CLOSE(got[i], ref[i], 1e-4);
}

TEST_P(DeviceCts, AttentionBackward) {
  const int64_t nh = 4, nkv = 2, hd = 8, D = nh * hd, kvDim = nkv * hd;
  const int64_t rows = 10, block = 4;
  // The prologue over rows [0, rows): clip (values both inside and past
  // it), per-head RMSNorm, RoPE.
  Prologue pro = prologue(nh, nkv, hd);
  const std::vector<float> &invFreq = pro.invFreq;
  const TestWeight &qn = pro.qn, &kn = pro.kn;
  const QkvSpec &spec = pro.spec;
  const int64_t width = D + 2 * kvDim;
  std::vector<float> qkv = randomVector(rows * width, rng_, 2.0f);
  for (float &v : qkv) // no value within the difference step of the clip
    if (std::abs(std::abs(v) - 2.5f) < 1e-3f)
      v = 0.5f;
  auto prologue = [&](const std::vector<double> &in) {
    std::vector<double> out(rows * width);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t h = 0; h < nh + 2 * nkv; ++h) {
        std::vector<double> x(hd);
        for (int64_t j = 0; j < hd; ++j)
          x[j] = std::min(2.5, std::max(-2.5, in[i * width + h * hd + j]));
        if (h < nh + nkv) { // queries, then keys: norm and rotate
          const TestWeight &g = h < nh ? qn : kn;
          double ss = 0;
          for (double v : x)
            ss += v * v;
          const double inv = 1.0 / std::sqrt(ss / hd + 1e-5);
          std::vector<double> y(hd);
          for (int64_t j = 0; j < hd; ++j)
            y[j] = x[j] * inv * g.widened[j];
          for (int64_t j = 0; j < hd / 2; ++j) {
            const double a = i * double(invFreq[j]);
            x[j] = y[j] * std::cos(a) - y[j + hd / 2] * std::sin(a);
            x[j + hd / 2] = y[j + hd / 2] * std::cos(a) + y[j] * std::sin(a);
          }
        }
        std::copy(x.begin(), x.end(), &out[i * width + h * hd]);
      }
    return out;
  };
  std::vector<float> dq = randomVector(rows * D, rng_),
                     dk = randomVector(rows * kvDim, rng_),
                     dv = randomVector(rows * kvDim, rng_);
  Buffer qkvb = put(qkv), dqb = put(dq), dkb = put(dk), dvb = put(dv);
  auto dqkv = dev_->allocate(rows * width);
  ASSERT_TRUE(dqkv.ok());
  ASSERT_TRUE(dev_->attentionPrologueBackward(spec, qkvb.data(), rows, dqb.data(),
                                              dkb.data(), dvb.data(),
                                              dqkv->data())
                  .ok());
  std::vector<float> dyAll(rows * width);
  for (int64_t i = 0; i < rows; ++i) {
    std::copy_n(&dq[i * D], D, &dyAll[i * width]);
    std::copy_n(&dk[i * kvDim], kvDim, &dyAll[i * width + D]);
    std::copy_n(&dv[i * kvDim], kvDim, &dyAll[i * width + D + kvDim]);
  }
  std::vector<float> got = get(*dqkv);
  std::vector<double> ref = numericGradient(prologue, qkv, dyAll);
  int clipped = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_CLOSE(got[i], ref[i], 1e-4) << "qkv value " << i;
    clipped += std::abs(qkv[i]) > 2.5f;
  }
  EXPECT_GT(clipped, 0); // the clip's zero gradient was exercised

  // Attention over q, k, v, block-causal.
  std::vector<float> q = randomVector(rows * D, rng_),
                     k = randomVector(rows * kvDim, rng_),
                     v = randomVector(rows * kvDim, rng_),
                     dout = randomVector(rows * D, rng_);
  auto attend = [&](const std::vector<double> &qd, const std::vector<double> &kd,
                    const std::vector<double> &vd) {
    std::vector<double> out(rows * D, 0.0);
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t kEnd = std::min(rows, (i / block + 1) * block);
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t g = h / (nh / nkv);
        std::vector<double> s(kEnd);
        double mx = -1e300;
        for (int64_t t = 0; t < kEnd; ++t) {
          double dot = 0;
          for (int64_t j = 0; j < hd; ++j)
            dot += qd[i * D + h * hd + j] * kd[t * kvDim + g * hd + j];
          s[t] = dot / std::sqrt(double(hd));
          mx = std::max(mx, s[t]);
        }
        double z = 0;
        for (double &x : s)
          z += (x = std::exp(x - mx));
        for (int64_t t = 0; t < kEnd; ++t)
          for (int64_t j = 0; j < hd; ++j)
            out[i * D + h * hd + j] += s[t] / z * vd[t * kvDim + g * hd + j];
      }
    }
    return out;
  };
  std::vector<double> qd(q.begin(), q.end()), kd(k.begin(), k.end()),
      vd(v.begin(), v.end());
  Buffer qb = put(q), kb = put(k), vb = put(v), doutb = put(dout);
  auto gq = dev_->allocate(rows * D), gk = dev_->allocate(rows * kvDim),
       gv = dev_->allocate(rows * kvDim);
  ASSERT_TRUE(gq.ok() && gk.ok() && gv.ok());
  ASSERT_TRUE(dev_->attentionBackward(qb.data(), kb.data(), vb.data(), rows,
                                      block, nh, nkv, hd, doutb.data(),
                                      gq->data(), gk->data(), gv->data())
                  .ok());
  std::vector<double> rq = numericGradient(
      [&](const std::vector<double> &x) { return attend(x, kd, vd); }, q, dout);
  std::vector<double> rk = numericGradient(
      [&](const std::vector<double> &x) { return attend(qd, x, vd); }, k, dout);
  std::vector<double> rv = numericGradient(
      [&](const std::vector<double> &x) { return attend(qd, kd, x); }, v, dout);
  std::vector<float> gotQ = get(*gq), gotK = get(*gk), gotV = get(*gv);
  for (size_t i = 0; i < rq.size(); ++i)
    EXPECT_CLOSE(gotQ[i], rq[i], 1e-4) << "dq " << i;
  for (size_t i = 0; i < rk.size(); ++i) {
    EXPECT_CLOSE(gotK[i], rk[i], 1e-4) << "dk " << i;
    EXPECT_CLOSE(gotV[i], rv[i], 1e-4) << "dv " << i;
  }
}

TEST_P(DeviceCts, MlpActivationBackward) {
  const int64_t m = 3, h = 16;
  for (int variant = 0; variant < 4; ++variant) {
    const bool swiglu = variant == 0;
    const Activation act = variant == 1   ? Activation::kGelu
                           : variant == 2 ? Activation::kRelu
                                          : Activation::kSilu;
    const int64_t width = swiglu ? 2 * h : h;
    std::vector<float> fc = randomVector(m * width, rng_, 2.0f);
    for (float &v : fc) // keep ReLU's kink out of the difference step
      if (std::abs(v) < 1e-3f)
        v = 0.25f;
    std::vector<float> dact = randomVector(m * h, rng_);
    Buffer fcb = put(fc), db = put(dact);
    auto dfc = dev_->allocate(m * width);
    ASSERT_TRUE(dfc.ok());
    ASSERT_TRUE(dev_->mlpActivationBackward(fcb.data(), m, h,
                                            swiglu ? MlpType::kSwiGLU
                                                   : MlpType::kStandard,
                                            act, db.data(), dfc->data())
                    .ok());
    auto f = [&](const std::vector<double> &x) {
      std::vector<double> out(m * h);
      auto silu = [](double g) { return g / (1.0 + std::exp(-g)); };
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < h; ++j) {
          const double a = x[i * width + j];
          if (swiglu) {
            out[i * h + j] = silu(x[i * width + h + j]) * a;
          } else if (act == Activation::kGelu) {
            const double c = std::sqrt(2.0 / M_PI);
            out[i * h + j] =
                0.5 * a * (1.0 + std::tanh(c * (a + 0.044715 * a * a * a)));
          } else if (act == Activation::kRelu) {
            out[i * h + j] = a > 0 ? a : 0;
          } else {
            out[i * h + j] = silu(a);
          }
        }
      return out;
    };
    std::vector<double> ref = numericGradient(f, fc, dact);
    std::vector<float> got = get(*dfc);
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_CLOSE(got[i], ref[i], 1e-4) << "variant " << variant << " " << i;
  }
}

TEST_P(DeviceCts, ConceptHeadsBackward) {
  const int64_t D = 16, C = 24, r = 6, rows = 2, k = 5;
  TestWeight pred = randomWeight(C * D, DType::kBF16, rng_, 0.3f),
             emb = randomWeight(C * D, DType::kBF16, rng_);
  KnownHeadSpec ks;
  ks.predictor = bind(pred, C, D);
  ks.embedding = bind(emb, C, D);
  ks.nConcepts = C;
  ks.width = D;
  std::vector<float> h = randomVector(rows * D, rng_), df = randomVector(rows * D, rng_);
  // A fixed selection per row (id -1: an empty slot), with its logits.
  std::vector<int64_t> ids = {3, 7, 0, 19, -1, 23, 1, 4, 9, 12};
  std::vector<float> logits(rows * k, 0.0f);
  auto knownLogit = [&](const std::vector<double> &x, int64_t i, int64_t c) {
    double l = 0;
    for (int64_t j = 0; j < D; ++j)
      l += x[i * D + j] * pred.widened[c * D + j];
    return std::min(15.0, std::max(-15.0, l));
  };
  std::vector<double> hd(h.begin(), h.end());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t t = 0; t < k; ++t)
      if (ids[i * k + t] >= 0)
        logits[i * k + t] = float(knownLogit(hd, i, ids[i * k + t]));
  Buffer dfb = put(df);
  std::vector<float> start = randomVector(rows * D, rng_); // dh accumulates
  Buffer dh = put(start);
  ASSERT_TRUE(dev_->knownHeadBackward(ks, rows, ids, logits, k, dfb.data(), dh.data()).ok());
  std::vector<double> ref = numericGradient(
      [&](const std::vector<double> &x) {
        std::vector<double> out(rows * D, 0.0);
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t t = 0; t < k; ++t)
            if (int64_t c = ids[i * k + t]; c >= 0)
              for (int64_t j = 0; j < D; ++j)
                out[i * D + j] += sig(knownLogit(x, i, c)) * emb.widened[c * D + j];
        return out;
      },
      h, df);
  std::vector<float> got = get(dh);
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_CLOSE(got[i], start[i] + ref[i], 1e-4) << "known " << i;

  UnknownHeadSpec us;
  TestWeight down = randomWeight(r * D, DType::kBF16, rng_, 0.5f),
             up = randomWeight(C * r, DType::kBF16, rng_, 0.5f),
             coef = randomWeight(C * r, DType::kBF16, rng_),
             basis = randomWeight(D * r, DType::kBF16, rng_);
  us.down = bind(down, r, D);
  us.up = bind(up, C, r);
  us.coef = bind(coef, C, r);
  us.basis = bind(basis, D, r);
  us.nConcepts = C;
  us.rank = r;
  us.width = D;
  auto unknownLogit = [&](const std::vector<double> &x, int64_t i, int64_t c) {
    double l = 0;
    for (int64_t a = 0; a < r; ++a) {
      double z = 0;
      for (int64_t j = 0; j < D; ++j)
        z += x[i * D + j] * down.widened[a * D + j];
      l += z * up.widened[c * r + a];
    }
    return std::min(15.0, std::max(-15.0, l));
  };
  std::vector<int64_t> uids = {2, 5, 11, 17, 20, 0, 6, 8, 13, 22};
  std::vector<float> ulogits(rows * k);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t t = 0; t < k; ++t)
      ulogits[i * k + t] = float(unknownLogit(hd, i, uids[i * k + t]));
  Buffer udh = put(start);
  ASSERT_TRUE(dev_->unknownHeadBackward(us, rows, uids, ulogits, k, dfb.data(), udh.data()).ok());
  std::vector<double> uref = numericGradient(
      [&](const std::vector<double> &x) {
        std::vector<double> out(rows * D, 0.0);
        for (int64_t i = 0; i < rows; ++i) {
          std::vector<double> wc(r, 0.0);
          for (int64_t t = 0; t < k; ++t) {
            const int64_t c = uids[i * k + t];
            const double w = sig(unknownLogit(x, i, c));
            for (int64_t a = 0; a < r; ++a)
              wc[a] += w * coef.widened[c * r + a];
          }
          for (int64_t j = 0; j < D; ++j)
            for (int64_t a = 0; a < r; ++a)
              out[i * D + j] += wc[a] * basis.widened[j * r + a];
        }
        return out;
      },
      h, df);
  std::vector<float> ugot = get(udh);
  for (size_t i = 0; i < uref.size(); ++i)
    EXPECT_CLOSE(ugot[i], start[i] + uref[i], 1e-4) << "unknown " << i;
  // Ids outside the head are refused, not read.
  std::vector<int64_t> bad = ids;
  bad[2] = C;
  EXPECT_FALSE(dev_->knownHeadBackward(ks, rows, bad, logits, k, dfb.data(), dh.data()).ok());
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceCts, testing::ValuesIn(devicesHere()),
                         [](const testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

TEST(DeviceInfo, CpuDescribesItselfAndCudaAnswersOrSaysWhy) {
  auto cpu = createCpuDevice();
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  DeviceInfo info = (*cpu)->info();
  EXPECT_EQ(info.backend, "cpu");
  EXPECT_NE(info.detail.find("threads"), std::string::npos);
  StatusOr<std::vector<DeviceInfo>> devices = probeCudaDevices();
  if (devices.ok()) {
    ASSERT_FALSE(devices->empty());
    EXPECT_EQ((*devices)[0].backend, "cuda");
    EXPECT_GT((*devices)[0].memoryBytes, 0u);
  } else {
    EXPECT_EQ(devices.status().code(), StatusCode::kUnavailable);
    EXPECT_FALSE(devices.status().message().empty());
  }
}

} // namespace
} // namespace steer::hal
