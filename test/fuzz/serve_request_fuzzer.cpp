// libFuzzer target: steer-serve's request reader must refuse any body with
// an error naming a status (no crash, no hang on deep nesting), and what it
// accepts must hold what the server relies on.
#include "../../tools/steer-serve/api.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view body(reinterpret_cast<const char *>(data), size);
  for (bool chat : {false, true}) {
    steer::serve::CompletionRequest r;
    auto error = steer::serve::parseCompletionRequest(body, chat, r);
    if (error) {
      if (error->status < 400 || error->status > 499 || error->message.empty())
        __builtin_trap();
      (void)steer::serve::jsonText(error->toJson());
      continue;
    }
    if (r.maxTokens && (*r.maxTokens < 1 || *r.maxTokens > INT32_MAX))
      __builtin_trap();
    if (r.steps && *r.steps < 1)
      __builtin_trap();
    if (r.stop.size() > 4)
      __builtin_trap();
    for (const std::string &s : r.stop)
      if (s.empty())
        __builtin_trap();
    if (r.temperature && !(*r.temperature >= 0 && *r.temperature <= 100))
      __builtin_trap();
    if (r.topP && !(*r.topP >= 0 && *r.topP <= 1))
      __builtin_trap();
    if (chat && (r.messages.empty() || r.messages.back().role != "user"))
      __builtin_trap();
    if (!chat && !r.promptIds && r.prompt.size() > size)
      __builtin_trap();
  }
  return 0;
}
