//===- dtype.cpp - Element types of stored tensors ------------------------===//
#include "steer/base/dtype.h"

#include <array>
#include <utility>

namespace steer {
namespace {
constexpr std::array<std::pair<DType, std::string_view>, 5> kNames{{
    {DType::kF32, "F32"},
    {DType::kF16, "F16"},
    {DType::kBF16, "BF16"},
    {DType::kI64, "I64"},
    {DType::kI32, "I32"},
}};
} // namespace

std::string_view dtypeName(DType t) {
  for (auto [d, n] : kNames)
    if (d == t)
      return n;
  return "?";
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (auto [d, n] : kNames)
    if (n == name)
      return d;
  return std::nullopt;
}

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::kF32:
  case DType::kI32:
    return 4;
  case DType::kF16:
  case DType::kBF16:
    return 2;
  case DType::kI64:
    return 8;
  }
  return 0;
}

uint16_t floatToF16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t mant = x & 0x007fffff;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
  if (exp == 0xff) // Inf or NaN.
    return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) // Overflow to infinity.
    return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) { // Subnormal or zero in half precision.
    if (e < -10)
      return static_cast<uint16_t>(sign);
    mant |= 0x00800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // May carry into the exponent, which is the right rounding.
  return static_cast<uint16_t>(half);
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0)
      return std::bit_cast<float>(sign);
    // Subnormal: value = mant * 2^-24.
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 0x1f)
    return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

} // namespace steer
