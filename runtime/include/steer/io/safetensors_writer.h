//===- safetensors_writer.h - Writing .safetensors files --------*- C++ -*-===//
//
// Writes the safetensors format: an 8-byte little-endian header length, a
// JSON header mapping each tensor name to {dtype, shape, data_offsets} (plus
// an optional "__metadata__" string map), then the tensor bytes back to back.
// Tensors are written in name order so that the same inputs give the same
// bytes; the header is padded with spaces to a multiple of 8 bytes so that the
// data section starts aligned.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace steer {

class SafetensorsWriter {
public:
  /// Adds a tensor; `bytes` must hold numElements(shape) * dtypeSize(dtype)
  /// bytes. The writer keeps its own copy.
  Status add(const std::string &name, DType dtype, std::vector<int64_t> shape,
             std::string bytes);
  void setMetadata(const std::string &key, const std::string &value) {
    metadata_[key] = value;
  }
  /// Writes everything to `path` atomically (no partial file on failure).
  Status write(const std::string &path) const;
  /// Total bytes of tensor data added so far.
  uint64_t dataBytes() const { return dataBytes_; }

private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
  uint64_t dataBytes_ = 0;
};

} // namespace steer
