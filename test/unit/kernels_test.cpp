// Tests the CPU kernels against direct double-precision computations:
// linear for every weight dtype and shapes off the tile sizes, the
// softmax denominator, and that a row's value does not depend on how many
// rows are computed with it (what makes cached generation exact).
#include "steer/exec/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace steer::kernels {
namespace {

struct Shape {
  int64_t m, k, n;
  DType dtype;
};

class Linear : public testing::TestWithParam<Shape> {};

TEST_P(Linear, MatchesDoublePrecision) {
  const Shape s = GetParam();
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
}

INSTANTIATE_TEST_SUITE_P(Shapes, Linear,
                         testing::Values(Shape{1, 64, 9, DType::kBF16},
                                         Shape{5, 96, 33, DType::kBF16},
                                         Shape{17, 128, 70, DType::kBF16},
                                         Shape{33, 768, 100, DType::kBF16},
                                         Shape{7, 37, 13, DType::kF32},
                                         Shape{20, 64, 64, DType::kF32},
                                         Shape{3, 80, 21, DType::kF16}));

TEST(SumExp, MatchesDouble) {
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
}

} // namespace
} // namespace steer::kernels
