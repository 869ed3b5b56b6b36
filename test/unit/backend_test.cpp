// Tests the CPU backend's linear kernel against a direct double-precision
// computation for every weight dtype, and that bad calls are errors.
#include "steer/backend/backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace steer {
namespace {

class CpuLinear : public testing::TestWithParam<DType> {};

TEST_P(CpuLinear, MatchesReference) {
  const DType wt = GetParam();
  const int64_t m = 5, k = 37, n = 130;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> x(m * k), wf(n * k);
  for (float &v : x)
    v = dist(rng);
  std::string wbytes(n * k * dtypeSize(wt), '\0');
  for (int64_t i = 0; i < n * k; ++i) {
    float v = dist(rng);
    if (wt == DType::kF32) {
      std::memcpy(&wbytes[4 * i], &v, 4);
    } else {
      uint16_t h = wt == DType::kBF16 ? floatToBf16(v) : floatToF16(v);
      std::memcpy(&wbytes[2 * i], &h, 2);
      v = wt == DType::kBF16 ? bf16ToFloat(h) : f16ToFloat(h);
    }
    wf[i] = v;
  }
  auto cpu = createCpuBackend(2);
  auto xb = cpu->allocate(x.size() * 4);
  auto wb = cpu->allocate(wbytes.size());
  auto yb = cpu->allocate(m * n * 4);
  ASSERT_TRUE(xb.ok() && wb.ok() && yb.ok());
  ASSERT_TRUE((*xb)->upload(0, x.data(), x.size() * 4).ok());
  ASSERT_TRUE((*wb)->upload(0, wbytes.data(), wbytes.size()).ok());
  ASSERT_TRUE(cpu->linear(**xb, **wb, wt, **yb, m, k, n).ok());
  std::vector<float> y(m * n);
  ASSERT_TRUE((*yb)->download(0, y.data(), y.size() * 4).ok());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0;
      for (int64_t t = 0; t < k; ++t)
        ref += double(x[i * k + t]) * wf[j * k + t];
      ASSERT_NEAR(y[i * n + j], ref, 1e-4 * (1 + std::abs(ref)))
          << i << "," << j;
    }
}

INSTANTIATE_TEST_SUITE_P(DTypes, CpuLinear,
                         testing::Values(DType::kF32, DType::kF16,
                                         DType::kBF16));

TEST(CpuBackend, RejectsShortBuffersAndBadDtype) {
  auto cpu = createCpuBackend(1);
  auto small = cpu->allocate(8);
  ASSERT_TRUE(small.ok());
  Status s = cpu->linear(**small, **small, DType::kF32, **small, 2, 2, 2);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(cpu->linear(**small, **small, DType::kI64, **small, 1, 1, 1).code(),
            StatusCode::kUnsupported);
  char buf[16];
  EXPECT_FALSE((*small)->upload(4, buf, 8).ok());
  EXPECT_FALSE((*small)->download(0, buf, 9).ok());
}

TEST(CpuBackend, DescribesItself) {
  DeviceInfo info = createCpuBackend(2)->device();
  EXPECT_EQ(info.backend, "cpu");
  EXPECT_NE(info.detail.find("2 threads"), std::string::npos);
}

TEST(CudaProbe, AnswersWithDevicesOrAReason) {
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
} // namespace steer
