//===- backend.h - The interface every compute backend fills ----*- C++ -*-===//
//
// A backend owns device memory and runs the runtime's kernels on it. The CPU
// backend is always built. GPU backends are loaded at run time (the CUDA
// driver through dlopen), so one binary runs on machines with and without a
// GPU; a backend that cannot start returns kUnavailable with the reason.
//
// Kernels take weights in their stored element type (bf16 stays bf16) and
// accumulate in float32.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "steer/base/dtype.h"
#include "steer/base/status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace steer {

/// What a backend reports about one device it can run on.
struct DeviceInfo {
  std::string backend;      // "cpu", "cuda"
  std::string name;         // "Intel Xeon ...", "NVIDIA H100 80GB HBM3"
  std::string detail;       // "2 threads, avx2 fma", "sm_90, driver 13.0"
  uint64_t memoryBytes = 0; // 0 when unknown
};

/// Memory owned by a backend. Destroying it frees the memory; it must not
/// outlive the backend that made it.
class Buffer {
public:
  virtual ~Buffer() = default;
  virtual uint64_t size() const = 0;
  virtual Status upload(uint64_t offset, const void *src, uint64_t bytes) = 0;
  virtual Status download(uint64_t offset, void *dst, uint64_t bytes) const = 0;
};

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual DeviceInfo device() const = 0;

  virtual StatusOr<std::unique_ptr<Buffer>> allocate(uint64_t bytes) = 0;

  /// y[m, n] = x[m, k] . w[n, k]^T: the PyTorch Linear layout, the weight
  /// in `wType` (f32, f16 or bf16), x and y in float32. All three live in
  /// buffers of this backend.
  virtual Status linear(const Buffer &x, const Buffer &w, DType wType,
                        Buffer &y, int64_t m, int64_t k, int64_t n) = 0;
};

/// The CPU backend (threads = 0: one per core).
std::unique_ptr<Backend> createCpuBackend(int threads = 0);

/// Probes the CUDA driver (libcuda.so.1) at run time and lists its devices.
/// kUnavailable, with the reason, when there is no driver or no device.
StatusOr<std::vector<DeviceInfo>> probeCudaDevices();

} // namespace steer
