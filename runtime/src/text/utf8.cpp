//===- utf8.cpp - UTF-8 validation and lossy repair -----------------------===//
#include "steer/text/utf8.h"
#include "steer/text/tokenizer.h"

#include <cstdint>
#include <cstdio>

namespace steer {
namespace {

/// Length of the sequence led by `c` and the allowed range of its second
/// byte (RFC 3629 / WHATWG); 0 for bytes that cannot lead.
struct Lead {
  int length;
  uint8_t lo, hi;
};

Lead lead(uint8_t c) {
  if (c < 0x80)
    return {1, 0, 0};
  if (c >= 0xc2 && c <= 0xdf)
    return {2, 0x80, 0xbf};
  if (c == 0xe0)
    return {3, 0xa0, 0xbf};
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
    return {3, 0x80, 0xbf};
  if (c == 0xed)
    return {3, 0x80, 0x9f};
  if (c == 0xf0)
    return {4, 0x90, 0xbf};
  if (c >= 0xf1 && c <= 0xf3)
    return {4, 0x80, 0xbf};
  if (c == 0xf4)
    return {4, 0x80, 0x8f};
  return {0, 0, 0};
}

/// Bytes of the valid prefix of the sequence at `i` (equal to the lead's
/// length when the sequence is complete and valid).
int validPrefix(std::string_view s, size_t i, const Lead &l) {
  int k = 1;
  for (; k < l.length; ++k) {
    if (i + k >= s.size())
      break;
    uint8_t c = static_cast<uint8_t>(s[i + k]);
    uint8_t lo = k == 1 ? l.lo : 0x80, hi = k == 1 ? l.hi : 0xbf;
    if (c < lo || c > hi)
      break;
  }
  return k;
}

/// Length of a character at `i` that changes how text around it reads:
/// a bidirectional override or isolate (U+202A..U+202E, U+2066..U+2069), a
/// line or paragraph separator (U+2028, U+2029), or a C1 control
/// (U+0080..U+009F, e.g. U+009B, a one-character CSI); else 0.
int bidiControl(std::string_view s, size_t i) {
  if (i + 1 < s.size() && static_cast<uint8_t>(s[i]) == 0xc2 &&
      static_cast<uint8_t>(s[i + 1]) >= 0x80 &&
      static_cast<uint8_t>(s[i + 1]) <= 0x9f)
    return 2;
  if (i + 2 >= s.size() || static_cast<uint8_t>(s[i]) != 0xe2)
    return 0;
  uint8_t b1 = static_cast<uint8_t>(s[i + 1]), b2 = static_cast<uint8_t>(s[i + 2]);
  return (b1 == 0x80 && b2 >= 0xa8 && b2 <= 0xae) ||
                 (b1 == 0x81 && b2 >= 0xa6 && b2 <= 0xa9)
             ? 3
             : 0;
}

bool isControl(uint8_t c, bool allowNewlines) {
  return (c < 0x20 || c == 0x7f) && !(allowNewlines && (c == '\n' || c == '\t'));
}

} // namespace

std::string displayText(std::string_view s, bool keepNewlines) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (int n = bidiControl(s, i)) {
      uint8_t b1 = static_cast<uint8_t>(s[i + 1]);
      unsigned cp = n == 2 ? b1
                           : ((0xe2 & 0x0f) << 12) | ((b1 & 0x3f) << 6) |
                                 (static_cast<uint8_t>(s[i + 2]) & 0x3f);
      char buf[16];
      std::snprintf(buf, sizeof(buf), "\\u{%04x}", cp);
      out += buf;
      i += n;
      continue;
    }
    if (isControl(c, keepNewlines)) {
      out += c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : "";
      if (c != '\n' && c != '\t' && c != '\r') {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
      ++i;
      continue;
    }
    Lead l = lead(c);
    if (l.length == 0 || validPrefix(s, i, l) != l.length) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    out.append(s.substr(i, l.length));
    i += l.length;
  }
  return out;
}

std::string unsafeTextReason(std::string_view s, bool allowNewlines) {
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (isControl(c, allowNewlines)) {
      char buf[96];
      std::snprintf(buf, sizeof(buf),
                    "holds the control character 0x%02x at byte %zu", c, i);
      return buf;
    }
    if (int n = bidiControl(s, i))
      return std::string(n == 2 ? "holds a C1 control character"
                                : "holds a bidirectional override or line "
                                  "separator") +
             " at byte " + std::to_string(i);
  }
  return {};
}

bool isValidUtf8(std::string_view s, size_t &badAt) {
  for (size_t i = 0; i < s.size();) {
    Lead l = lead(static_cast<uint8_t>(s[i]));
    if (l.length == 0 || validPrefix(s, i, l) != l.length) {
      badAt = i;
      return false;
    }
    i += l.length;
  }
  return true;
}

std::string utf8Lossy(std::string_view s) {
  static constexpr std::string_view kReplacement = "\xef\xbf\xbd";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    Lead l = lead(static_cast<uint8_t>(s[i]));
    if (l.length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    int k = validPrefix(s, i, l);
    if (k == l.length)
      out.append(s.substr(i, k));
    else
      out += kReplacement; // A maximal invalid subpart becomes one U+FFFD.
    i += k;
  }
  return out;
}

} // namespace steer
