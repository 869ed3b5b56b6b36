//===- cpu_backend.cpp - The CPU backend ----------------------------------===//
//
// Host memory and the CPU kernels of steer/exec/kernels.h behind the
// Backend interface a GPU backend will also fill.
//
//===----------------------------------------------------------------------===//
#include "steer/backend/backend.h"
#include "steer/exec/kernels.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace steer {
namespace {

class HostBuffer final : public Buffer {
public:
  explicit HostBuffer(uint64_t size) : data_(size) {}
  uint64_t size() const override { return data_.size(); }
  Status upload(uint64_t offset, const void *src, uint64_t bytes) override {
    if (offset > data_.size() || bytes > data_.size() - offset)
      return makeError(StatusCode::kOutOfRange, "upload of ", bytes,
                       " bytes at offset ", offset, " past a buffer of ",
                       data_.size());
    std::memcpy(data_.data() + offset, src, bytes);
    return okStatus();
  }
  Status download(uint64_t offset, void *dst, uint64_t bytes) const override {
    if (offset > data_.size() || bytes > data_.size() - offset)
      return makeError(StatusCode::kOutOfRange, "download of ", bytes,
                       " bytes at offset ", offset, " past a buffer of ",
                       data_.size());
    std::memcpy(dst, data_.data() + offset, bytes);
    return okStatus();
  }
  const uint8_t *data() const { return data_.data(); }
  uint8_t *data() { return data_.data(); }

private:
  std::vector<uint8_t> data_;
};

std::string cpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(int threads)
      : threads_(threads > 0 ? threads : kernels::threads()) {}

  std::string_view name() const override { return "cpu"; }

  DeviceInfo device() const override {
    std::string detail = std::to_string(threads_) + " threads";
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
      detail += ", avx2";
    if (__builtin_cpu_supports("fma"))
      detail += ", fma";
    if (__builtin_cpu_supports("avx512f"))
      detail += ", avx512f";
#endif
    return {"cpu", cpuModelName(), detail, 0};
  }

  StatusOr<std::unique_ptr<Buffer>> allocate(uint64_t bytes) override {
    return std::unique_ptr<Buffer>(std::make_unique<HostBuffer>(bytes));
  }

  Status linear(const Buffer &xb, const Buffer &wb, DType wType, Buffer &yb,
                int64_t m, int64_t k, int64_t n) override {
    auto *x = dynamic_cast<const HostBuffer *>(&xb);
    auto *w = dynamic_cast<const HostBuffer *>(&wb);
    auto *y = dynamic_cast<HostBuffer *>(&yb);
    if (!x || !w || !y)
      return makeError(StatusCode::kInvalidArgument,
                       "cpu linear: buffers must come from the cpu backend");
    if (m < 0 || k < 0 || n < 0)
      return makeError(StatusCode::kInvalidArgument,
                       "cpu linear: negative dimension");
    if (wType != DType::kF32 && wType != DType::kF16 && wType != DType::kBF16)
      return makeError(StatusCode::kUnsupported, "cpu linear: weight dtype ",
                       dtypeName(wType), " is not f32, f16 or bf16");
    auto need = [](const Buffer &b, uint64_t bytes, const char *what) {
      if (b.size() < bytes)
        return makeError(StatusCode::kOutOfRange, "cpu linear: ", what,
                         " buffer holds ", b.size(), " bytes, needs ", bytes);
      return okStatus();
    };
    STEER_RETURN_IF_ERROR(need(xb, uint64_t(m) * k * 4, "input"));
    STEER_RETURN_IF_ERROR(
        need(wb, uint64_t(n) * k * dtypeSize(wType), "weight"));
    STEER_RETURN_IF_ERROR(need(yb, uint64_t(m) * n * 4, "output"));

    // The same kernels the engine runs (vectorised, threaded).
    kernels::linear(reinterpret_cast<const float *>(x->data()), m, k,
                    {w->data(), wType}, n, reinterpret_cast<float *>(y->data()),
                    n);
    return okStatus();
  }

private:
  int threads_;
};

} // namespace

std::unique_ptr<Backend> createCpuBackend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

} // namespace steer
