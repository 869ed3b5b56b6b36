// libFuzzer target: the safetensors header parser must return an error, never
// crash, read out of bounds or overflow, on any bytes.
#include "steer/io/safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto tensors = steer::SafetensorsFile::parse(data, size, "fuzz.safetensors");
  if (tensors.ok()) {
    // Every view must lie inside the input.
    for (auto &[name, view] : *tensors)
      if (view.data < data || view.data + view.bytes > data + size)
        __builtin_trap();
  }
  return 0;
}
