// Tests the CPU kernels against direct double-precision computations:
// linear for every weight dtype and shapes off the tile sizes, the
// softmax denominator, and that a row's value does not depend on how many
// rows are computed with it (what makes cached generation exact).
#include "steer/exec/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>

namespace steer::kernels {
namespace {

struct Shape {
  int64_t m, k, n;
  DType dtype;
};

/// Runs a test on one kernel path and restores the default afterwards.
class OnPath {
public:
  explicit OnPath(Isa isa) { setActiveIsa(isa); }
  ~OnPath() { setActiveIsa(defaultIsa()); }
};

std::vector<Isa> pathsHere() { return supportedIsas(); }

std::string pathName(Isa isa) { return isaName(isa); }

class Linear : public testing::TestWithParam<std::tuple<Shape, Isa>> {};

TEST_P(Linear, MatchesDoublePrecision) {
  const Shape s = std::get<0>(GetParam());
  OnPath path(std::get<1>(GetParam()));
  ASSERT_EQ(activeIsa(), std::get<1>(GetParam()));
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  std::vector<float> x(s.m * s.k), wf(s.n * s.k);
  for (float &v : x)
    v = dist(rng);
  std::vector<uint8_t> wbytes(s.n * s.k * dtypeSize(s.dtype));
  for (int64_t i = 0; i < s.n * s.k; ++i) {
    float v = dist(rng) * 0.05f;
    if (s.dtype == DType::kF32) {
      std::memcpy(&wbytes[4 * i], &v, 4);
    } else {
      uint16_t h = s.dtype == DType::kBF16 ? floatToBf16(v) : floatToF16(v);
      std::memcpy(&wbytes[2 * i], &h, 2);
      v = s.dtype == DType::kBF16 ? bf16ToFloat(h) : f16ToFloat(h);
    }
    wf[i] = v;
  }
  std::vector<float> y(s.m * s.n);
  linear(x.data(), s.m, s.k, {wbytes.data(), s.dtype}, s.n, y.data(), s.n);
  double worst = 0;
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      double ref = 0, mag = 0;
      for (int64_t t = 0; t < s.k; ++t) {
        ref += double(x[i * s.k + t]) * wf[j * s.k + t];
        mag += std::abs(double(x[i * s.k + t]) * wf[j * s.k + t]);
      }
      worst = std::max(worst, std::abs(y[i * s.n + j] - ref) / mag);
    }
  // Relative to the sum of magnitudes: float32 accumulation (or bf16 hi/lo
  // splitting of x on AMX, 2^-16) stays well inside 1e-4.
  EXPECT_LT(worst, 1e-4);

  // Row independence: row 0 alone equals row 0 of the batch, bit for bit.
  std::vector<float> y1(s.n);
  linear(x.data(), 1, s.k, {wbytes.data(), s.dtype}, s.n, y1.data(), s.n);
  EXPECT_EQ(0, std::memcmp(y1.data(), y.data(), s.n * sizeof(float)));

  // Weights packed once (what the CPU device keeps) give the same bits as
  // weights packed for the call, with y written into a wider row stride.
  PackedWeights packed({wbytes.data(), s.dtype}, s.n, s.k);
  ASSERT_TRUE(packed.ok());
  const int64_t ldy = s.n + 3;
  std::vector<float> y2(s.m * ldy, -7.0f);
  linear(x.data(), s.m, s.k, {wbytes.data(), s.dtype}, s.n, y2.data(), ldy,
         &packed);
  for (int64_t i = 0; i < s.m; ++i) {
    EXPECT_EQ(0, std::memcmp(&y2[i * ldy], &y[i * s.n], s.n * sizeof(float)))
        << "row " << i;
    for (int64_t j = s.n; j < ldy; ++j)
      EXPECT_EQ(y2[i * ldy + j], -7.0f) << "wrote past column n";
  }
}

const Shape kShapes[] = {
    {1, 64, 9, DType::kBF16},   {5, 96, 33, DType::kBF16},
    {17, 128, 70, DType::kBF16}, {33, 768, 100, DType::kBF16},
    {75, 256, 1280, DType::kBF16}, {7, 37, 13, DType::kF32},
    {20, 64, 64, DType::kF32},  {3, 80, 21, DType::kF16},
    {9, 31, 47, DType::kF16}};

INSTANTIATE_TEST_SUITE_P(
    Shapes, Linear,
    testing::Combine(testing::ValuesIn(kShapes), testing::ValuesIn(pathsHere())),
    [](const testing::TestParamInfo<std::tuple<Shape, Isa>> &i) {
      const Shape &s = std::get<0>(i.param);
      return "m" + std::to_string(s.m) + "_k" + std::to_string(s.k) + "_n" +
             std::to_string(s.n) + "_" + std::string(dtypeName(s.dtype)) + "_" +
             pathName(std::get<1>(i.param));
    });

// Every output is one chain over k in order, whatever the tile or the
// row count: fused multiply-adds on the FMA paths (so the AVX2 and AVX-512
// paths agree bit for bit), a product then a sum on the portable path (no
// FMA in the baseline ISA). Checked bit for bit against that scalar model
// on every path this CPU runs; the shape (k not a multiple of 32) stays
// off the AMX tiles, so the amx path runs its AVX-512 vector kernel here.
class LinearChain : public testing::TestWithParam<Isa> {};

TEST_P(LinearChain, EveryOutputIsOneChainOverKInOrder) {
  OnPath path(GetParam());
  std::mt19937 rng(11);
  std::normal_distribution<float> dist;
  const int64_t m = 19, k = 300, n = 77;
  std::vector<float> x(m * k);
  std::vector<uint16_t> w(n * k);
  for (float &v : x)
    v = dist(rng);
  for (uint16_t &v : w)
    v = floatToBf16(dist(rng) * 0.05f);
  std::vector<float> y(m * n);
  linear(x.data(), m, k, {w.data(), DType::kBF16}, n, y.data(), n);
  const bool fused = GetParam() != Isa::kPortable;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t t = 0; t < k; ++t) {
        const float a = x[i * k + t], b = bf16ToFloat(w[j * k + t]);
        if (fused) {
          acc = std::fma(a, b, acc);
        } else {
          // Two roundings, as the portable kernel computes it.
          volatile float product = a * b;
          acc = acc + product;
        }
      }
      ASSERT_EQ(y[i * n + j], acc) << "row " << i << ", column " << j;
    }
}

INSTANTIATE_TEST_SUITE_P(Paths, LinearChain, testing::ValuesIn(pathsHere()),
                         [](const testing::TestParamInfo<Isa> &i) {
                           return pathName(i.param);
                         });

TEST(Isa, ParsesEveryPathAndRefusesOnesThisCpuLacks) {
  auto here = supportedIsas();
  ASSERT_FALSE(here.empty());
  EXPECT_EQ(here.back(), Isa::kPortable);
  for (Isa i : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2, Isa::kPortable}) {
    auto parsed = parseIsa(isaName(i));
    if (std::find(here.begin(), here.end(), i) != here.end()) {
      ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
      EXPECT_EQ(*parsed, i);
    } else {
      ASSERT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.status().code(), StatusCode::kUnsupported);
      EXPECT_NE(parsed.status().message().find("it runs: "),
                std::string::npos)
          << parsed.status().toString();
    }
  }
  auto bad = parseIsa("avx1024");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("amx, avx512, avx2, portable"),
            std::string::npos);
  // Case matters; an empty name is not a path (the environment's empty
  // value means "unset" in isaFromEnvironment, not here).
  EXPECT_FALSE(parseIsa("AVX2").ok());
  EXPECT_FALSE(parseIsa("").ok());
  EXPECT_FALSE(parseIsa("avx2 ").ok());
  // A huge or binary value is cut short and escaped in the message.
  auto huge = parseIsa(std::string(100000, 'a') + "\n");
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.status().message().size(), 300u);
  EXPECT_NE(huge.status().message().find("(100001 bytes)"), std::string::npos);
  auto binary = parseIsa(std::string("av\x01x\xff", 5));
  ASSERT_FALSE(binary.ok());
  EXPECT_NE(binary.status().message().find("STEER_ISA=av\\x01x\\xff:"),
            std::string::npos)
      << binary.status().message();
}

class Reductions : public testing::TestWithParam<Isa> {};

TEST_P(Reductions, SumExpMaxDotAxpyAndWidening) {
  OnPath path(GetParam());
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 6.0f);
  std::vector<float> v(100003);
  for (float &x : v)
    x = dist(rng);
  v[10] = -INFINITY;
  float mx = *std::max_element(v.begin(), v.end());
  double ref = 0;
  for (float x : v)
    ref += std::exp(double(x) - mx);
  EXPECT_NEAR(sumExp(v.data(), v.size(), mx), ref, 1e-5 * ref);
  EXPECT_EQ(maxValue(v.data(), v.size()), mx);
  EXPECT_EQ(argMax(v.data(), v.size()),
            std::max_element(v.begin(), v.end()) - v.begin());

  std::vector<float> a(1001), b(1001), y(1001, 1.0f);
  double dref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = dist(rng);
    b[i] = dist(rng);
    dref += double(a[i]) * b[i];
  }
  EXPECT_NEAR(dot(a.data(), b.data(), 1001), dref, 1e-4 * std::abs(dref) + 1e-3);
  axpy(0.5f, a.data(), y.data(), 1001);
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_EQ(y[i], 1.0f + 0.5f * a[i]);

  // Widening is exact for every dtype, f16 subnormals, infinities and
  // NaN included.
  const uint16_t halves[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00,
                             0xc000, 0x7bff, 0x7c00, 0xfc00, 0x3555, 0x1234,
                             0x8001, 0x5640, 0x0200, 0x7e00, 0x2e66};
  constexpr int64_t nh = sizeof(halves) / sizeof(halves[0]);
  std::vector<float> wide(nh);
  loadRow({halves, DType::kF16}, nh, 0, wide.data());
  for (int64_t i = 0; i < nh; ++i) {
    if (std::isnan(f16ToFloat(halves[i])))
      EXPECT_TRUE(std::isnan(wide[i]));
    else
      EXPECT_EQ(wide[i], f16ToFloat(halves[i])) << std::hex << halves[i];
  }
  loadRow({halves, DType::kBF16}, nh, 0, wide.data());
  for (int64_t i = 0; i < nh; ++i) {
    if (std::isnan(bf16ToFloat(halves[i])))
      EXPECT_TRUE(std::isnan(wide[i]));
    else
      EXPECT_EQ(wide[i], bf16ToFloat(halves[i])) << std::hex << halves[i];
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, Reductions, testing::ValuesIn(pathsHere()),
                         [](const testing::TestParamInfo<Isa> &i) {
                           return pathName(i.param);
                         });

} // namespace
} // namespace steer::kernels
