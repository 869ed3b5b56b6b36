// Tests the bfloat16 and float16 conversions against known bit patterns.
#include "steer/base/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace steer {
namespace {

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtypeName(DType::kBF16), "BF16");
  EXPECT_EQ(dtypeFromName("F16"), DType::kF16);
  EXPECT_FALSE(dtypeFromName("F8_E4M3").has_value());
  EXPECT_EQ(dtypeSize(DType::kI64), 8u);
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(floatToBf16(-2.0f), 0xc000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // Just above halfway rounds up.
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            0x3f81);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
  EXPECT_EQ(bf16ToFloat(0x3f81), 1.0078125f);
}

TEST(DType, F16KnownValues) {
  EXPECT_EQ(floatToF16(1.0f), 0x3c00);
  EXPECT_EQ(floatToF16(-0.5f), 0xb800);
  EXPECT_EQ(floatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(floatToF16(1e6f), 0x7c00);                  // overflow -> inf
  EXPECT_EQ(floatToF16(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16ToFloat(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isinf(f16ToFloat(0x7c00)));
}

TEST(DType, F16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t v = static_cast<uint16_t>(h);
    float f = f16ToFloat(v);
    if (std::isnan(f))
      continue;
    ASSERT_EQ(floatToF16(f), v) << "half 0x" << std::hex << h;
  }
}

} // namespace
} // namespace steer
