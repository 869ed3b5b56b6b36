//===- cuda_driver.cpp - The CUDA driver, loaded at run time --------------===//
//
// Steer binaries never link libcuda: the driver is opened with dlopen when a
// GPU is asked for, and every entry point is looked up by name. A machine
// without the driver gets a clear kUnavailable, not a loader error at start.
// Every CUresult is checked and turned into a Status with the driver's name
// for the error.
//
//===----------------------------------------------------------------------===//
#include "steer/hal/device.h"

#include <dlfcn.h>

namespace steer::hal {
namespace {

// The few driver types and entry points used here, declared by hand so that
// the runtime builds without the CUDA toolkit's headers.
using CUresult = int;
using CUdevice = int;
constexpr CUresult kCudaSuccess = 0;
constexpr int kAttrComputeMajor = 75;
constexpr int kAttrComputeMinor = 76;

struct Driver {
  void *handle = nullptr;
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDriverGetVersion)(int *) = nullptr;
  CUresult (*cuDeviceGetCount)(int *) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
  CUresult (*cuDeviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t *, CUdevice) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char **) = nullptr;
};

template <typename F> Status lookup(void *handle, const char *symbol, F &fn) {
  fn = reinterpret_cast<F>(dlsym(handle, symbol));
  if (!fn)
    return makeError(StatusCode::kUnavailable, "the CUDA driver lacks ", symbol,
                     "; update the NVIDIA driver");
  return okStatus();
}

StatusOr<Driver> openDriver() {
  Driver d;
  d.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d.handle)
    return makeError(
        StatusCode::kUnavailable,
        "no CUDA driver (libcuda.so.1 could not be loaded: ", dlerror(), ")");
  STEER_RETURN_IF_ERROR(lookup(d.handle, "cuInit", d.cuInit));
  STEER_RETURN_IF_ERROR(
      lookup(d.handle, "cuDriverGetVersion", d.cuDriverGetVersion));
  STEER_RETURN_IF_ERROR(
      lookup(d.handle, "cuDeviceGetCount", d.cuDeviceGetCount));
  STEER_RETURN_IF_ERROR(lookup(d.handle, "cuDeviceGet", d.cuDeviceGet));
  STEER_RETURN_IF_ERROR(lookup(d.handle, "cuDeviceGetName", d.cuDeviceGetName));
  STEER_RETURN_IF_ERROR(
      lookup(d.handle, "cuDeviceTotalMem_v2", d.cuDeviceTotalMem));
  STEER_RETURN_IF_ERROR(
      lookup(d.handle, "cuDeviceGetAttribute", d.cuDeviceGetAttribute));
  STEER_RETURN_IF_ERROR(lookup(d.handle, "cuGetErrorName", d.cuGetErrorName));
  return d;
}

Status check(const Driver &d, CUresult r, const char *call) {
  if (r == kCudaSuccess)
    return okStatus();
  const char *name = nullptr;
  if (d.cuGetErrorName(r, &name) != kCudaSuccess || !name)
    name = "unknown CUDA error";
  return makeError(StatusCode::kUnavailable, call, " failed: ", name, " (", r,
                   ")");
}

} // namespace

StatusOr<std::vector<DeviceInfo>> probeCudaDevices() {
  STEER_ASSIGN_OR_RETURN(Driver d, openDriver());
  // The handle stays open for the life of the process: the driver keeps
  // state that must outlive every context created through it.
  STEER_RETURN_IF_ERROR(check(d, d.cuInit(0), "cuInit"));
  int version = 0, count = 0;
  STEER_RETURN_IF_ERROR(
      check(d, d.cuDriverGetVersion(&version), "cuDriverGetVersion"));
  STEER_RETURN_IF_ERROR(
      check(d, d.cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (count == 0)
    return makeError(StatusCode::kUnavailable,
                     "the CUDA driver is present but reports no device");
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    CUdevice dev = 0;
    STEER_RETURN_IF_ERROR(check(d, d.cuDeviceGet(&dev, i), "cuDeviceGet"));
    char name[256] = {0};
    STEER_RETURN_IF_ERROR(check(
        d, d.cuDeviceGetName(name, sizeof(name) - 1, dev), "cuDeviceGetName"));
    size_t mem = 0;
    STEER_RETURN_IF_ERROR(
        check(d, d.cuDeviceTotalMem(&mem, dev), "cuDeviceTotalMem"));
    int major = 0, minor = 0;
    STEER_RETURN_IF_ERROR(
        check(d, d.cuDeviceGetAttribute(&major, kAttrComputeMajor, dev),
              "cuDeviceGetAttribute"));
    STEER_RETURN_IF_ERROR(
        check(d, d.cuDeviceGetAttribute(&minor, kAttrComputeMinor, dev),
              "cuDeviceGetAttribute"));
    out.push_back({"cuda", name,
                   "sm_" + std::to_string(major) + std::to_string(minor) +
                       ", driver " + std::to_string(version / 1000) + "." +
                       std::to_string((version % 1000) / 10),
                   static_cast<uint64_t>(mem)});
  }
  return out;
}

} // namespace steer::hal
