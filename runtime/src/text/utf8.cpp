//===- utf8.cpp - UTF-8 validation and lossy repair -----------------------===//
#include "steer/text/utf8.h"
#include "steer/text/tokenizer.h"

#include <cstdint>

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

} // namespace

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
