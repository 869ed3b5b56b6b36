//===- dtype.h - Element types of stored tensors ----------------*- C++ -*-===//
//
// The element types Steer reads and writes, with their safetensors names and
// the bfloat16/float16 conversions. Weights stay in their stored type in
// memory; kernels widen to float32 as they load.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

namespace steer {

enum class DType { kF32, kF16, kBF16, kI64, kI32 };

/// "F32", "F16", "BF16", "I64", "I32" as written in safetensors headers.
std::string_view dtypeName(DType t);
std::optional<DType> dtypeFromName(std::string_view name);
size_t dtypeSize(DType t);

/// Round-to-nearest-even float32 -> bfloat16, NaN kept quiet.
inline uint16_t floatToBf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if (std::isnan(f))
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  uint32_t rounding = 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}
inline float bf16ToFloat(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

/// IEEE half <-> float32 (round to nearest even; subnormals handled).
uint16_t floatToF16(float f);
float f16ToFloat(uint16_t h);

} // namespace steer
