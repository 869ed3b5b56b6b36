// libFuzzer target: the cl100k tokenizer must encode any text or refuse it,
// and valid UTF-8 must decode back to the same bytes (the round trip
// tiktoken guarantees); decoding arbitrary ids must never crash.
#include "steer/text/tokenizer.h"
#include "steer/text/utf8.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const auto tokenizer = [] {
    auto t = steer::Tokenizer::create(steer::TokenizerLayout::kBase);
    if (!t.ok())
      __builtin_trap();
    return std::move(*t);
  }();
  std::string_view text(reinterpret_cast<const char *>(data), size);
  auto ids = tokenizer->encode(text);
  size_t bad = 0;
  if (ids.ok() && steer::isValidUtf8(text, bad)) {
    std::vector<int64_t> wide(ids->begin(), ids->end());
    auto back = tokenizer->decode(wide);
    if (!back.ok() || *back != text)
      __builtin_trap();
  }
  // The same bytes read as token ids (any values, out of range included).
  std::vector<int64_t> raw(size / 4);
  for (size_t i = 0; i < raw.size(); ++i) {
    int32_t v;
    std::memcpy(&v, data + 4 * i, 4);
    raw[i] = v;
  }
  (void)tokenizer->decode(raw);
  return 0;
}
