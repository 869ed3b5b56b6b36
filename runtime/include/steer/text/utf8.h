//===- utf8.h - UTF-8 validation --------------------------------*- C++ -*-===//
#pragma once

#include <cstddef>
#include <string_view>

namespace steer {

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code
/// points past U+10FFFF). On false, `badAt` is the offset of the first byte
/// of the offending sequence.
bool isValidUtf8(std::string_view s, size_t &badAt);

} // namespace steer
