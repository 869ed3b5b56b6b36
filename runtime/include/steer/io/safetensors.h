//===- safetensors.h - Zero-copy .safetensors reader ------------*- C++ -*-===//
//
// The format: bytes [0, 8) hold N, the header length, as a little-endian
// u64; bytes [8, 8 + N) hold a UTF-8 JSON object mapping tensor names to
// {"dtype", "shape", "data_offsets": [begin, end]} (plus an optional
// "__metadata__" object of strings); tensor bytes follow from 8 + N, each at
// [8 + N + begin, 8 + N + end).
//
// The file is memory-mapped; tensors are views into the map, never copied.
// Opening checks everything a malformed or malicious file could get wrong
// (sizes, offsets, overlaps, dtype x shape) and names the file, the tensor
// and the problem.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"
#include "steer/io/file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace steer {

/// A tensor inside a mapped file. Valid while its SafetensorsFile lives.
struct TensorView {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;
  uint64_t bytes = 0;
  /// Offset of the first byte in the file (for diagnostics and benchmarks).
  uint64_t fileOffset = 0;
};

class SafetensorsFile {
public:
  /// Maps and validates `path`.
  static StatusOr<std::unique_ptr<SafetensorsFile>>
  open(const std::string &path);

  /// Validates an in-memory image; `path` names it in errors. The bytes must
  /// outlive the returned views (used by the fuzzer and tests).
  static StatusOr<std::map<std::string, TensorView>>
  parse(const uint8_t *data, uint64_t size, std::string_view path,
        std::map<std::string, std::string> *metadata = nullptr);

  const std::string &path() const { return file_.path(); }
  uint64_t fileSize() const { return file_.size(); }
  uint64_t headerBytes() const { return headerBytes_; }
  const std::map<std::string, TensorView> &tensors() const { return tensors_; }
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

  /// The tensor called `name`, or nullptr.
  const TensorView *find(const std::string &name) const;

private:
  MappedFile file_;
  uint64_t headerBytes_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// Headers larger than this are refused (the reference library's limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

} // namespace steer
