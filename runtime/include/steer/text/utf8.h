//===- utf8.h - UTF-8 validation --------------------------------*- C++ -*-===//
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace steer {

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code
/// points past U+10FFFF). On false, `badAt` is the offset of the first byte
/// of the offending sequence.
bool isValidUtf8(std::string_view s, size_t &badAt);

/// Text made safe to print in a review, a log or an error: control
/// characters (a NUL would cut a diff short, ANSI escapes restyle a
/// terminal), bytes that are not UTF-8 and bidirectional overrides (which
/// make text read other than it is) become visible escapes (\x1b,
/// \u{202e}); newlines and tabs stay when `keepNewlines`.
std::string displayText(std::string_view s, bool keepNewlines = true);

/// Why `s` cannot be a name or text shown in reviews (a control character
/// other than newline and tab when `allowNewlines`, or a bidirectional
/// override, with its byte offset); empty when it can.
std::string unsafeTextReason(std::string_view s, bool allowNewlines = true);

} // namespace steer
