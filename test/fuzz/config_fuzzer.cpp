// libFuzzer target: config.json parsing must return a config or an error on
// any text, and an accepted config must survive a round trip.
#include "steer/model/config.h"
#include "steer/model/layout.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  auto config = steer::parseModelConfig(text, "fuzz.json");
  if (!config.ok())
    return 0;
  auto again = steer::parseModelConfig(steer::modelConfigToJson(*config), "rt");
  if (!again.ok())
    __builtin_trap();
  // Shapes derived from an accepted config must be well defined. Every
  // accepted size is bounded (config.h), so this is never skipped: a huge
  // size must be refused by the parser, not avoided here.
  (void)steer::expectedTensors(*config);
  return 0;
}
